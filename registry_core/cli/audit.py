"""The ``audit`` and ``history`` commands: read the audit log, or verify its hash chain."""

from __future__ import annotations

import click

from ..actions import AuditAction
from . import render
from .context import common_options, emit, registry


@click.command()
@click.argument("name", required=False)
@click.option("--version", "version", help="Only events of this version (needs NAME).")
@click.option(
    "--action", "actions", multiple=True, type=click.Choice([a.value for a in AuditAction], case_sensitive=False),
    metavar="ACTION", help="Only events of this action, e.g. version.promote (repeatable).",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="The newest this many events.")
@click.option(
    "--verify", is_flag=True,
    help="Check the whole hash chain and every catalog row the gates read against it; exit 1 on any difference.",
)
@common_options
@click.pass_context
def audit(
    ctx: click.Context, name: str | None, version: str | None, actions: tuple[str, ...], limit: int, verify: bool
) -> None:
    """Show the audit log (all models, or NAME) as a table, oldest first; --json gives every event whole.

    With --verify, check the hash chain and the catalog against it instead.
    """
    if verify and (name or version or actions):
        raise click.UsageError("--verify checks the whole chain; it takes no NAME, --version or --action")
    catalog = registry(ctx, read_only=True)
    if verify:
        report = catalog.verify_audit()
        emit(ctx, report, lambda: render.audit_report_lines(report))
        if not report.intact:
            ctx.exit(1)
        return
    events = catalog.audit_events(name, version=version, limit=limit, actions=actions or None)
    emit(ctx, events, lambda: render.audit_lines(events))


@click.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="The newest this many changes.")
@common_options
@click.pass_context
def history(ctx: click.Context, name: str, limit: int) -> None:
    """How Production of NAME changed: each promotion and rollback, oldest first, from the audit log."""
    catalog = registry(ctx, read_only=True)
    catalog.get_model(name)  # a model that does not exist is an error, not an empty history
    events = catalog.audit_events(
        name, limit=limit, actions=(AuditAction.VERSION_PROMOTE, AuditAction.VERSION_ROLLBACK)
    )
    emit(ctx, events, lambda: render.history_table(events))


COMMANDS = (audit, history)
