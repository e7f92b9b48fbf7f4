"""The ``audit`` command: read the audit log, or verify its hash chain."""

from __future__ import annotations

import click

from . import render
from .context import common_options, emit, registry


@click.command()
@click.argument("name", required=False)
@click.option("--version", "version", help="Only events of this version (needs NAME).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="The newest this many events.")
@click.option(
    "--verify", is_flag=True,
    help="Check the whole hash chain and every catalog row the gates read against it; exit 1 on any difference.",
)
@common_options
@click.pass_context
def audit(ctx: click.Context, name: str | None, version: str | None, limit: int, verify: bool) -> None:
    """Show the audit log (all models, or NAME), or verify the chain and the catalog against it with --verify."""
    catalog = registry(ctx, read_only=True)
    if verify:
        if name or version:
            raise click.UsageError("--verify checks the whole chain; it takes no NAME or --version")
        report = catalog.verify_audit()
        emit(ctx, report, lambda: render.audit_report_lines(report))
        if not report.intact:
            ctx.exit(1)
        return
    events = catalog.audit_events(name, version=version, limit=limit)
    emit(ctx, events, lambda: render.audit_lines(events))


COMMANDS = (audit,)
