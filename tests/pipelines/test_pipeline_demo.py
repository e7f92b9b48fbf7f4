"""The README's run command: the whole lifecycle through the real definitions, printed step by step."""

from __future__ import annotations

from pathlib import Path

from registry_pipelines.demo import main


def test_demo_walks_the_whole_lifecycle(tmp_path: Path, capsys):
    """train v1 -> validate -> shadow -> refusals -> approve -> promote -> redeploy; v2 likewise; roll back."""
    assert main(["--home", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for line in [
        "registered models:/fraud-detector/1 in stage None by dagster",
        "models:/fraud-detector/1: stage Staging; data_quality passed",
        "no Production version yet: nothing to compare version 1 against, so it passes",
        "run failed: fraud-detector version 1 was not promoted",
        "run failed: approval of fraud-detector version 1 by 'ml-engineer' refused",
        "[serving endpoint] now serving fraud-detector v1 (promotion",
        "version 2 vs Production version 1:",
        "models:/fraud-detector/1: stage Archived",
        "[serving endpoint] now serving fraud-detector v2 (promotion",
        "[serving endpoint] now serving fraud-detector v1 (rollback",
        "asset fraud_detector/production_model: v1 (rollback), originally approved by risk-reviewer",
        "audit log intact: 27 events",
    ]:
        assert line in out, line
    assert (tmp_path / "demo" / "registry.db").exists()
