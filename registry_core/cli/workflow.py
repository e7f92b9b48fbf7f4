"""Commands that move versions between stages: transition, promote, rollback."""

from __future__ import annotations

import click

from . import render
from .context import common_options, emit, registry


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--reason", help="Why; recorded in the audit log.")
@common_options
@click.pass_context
def transition(ctx: click.Context, name: str, version: str, stage: str, reason: str | None) -> None:
    """Move VERSION of NAME to STAGE (None/Candidate, Staging, Production, Archived)."""
    change = registry(ctx).transition(name, version, stage, reason=reason)
    emit(ctx, change, lambda: render.change_lines(change))


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--reason", help="Why; recorded in the audit log.")
@common_options
@click.pass_context
def promote(ctx: click.Context, name: str, version: str, reason: str | None) -> None:
    """Promote a Staging VERSION of NAME to Production if every gate holds; the previous one is archived."""
    change = registry(ctx).promote(name, version, reason=reason)
    emit(ctx, change, lambda: render.change_lines(change))


@click.command()
@click.argument("name")
@click.option("--to", "to_version", help="The archived version to return (default: the one most recently in Production).")
@click.option("--reason", required=True, help="Why; required, recorded in the audit log.")
@common_options
@click.pass_context
def rollback(ctx: click.Context, name: str, to_version: str | None, reason: str) -> None:
    """Return a formerly-Production version of NAME to Production, archiving the current one."""
    change = registry(ctx).rollback(name, reason=reason, to_version=to_version)
    emit(ctx, change, lambda: render.change_lines(change))


COMMANDS = (transition, promote, rollback)
