"""What someone with SQL access and no registry can do to a catalog, and what `registry audit --verify` says after."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from registry_core.cli import cli


def sql(engine: Engine, statement: str, **params: object) -> None:
    """Run one statement around the registry, in its own transaction."""
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def registry_cli(database_url: str, artifact_root: Path, *args: str, actor: str = "alice") -> Result:
    """``registry ARGS...`` in-process against the catalog at ``database_url``."""
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": actor}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def verify_divergences(database_url: str, artifact_root: Path) -> list[str]:
    """The lines ``registry audit --verify`` prints for a catalog that differs from its log; it must exit 1."""
    result = registry_cli(database_url, artifact_root, "audit", "--verify")
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("catalog DIFFERS from its audit log"), result.stdout
    return [line.strip() for line in lines[1:]]
