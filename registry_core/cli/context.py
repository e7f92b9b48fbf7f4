"""What every command shares: the per-invocation state, the global options, output and typed errors.

Nothing here imports the registry or the database: ``registry --help`` must stay
fast, so the catalog is opened only when a command body asks for it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..errors import RegistryError

if TYPE_CHECKING:
    from ..registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

_JSON_KEY = "registry.json"


class CliState:
    """The global options of one invocation, and the registry they open (on first use)."""

    def __init__(self, db: str, artifacts: str, actor: str, as_json: bool) -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor
        self.as_json = as_json
        self._registry: Registry | None = None

    def registry(self, *, create: bool = True) -> Registry:
        if self._registry is None:
            from ..registry import Registry

            self._registry = Registry(self.db, self.artifacts, actor=self.actor, create=create)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()


def state(ctx: click.Context) -> CliState:
    """The invocation's :class:`CliState`, from any (sub)command's context."""
    found = ctx.find_root().obj
    assert isinstance(found, CliState)
    return found


def registry(ctx: click.Context, *, read_only: bool = False) -> Registry:
    """The registry the global options point at, opened on first use.

    A read-only command passes ``read_only``: a missing or empty catalog is then
    refused (one line, exit 1) instead of created in the working directory.
    """
    return state(ctx).registry(create=not read_only)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[_JSON_KEY] = True


def _set_global(attribute: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            setattr(ctx.find_root().obj, attribute, value)

    return callback


def common_options(func: F) -> F:
    """The global options, accepted after a subcommand too: ``registry approve m 1 --actor bob --json``."""
    for flag, attribute, metavar in (("--db", "db", "URL"), ("--artifacts", "artifacts", "ROOT"), ("--actor", "actor", "NAME")):
        func = click.option(
            flag, expose_value=False, metavar=metavar, callback=_set_global(attribute),
            help=f"Same as the global {flag}.", hidden=True,
        )(func)
    return click.option(
        "--json", "as_json", is_flag=True, expose_value=False, callback=_set_json,
        help="Print the result as JSON.",
    )(func)


def set_json(ctx: click.Context) -> None:
    """Make this invocation print JSON (the root's ``--json``)."""
    ctx.meta[_JSON_KEY] = True


def wants_json(ctx: click.Context) -> bool:
    return bool(ctx.find_root().meta.get(_JSON_KEY))


def emit(ctx: click.Context, value: Any, human: Callable[[], Iterable[str]]) -> None:
    """Print ``value`` as one JSON document with ``--json``, else the lines ``human()`` gives."""
    if wants_json(ctx):
        from ..records import dumps

        click.echo(dumps(value))
    else:
        for line in human():
            click.echo(line)


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped, so an error stays on one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def fail(ctx: click.Context, error: RegistryError) -> NoReturn:
    """Report a refusal as one line on stderr (JSON with ``--json``) and exit 1."""
    if wants_json(ctx):
        click.echo(json.dumps(error.to_dict(), sort_keys=True), err=True)
    else:
        click.echo(f"registry: error: {one_line(error.message)}", err=True)
    ctx.exit(1)
    raise AssertionError("unreachable")


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line and a pointer to ``--help`` (exit 2), instead of click's usage block."""

    def __init__(
        self, message: str, ctx: click.Context | None = None, *, as_json: bool = False, command: str = "registry"
    ) -> None:
        super().__init__(message, ctx)
        self.as_json = as_json
        self.command = ctx.command_path if ctx is not None else command

    @classmethod
    def of(cls, error: click.UsageError, *, parent: click.Context | None = None, as_json: bool = False) -> OneLineUsageError:
        """``error`` shown as one line; ``parent`` names the command when the error carries no context."""
        command = "registry"
        if parent is not None:
            command = " ".join(filter(None, (parent.command_path, parent.invoked_subcommand)))
        return cls(error.format_message(), error.ctx, as_json=as_json, command=command)

    def show(self, file: Any = None) -> None:
        # Named "registry" however the group was invoked (python -m, a test runner), like the "registry:" prefix.
        command = " ".join(["registry", *self.command.split()[1:]])
        if self.as_json:
            document = {"error": "usage", "message": self.message, "help": f"{command} --help"}
            click.echo(json.dumps(document, sort_keys=True), err=True)
        else:
            click.echo(f"registry: error: {one_line(self.message.rstrip('.'))}; see '{command} --help'", err=True)


def log_to_stderr(level: str) -> None:
    """Log the long-running commands' progress to stderr at ``level``."""
    import logging

    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
