"""The ``search`` commands: models and versions by filter, a page at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from . import render
from .context import common_options, emit, registry

_FILTER_HELP = """FILTER is conditions joined by AND, in MLflow's filter language: name, tags.KEY (a key with dots in
backticks){versions} compared with =, !=, LIKE or ILIKE to a quoted value; IN ('a', 'b') for name{run}.
Prints the next page's token when there is one: pass it to --page-token."""


def _search_options(keys: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.argument("filter_string", metavar="[FILTER]", required=False)(command)
        command = click.option("--order-by", "order_by", multiple=True, metavar="KEY [ASC|DESC]",
                               help=f"Order by KEY (repeatable): {keys}.")(command)
        command = click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
                               help="At most this many results.")(command)
        command = click.option("--page-token", metavar="TOKEN", help="Continue where a previous search stopped.")(command)
        return common_options(command)

    return decorate


def _emit_page(ctx: click.Context, page: Any, lines: list[str]) -> None:
    def human() -> list[str]:
        if page.next_page_token:
            return [*lines, f"More results: --page-token {page.next_page_token}"]
        return lines

    emit(ctx, {"items": page.items, "next_page_token": page.next_page_token}, human)


@click.group()
def search() -> None:
    """Find models or versions by name, attributes and tags."""


@search.command("models", help="Models matching FILTER, by name.\n\n"
                + _FILTER_HELP.format(versions="", run=""))
@_search_options("name, last_updated_timestamp")
@click.pass_context
def search_models(ctx: click.Context, filter_string: str | None, order_by: tuple[str, ...], limit: int,
                  page_token: str | None) -> None:
    page = registry(ctx, read_only=True).search_models(filter_string, order_by=order_by, limit=limit,
                                                       page_token=page_token)
    _emit_page(ctx, page, render.model_table(page.items, empty="no models match"))


@search.command("versions", help="Versions matching FILTER, the latest change first.\n\n"
                + _FILTER_HELP.format(versions=", version_number (compared with =, !=, <, <=, >, >= to a number), "
                                      "run_id, source_path", run=" and run_id"))
@_search_options("name, version_number, creation_timestamp, last_updated_timestamp")
@click.pass_context
def search_versions(ctx: click.Context, filter_string: str | None, order_by: tuple[str, ...], limit: int,
                    page_token: str | None) -> None:
    page = registry(ctx, read_only=True).search_versions(filter_string, order_by=order_by, limit=limit,
                                                         page_token=page_token)
    _emit_page(ctx, page, render.version_table(page.items, with_model=True))


COMMANDS = (search,)
