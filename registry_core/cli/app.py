"""The ``registry`` command group: its global options, error handling and entry point."""

from __future__ import annotations

import importlib
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from ..config import (
    ACTOR_ENV,
    ARTIFACT_ROOT_ENV,
    DATABASE_URL_ENV,
    default_actor,
    default_artifact_root,
    default_database_url,
)
from ..errors import RegistryError
from .context import CliState, OneLineUsageError, fail, set_json, wants_json

#: The module (under registry_core.cli) that defines each command. A module is
#: imported only when one of its commands runs, or for the help listing, so that
#: ``registry show`` does not build the options of every other command.
COMMAND_MODULES = {
    "alias": "labels",
    "approve": "governance",
    "attach": "versions",
    "audit": "audit",
    "check": "governance",
    "db": "db",
    "delete": "versions",
    "describe": "labels",
    "download": "versions",
    "gc": "versions",
    "history": "audit",
    "identity": "identity",
    "models": "versions",
    "policy": "governance",
    "promote": "workflow",
    "register": "versions",
    "reject": "governance",
    "render": "renditions",
    "rollback": "workflow",
    "search": "search",
    "serve": "serve",
    "show": "versions",
    "tag": "labels",
    "transition": "workflow",
    "versions": "versions",
    "webhook": "webhooks",
}


class _RegistryGroup(click.Group):
    """Loads commands on first use; turns the registry's typed errors into one stderr line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = importlib.import_module(f".{COMMAND_MODULES[cmd_name]}", __package__)
            for command in module.COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except (OneLineUsageError, NoArgsIsHelpError):
            raise
        except click.UsageError as error:
            raise OneLineUsageError.of(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        # A subcommand's own --json counts for its usage errors too, though parsing it is what failed.
        given = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        subcommand_json = "--json" in given[: given.index("--")] if "--" in given else "--json" in given
        try:
            return super().invoke(ctx)
        except RegistryError as error:
            fail(ctx, error)
        except (OneLineUsageError, NoArgsIsHelpError):
            raise
        except click.UsageError as error:
            raise OneLineUsageError.of(error, parent=ctx, as_json=wants_json(ctx) or subcommand_json) from None
        finally:
            state = ctx.obj
            if isinstance(state, CliState):
                state.close()


@click.group(cls=_RegistryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", "db", envvar=DATABASE_URL_ENV, default=default_database_url, show_default="sqlite:///.registry/registry.db",
    metavar="URL", help=f"Catalog database URL (sqlite:///PATH or postgresql://...). Env: {DATABASE_URL_ENV}.",
)
@click.option(
    "--artifacts", "artifacts", envvar=ARTIFACT_ROOT_ENV, default=default_artifact_root,
    show_default=".registry/artifacts", metavar="ROOT", help=f"Artifact store root. Env: {ARTIFACT_ROOT_ENV}.",
)
@click.option(
    "--actor", "actor", envvar=ACTOR_ENV, default=default_actor, show_default="the OS user", metavar="NAME",
    help=f"Who is acting; recorded in the audit log. Env: {ACTOR_ENV}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results (and errors, on stderr) as JSON.")
@click.version_option(package_name="dagster-model-registry", prog_name="registry")
@click.pass_context
def cli(ctx: click.Context, db: str, artifacts: str, actor: str, as_json: bool) -> None:
    """A governed model registry: versions, stages, gates, approvals, rollbacks and a tamper-evident audit log.

    Models are addressed by URI: models:/NAME/VERSION, models:/NAME/STAGE,
    models:/NAME@ALIAS or models:/NAME/latest.
    """
    if as_json:
        set_json(ctx)
    ctx.obj = CliState(db, artifacts, actor, as_json)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``registry`` console script."""
    cli(args, prog_name="registry")
