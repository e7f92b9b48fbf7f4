"""The ``audit`` and ``history`` commands: read the audit log, or verify its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
    help="Check the whole hash chain, every catalog row the gates read and every stored proof against it; exit 1 on any difference.",
)
@click.option(
    "--checkpoint", metavar="FILE", type=click.Path(dir_okay=False),
    help="With --verify: a signed checkpoint ('registry audit checkpoint'); any rewrite of the history before it is caught.",
)
@click.option(
    "--trusted-key", "trusted_key", metavar="KEY.pub", type=click.Path(exists=True, dir_okay=False),
    help="With --checkpoint: the public key that must have signed it (default: any key enrolled in the catalog).",
)
@click.option(
    "--sign-with", "sign_with", metavar="KEY", type=click.Path(dir_okay=False),
    help="For 'registry audit checkpoint': the SSH key that signs the chain head.",
)
@click.option("--output", "-o", metavar="FILE", help="For 'registry audit checkpoint': the new file to write.")
@common_options
@click.pass_context
def audit(
    ctx: click.Context, name: str | None, version: str | None, actions: tuple[str, ...], limit: int, verify: bool,
    checkpoint: str | None, trusted_key: str | None, sign_with: str | None, output: str | None,
) -> None:
    """Show the audit log (all models, or NAME) as a table, oldest first; --json gives every event whole.

    With --verify, check the hash chain, the catalog and every stored proof against it instead (with
    --checkpoint FILE, also the history before a signed checkpoint). 'registry audit checkpoint --sign-with
    KEY [-o FILE]' signs the chain head and writes it to a new file, to keep outside the catalog.
    """
    if sign_with is not None or output is not None:
        if name != "checkpoint" or sign_with is None or version or actions or verify:
            raise click.UsageError("--sign-with and --output go with 'registry audit checkpoint --sign-with KEY'")
        made = registry(ctx, read_only=True).write_checkpoint(output or _checkpoint_name(), sign_with=sign_with)
        emit(ctx, made, lambda: [
            f"Checkpoint of event {made.head_seq} ({made.head_hash}) signed and written to {made.path}"
        ])
        return
    if (checkpoint or trusted_key) and not verify:
        raise click.UsageError("--checkpoint and --trusted-key go with --verify")
    if verify and (name or version or actions):
        raise click.UsageError("--verify checks the whole chain; it takes no NAME, --version or --action")
    catalog = registry(ctx, read_only=True)
    if verify:
        pinned = Path(trusted_key).read_text("utf-8") if trusted_key else None
        report = catalog.verify_audit(checkpoint=checkpoint, trusted_key=pinned)
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


def _checkpoint_name() -> str:
    return datetime.now(UTC).strftime("registry-checkpoint-%Y%m%dT%H%M%SZ.json")


COMMANDS = (audit, history)
