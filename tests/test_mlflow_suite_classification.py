"""compat/mlflow_suite.py classifies each result of MLflow's tests on the plugin against MLflow's own store.

The counts it prints are published, so a failure must never be counted as a refusal or as skew by accident:
each class below is reached only by its own evidence, and anything else is a genuine incompatibility.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "compat" / "mlflow_suite.py"
ID = "tests/store/model_registry/test_sqlalchemy_store.py::test_x[workspace-disabled]"


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mlflow_suite", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["mlflow_suite"] = module
    spec.loader.exec_module(module)
    return module


PASSED_THERE = {ID: ("passed", "")}


@pytest.mark.parametrize(("outcome", "text", "baseline", "expected"), [
    ("passed", "", PASSED_THERE, "passed"),
    ("skipped", "Skipped: FileStore is no longer supported.", PASSED_THERE, "skipped"),
    ("failed", "AssertionError: anything", {ID: ("failed", "gaierror")}, "failed in both (skew)"),
    ("failed", "AssertionError: anything", {}, "no baseline"),
    ("failed", "MlflowException: model source 'a/b' does not exist", PASSED_THERE, "refused: sources must exist"),
    ("failed", "NotOffered: deleting a model version is not supported by this registry: versions are immutable",
     PASSED_THERE, "refused: model deletion"),
    ("failed", "NotOffered: create_prompt (MLflow prompts) is not supported by this registry", PASSED_THERE,
     "refused: prompts"),
    ("failed", "AttributeError: 'RegistryStore' object has no attribute 'engine'", PASSED_THERE,
     "drives MLflow's SQL store internals"),
    # Texts that look alike but are not the registry's refusals stay genuine.
    ("failed", "MlflowException: Registered Model with name=m does not exist", PASSED_THERE, "genuine incompatibility"),
    ("failed", "AttributeError: 'RegistryStore' object has no attribute 'delete_thing'", PASSED_THERE,
     "genuine incompatibility"),
    ("failed", "AssertionError: Regex pattern did not match.", PASSED_THERE, "genuine incompatibility"),
], ids=["passed", "skipped", "skew", "no-baseline", "sources", "deletion", "prompts", "internals",
        "other-does-not-exist", "other-attribute", "regex"])
def test_each_class_needs_its_own_evidence(suite: ModuleType, outcome: str, text: str, baseline: dict, expected: str):
    assert suite.classify(ID, (outcome, text), baseline) == expected


def _dict_failure(extra: str, *, more: str = "") -> str:
    return ("AssertionError: assert {'a': '1', 'r...ates': 'none'} == {'a': '1'}\n\n"
            f"Omitting 1 identical items, use -vv to show\n{more}Left contains 2 more items:\n{extra}\n"
            "Use -v to get more diff")


def test_only_extra_registry_tags_are_the_shown_tags_difference(suite: ModuleType):
    """A tag comparison that differs only by ``registry.*`` keys is that deliberate difference; any other extra
    key, a differing value or a missing key keeps it genuine."""
    shown = _dict_failure("{'registry.approved_by': '', 'registry.unmet_gates': 'none'}")
    assert suite.classify(ID, ("failed", shown), PASSED_THERE) == "refused: registry.* tags shown"
    for text in (
        _dict_failure("{'registry.approved_by': '', 'owner': 'me'}"),
        _dict_failure("{'registry.approved_by': ''}", more="Differing items:\n{'a': '2'} != {'a': '1'}\n"),
        _dict_failure("{'registry.approved_by': ''}") + "\nRight contains 1 more item:\n{'b': '2'}",
        _dict_failure("{'registry.approved_by': __import__('os')}"),
    ):
        assert suite.classify(ID, ("failed", text), PASSED_THERE) == "genuine incompatibility"


def test_a_failure_in_any_phase_wins_over_a_pass(suite: ModuleType, tmp_path: Path):
    """A test that passed its call but failed its teardown is failed, as pytest counts it."""
    rows = tmp_path / "results.jsonl"
    rows.write_text(
        '{"id": "t", "when": "call", "outcome": "passed", "text": ""}\n'
        '{"id": "t", "when": "teardown", "outcome": "failed", "text": "E   boom"}\n'
        '{"id": "u", "when": "setup", "outcome": "skipped", "text": "Skipped: no"}\n'
    )
    assert suite._outcomes(rows) == {"t": ("failed", "E   boom"), "u": ("skipped", "Skipped: no")}


def test_a_file_outside_the_selection_is_one_line(suite: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture):
    (tmp_path / "tests").mkdir()
    assert suite.main([str(tmp_path), "tests/other.py", "--run", "plugin"]) == 2
    assert capsys.readouterr().err.startswith("error: tests/other.py is not one of the selection")
    assert suite.main([str(tmp_path / "missing")]) == 2
