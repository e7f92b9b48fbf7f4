"""The ``db`` commands: the catalog database's schema revision, and migrating it."""

from __future__ import annotations

import click

from .context import common_options, emit, state


@click.group()
def db() -> None:
    """Manage the catalog database's schema."""


@db.command("upgrade")
@common_options
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the catalog schema to this registry's version, keeping all data."""
    from ..database import Database

    database = Database(state(ctx).db)
    try:
        before = database.schema_status()
        after = database.upgrade()
    finally:
        database.dispose()
    emit(ctx, {"from": before.current, "to": after.current, "head": after.head}, lambda: [
        f"schema already at {after.current}" if before.current == after.current
        else f"schema upgraded from {before.current or '(empty)'} to {after.current}"
    ])


@db.command("status")
@common_options
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the catalog schema's revision and whether it needs an upgrade."""
    from ..database import Database

    database = Database(state(ctx).db, create=False)
    try:
        status = database.schema_status()
    finally:
        database.dispose()
    emit(ctx, {"current": status.current, "head": status.head, "up_to_date": status.up_to_date}, lambda: [
        f"schema at {status.current or '(empty)'}, this registry needs {status.head}"
        + ("" if status.up_to_date else ": run 'registry db upgrade'")
    ])


COMMANDS = (db,)
