"""First use of an empty catalog is serialized: any number of processes opening it at once all succeed, with one schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from registry_core import Registry

PROCESSES = 8

OPENER = """
import json, sys
from registry_core import Registry
print("ready", flush=True)
sys.stdin.readline()  # every process has imported the registry: all open it at once
try:
    with Registry(sys.argv[1], sys.argv[2], actor="p") as registry:
        registry.list_models()
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
"""

def test_processes_opening_an_empty_catalog_at_once_all_succeed(empty_database_url: str, tmp_path: Path):
    """Eight processes open the same empty catalog at the same instant: none fails, one schema is made."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, empty_database_url, str(tmp_path / "artifacts")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(PROCESSES)
    ]
    # Released together once all are ready, however long the imports take on a busy machine.
    for process in processes:
        assert process.stdout.readline() == "ready\n", process.stderr.read()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert [o for o in outcomes if not o["ok"]] == []
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM audit_head")).scalar_one() == 1
    finally:
        engine.dispose()
    with Registry(empty_database_url, tmp_path / "artifacts", actor="alice") as registry:
        assert registry.verify_audit().intact
