"""Commands that label models and versions: aliases, tags and descriptions."""

from __future__ import annotations

import click

from ..validation import parse_key_values
from .context import common_options, emit, registry


@click.command()
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead.")
@common_options
@click.pass_context
def alias(ctx: click.Context, name: str, alias_name: str, version: str | None, delete: bool) -> None:
    """Point ALIAS of NAME at VERSION (models:/NAME@ALIAS), or remove it with --delete."""
    catalog = registry(ctx)
    if delete:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        catalog.delete_alias(name, alias_name)
        emit(ctx, {"model": name, "alias": alias_name, "deleted": True}, lambda: [f"Removed alias {name}@{alias_name}"])
        return
    if version is None:
        raise click.UsageError("give the VERSION the alias should point at, or --delete")
    target = catalog.set_alias(name, alias_name, version)
    emit(ctx, target, lambda: [f"models:/{name}@{alias_name} -> version {target.version}"])


@click.command()
@click.argument("name")
@click.option("--version", "version", help="Tag this version rather than the model.")
@click.option("--delete", "deletes", multiple=True, metavar="KEY", help="Remove this tag (repeatable).")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@common_options
@click.pass_context
def tag(ctx: click.Context, name: str, version: str | None, deletes: tuple[str, ...], pairs: tuple[str, ...]) -> None:
    """Set or remove tags on model NAME or one of its versions."""
    if not pairs and not deletes:
        raise click.UsageError("give KEY=VALUE pairs to set, or --delete KEY")
    if pairs and deletes:
        raise click.UsageError("set and delete tags in separate commands")
    catalog = registry(ctx)
    if pairs:
        tags = catalog.set_tags(name, parse_key_values(pairs, what="tag"), version=version)
    else:
        tags = catalog.delete_tags(name, deletes, version=version)
    emit(ctx, tags, lambda: [f"{k}={v}" for k, v in tags.items()] or ["no tags"])


@click.command()
@click.argument("name")
@click.argument("text")
@click.option("--version", "version", help="Describe this version rather than the model.")
@common_options
@click.pass_context
def describe(ctx: click.Context, name: str, text: str, version: str | None) -> None:
    """Set the description of model NAME or one of its versions to TEXT."""
    registry(ctx).set_description(name, text, version=version)
    target = f"{name} version {version}" if version else name
    emit(ctx, {"model": name, "version": version, "description": text}, lambda: [f"Described {target}"])


COMMANDS = (alias, tag, describe)
