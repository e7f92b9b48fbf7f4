"""ONNX renditions of scikit-learn versions: recorded beside an untouched version, measured, refused cleanly, audited."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sqlalchemy import text  # noqa: E402
from tampering import sql, verify_divergences  # noqa: E402

from registry_core import Registry  # noqa: E402
from registry_core.errors import ConflictError, InvalidInput, MissingExtra  # noqa: E402
from tests.test_artifacts import overwrite_blob  # noqa: E402
from tests.test_cli import as_json, cli_on, ok  # noqa: E402

FEATURES = ["amount", "hour", "merchant_risk", "distance"]


def frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(seed).normal(size=(rows, len(FEATURES))), columns=FEATURES)


def forest() -> RandomForestClassifier:
    data = frame()
    return RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(data, data["amount"] > 0)


@pytest.fixture
def rendered(registry: Registry) -> Registry:
    """'fraud' v1, a forest stored with skops, with its ONNX rendition measured on 80 records."""
    registry.register("fraud", forest())
    registry.render_onnx("fraud", 1, frame(80, seed=1))
    return registry


def test_a_rendition_is_recorded_beside_a_version_left_as_registered(registry: Registry):
    """The version's artifact, digest and size stay as registered; the rendition has its own digest and event."""
    before = registry.register("fraud", forest())
    rendition = registry.render_onnx("fraud", 1, frame(80, seed=1))
    after = registry.get_version("fraud", 1)
    assert (after.artifact_sha256, after.artifact_size, after.artifact_format) == (
        before.artifact_sha256, before.artifact_size, before.artifact_format)
    data = registry.store.open(rendition.artifact_sha256).read()
    assert hashlib.sha256(data).hexdigest() == rendition.artifact_sha256 != before.artifact_sha256
    assert (rendition.converter, rendition.kind, rendition.validation_rows) == ("skl2onnx", "onnx", 80)
    assert rendition.converter_version == sys.modules["skl2onnx"].__version__
    event = registry.audit_events("fraud", version=1, actions=["version.render"])
    assert [e.seq for e in event] == [rendition.audit_seq]
    assert event[0].after["parity"] == rendition.parity and event[0].after["of_sha256"] == before.artifact_sha256
    assert registry.renditions("fraud", 1) == [rendition]
    assert registry.verify_audit().intact


def test_the_parity_is_the_largest_difference_of_probabilities_on_the_validation_data(rendered: Registry):
    """Recomputed here with ONNX Runtime on the stored bytes: the figure is that of the data given."""
    rendition = rendered.renditions("fraud", 1)[0]
    session = onnxruntime.InferenceSession(rendered.store.open(rendition.artifact_sha256).read(),
                                           providers=["CPUExecutionProvider"])
    records = frame(80, seed=1)
    theirs = session.run(["probabilities"], {"X": records.to_numpy(np.float32)})[0]
    own = rendered.load_model("models:/fraud/1").predict_proba(records)
    assert rendition.parity == float(np.max(np.abs(own - theirs)))
    assert 0 < rendition.parity < 1e-5 and rendition.parity_output == "predict_proba"
    assert rendition.artifact_format["feature_names"] == FEATURES


def test_a_regressor_is_measured_on_predict(registry: Registry):
    data = frame()
    registry.register("price", RandomForestRegressor(n_estimators=5, random_state=0).fit(data, data["hour"] * 3))
    rendition = registry.render_onnx("price", 1, data.to_numpy())
    assert rendition.parity_output == "predict" and 0 <= rendition.parity < 1e-4


def test_a_second_rendition_is_a_conflict_and_changes_nothing(rendered: Registry, catalog_state):
    before = catalog_state()
    with pytest.raises(ConflictError, match="already has an ONNX rendition"):
        rendered.render_onnx("fraud", 1, frame(10))
    assert catalog_state() == before


def test_what_skl2onnx_cannot_convert_is_one_line_and_nothing_is_recorded_or_stored(registry: Registry, catalog_state):
    """KernelRidge has no skl2onnx converter: the refusal names it and skl2onnx's reason; no row, event or blob."""
    data = frame()
    registry.register("kernel", KernelRidge().fit(data, data["hour"]))
    before = catalog_state()
    with pytest.raises(InvalidInput) as refused:
        registry.render_onnx("kernel", 1, data)
    assert refused.value.message.startswith("skl2onnx ") and "cannot convert models:/kernel/1 (KernelRidge)" in (
        refused.value.message) and "\n" not in refused.value.message
    assert catalog_state() == before


@pytest.mark.parametrize(("validation", "expected"), [
    pytest.param(np.zeros((5, 3)), "have 3 values each; the estimator takes 4", id="width"),
    pytest.param(np.full((5, 4), np.nan), "NaN", id="nan"),
    pytest.param(np.full((5, 4), np.inf), "infinite", id="infinite"),
    pytest.param(np.zeros((0, 4)), "no records", id="empty"),
    pytest.param(np.zeros(4), "not an array of 1 dimension", id="one-dimensional"),
    pytest.param([["a", "b", "c", "d"]], "numbers only", id="text"),
    pytest.param(pd.DataFrame({"amount": [1.0], "hour": [2.0]}), "lacks the feature(s) merchant_risk, distance",
                 id="missing-columns"),
])
def test_bad_validation_data_is_one_line_and_records_nothing(registry: Registry, catalog_state, validation, expected):
    registry.register("fraud", forest())
    before = catalog_state()
    with pytest.raises(InvalidInput, match=expected.replace("(", r"\(").replace(")", r"\)")):
        registry.render_onnx("fraud", 1, validation)
    assert catalog_state() == before


def test_only_a_skops_estimator_is_rendered(registry: Registry, model_file: Path, catalog_state):
    registry.register("opaque", model_file)
    before = catalog_state()
    with pytest.raises(InvalidInput, match="not a scikit-learn estimator stored with skops"):
        registry.render_onnx("opaque", 1, frame(5))
    assert catalog_state() == before


def test_a_version_the_policy_would_not_load_is_never_converted(registry: Registry, catalog_state):
    """Conversion runs on the version as loaded under the model's policy now: over its load limit, nothing happens."""
    registry.register("fraud", forest())
    registry.set_policy("fraud", max_load_bytes=1000)
    before = catalog_state()
    with pytest.raises(InvalidInput, match="over the limit|larger than|inflate"):
        registry.render_onnx("fraud", 1, frame(5))
    assert catalog_state() == before


def test_a_missing_skl2onnx_is_one_line_naming_the_extra(registry: Registry, monkeypatch, catalog_state):
    registry.register("fraud", forest())
    before = catalog_state()
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(MissingExtra, match=r"\[onnx\]"):
        registry.render_onnx("fraud", 1, frame(5))
    assert catalog_state() == before


def test_deleting_a_version_deletes_its_rendition_and_the_log_still_verifies(rendered: Registry):
    """The row goes with its version; its version.render event stays, and --verify expects no row for it."""
    rendered.delete_version("fraud", 1)
    with rendered.db.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM renditions")).scalar() == 0
    report = rendered.verify_audit()
    assert report.intact and report.divergence_count == 0, report.divergences
    assert rendered.audit_events("fraud", version=1, actions=["version.render"])


def test_garbage_collection_keeps_a_renditions_blob(rendered: Registry):
    report = rendered.collect_garbage(min_age_seconds=0)
    assert rendered.renditions("fraud", 1)[0].artifact_sha256 not in report.blobs


# --- the policy's tolerance ------------------------------------------------------------------------------


def test_the_tolerance_is_none_by_default_audited_when_set_and_cleared_with_none(registry: Registry):
    registry.register("fraud", forest())
    assert registry.get_policy("fraud").onnx_parity is None
    assert registry.set_policy("fraud", onnx_parity=1e-5).onnx_parity == 1e-5
    assert registry.set_policy("fraud", onnx_parity="none").onnx_parity is None
    changes = registry.audit_events("fraud", actions=["policy.set"])
    assert [(e.before["onnx_parity"], e.after["onnx_parity"]) for e in changes] == [(None, 1e-5), (1e-5, None)]


@pytest.mark.parametrize("tolerance", [-1.0, math.nan, math.inf, True, "abc", 1e7])
def test_a_bad_tolerance_is_refused_and_changes_nothing(registry: Registry, catalog_state, tolerance):
    registry.register("fraud", forest())
    before = catalog_state()
    with pytest.raises(InvalidInput, match="ONNX parity tolerance"):
        registry.set_policy("fraud", onnx_parity=tolerance)
    assert catalog_state() == before


# --- rendition rows against their audit events -------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [
    ("parity", "0"),
    ("artifact_sha256", "'" + "0" * 64 + "'"),
    ("converter_version", "'9.9.9'"),
])
def test_an_sql_edit_of_a_rendition_is_named_and_the_rendition_is_not_served(
    rendered: Registry, engine, database_url: str, artifact_root: Path, column: str, value: str,
):
    rendered.set_policy("fraud", onnx_parity=1e-3)
    assert rendered.serving_choice(rendered.get_version("fraud", 1)).rendition is not None
    sql(engine, f"UPDATE renditions SET {column} = {value}")
    lines = verify_divergences(database_url, artifact_root)
    assert len(lines) == 1 and lines[0].startswith("renditions row 1 (fraud version 1, onnx): differs from its audit event")
    assert column in lines[0]
    choice = rendered.serving_choice(rendered.get_version("fraud", 1))
    assert choice.rendition is None and column in choice.reason


def test_an_sql_edit_of_the_tolerance_is_named(rendered: Registry, engine, database_url: str, artifact_root: Path):
    rendered.set_policy("fraud", onnx_parity=1e-9)
    policy = rendered.get_policy("fraud").to_dict()
    sql(engine, "UPDATE registered_models SET policy = :policy", policy=json.dumps({**policy, "onnx_parity": 1.0}))
    assert verify_divergences(database_url, artifact_root) == [
        f"registered_models 'fraud': its policy differs from the one last recorded (event {rendered.audit_events('fraud', limit=1)[0].seq})"
    ]


def test_a_rendition_row_moved_to_another_event_is_named_as_is_its_own_event(
    rendered: Registry, engine, database_url: str, artifact_root: Path,
):
    """A row pointed at the registration's event records nothing it says, and its own event is left without a row."""
    sql(engine, "UPDATE renditions SET audit_seq = audit_seq - 1")
    lines = verify_divergences(database_url, artifact_root)
    assert [line.split(":")[0] for line in lines] == [
        "renditions row 1 (fraud version 1, onnx)", "renditions of fraud version 1"]
    assert "has no audit event recording it" in lines[0] and "recorded but missing" in lines[1]


def test_a_rendition_row_copied_onto_another_version_is_not_served_and_is_named(
    rendered: Registry, engine, database_url: str, artifact_root: Path,
):
    """Version 1's rendition tied by SQL to version 2 would answer for version 2 with version 1's model: refused."""
    rendered.register("fraud", forest())
    rendered.set_policy("fraud", onnx_parity=1e-3)
    sql(engine, "INSERT INTO renditions (version_id, kind, artifact_sha256, artifact_size, artifact_format, converter, "
                "converter_version, parity, parity_output, validation_rows, validation_sha256, created_by, created_at, "
                "audit_seq) SELECT (SELECT id FROM model_versions WHERE version = 2), kind, artifact_sha256, "
                "artifact_size, artifact_format, converter, converter_version, parity, parity_output, validation_rows, "
                "validation_sha256, created_by, created_at, audit_seq FROM renditions")
    choice = rendered.serving_choice(rendered.get_version("fraud", 2))
    assert choice.rendition is None and "its event renders another version" in choice.reason
    assert rendered.serving_choice(rendered.get_version("fraud", 1)).rendition is not None
    assert verify_divergences(database_url, artifact_root) == [
        f"renditions row 2 (fraud version 2, onnx): is a second row tied to the same event: it is never served "
        f"(event {rendered.renditions('fraud', 1)[0].audit_seq})"
    ]


def test_a_tampered_rendition_blob_does_not_load(rendered: Registry):
    rendition = rendered.renditions("fraud", 1)[0]
    overwrite_blob(rendered, rendition.artifact_sha256, b"not the rendition")
    with pytest.raises(Exception, match="sha256|digest|does not match"):
        rendered.load_rendition(rendition)


# --- the command line ------------------------------------------------------------------------------------


def test_registry_render_reads_csv_and_parquet(database_url: str, artifact_root: Path, tmp_path: Path):
    run = cli_on(database_url, artifact_root)
    with Registry(database_url, artifact_root, actor="alice") as registry:
        registry.register("fraud", forest())
        registry.register("fraud", forest())
    frame(40).to_csv(tmp_path / "validation.csv", index=False)
    frame(40).to_parquet(tmp_path / "validation.parquet")
    printed = ok(run("render", "fraud", "1", "--onnx", "--data", str(tmp_path / "validation.csv"))).stdout
    assert printed.startswith("Rendered fraud version 1 as ONNX with skl2onnx") and "over 40 validation records" in printed
    answer = as_json(run("render", "fraud", "2", "--onnx", "--data", str(tmp_path / "validation.parquet"), "--json"))
    assert answer["version"] == 2 and answer["validation_rows"] == 40 and answer["converter"] == "skl2onnx"
    shown = as_json(run("show", "models:/fraud/2", "--json"))["renditions"]
    assert [r["artifact_sha256"] for r in shown] == [answer["artifact_sha256"]]
    assert "ONNX rendition:     sha256 " in ok(run("show", "models:/fraud/1")).stdout
    assert as_json(run("show", "models:/fraud/1", "--json"))["version"]["artifact_sha256"] != answer["artifact_sha256"]
    assert as_json(run("policy", "fraud", "--onnx-parity", "1e-4", "--json"))["onnx_parity"] == 1e-4
    assert "ONNX parity:        none" in ok(run("policy", "fraud", "--onnx-parity", "none")).stdout


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["--data", "validation.csv"], "say --onnx", id="no-kind"),
    pytest.param(["--onnx", "--data", "validation.txt"], "must be a .csv or .parquet file", id="suffix"),
    pytest.param(["--onnx", "--data", "absent.csv"], "cannot read validation data", id="missing"),
    pytest.param(["--onnx", "--data", "text.csv"], "numbers only", id="text"),
])
def test_registry_render_refuses_with_one_line(database_url: str, artifact_root: Path, tmp_path: Path, monkeypatch,
                                               args, expected):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        registry.register("fraud", forest())
    monkeypatch.chdir(tmp_path)
    frame(5).to_csv("validation.csv", index=False)
    (tmp_path / "validation.txt").write_text("1,2,3,4\n")
    (tmp_path / "text.csv").write_text("amount,hour,merchant_risk,distance\na,b,c,d\n")
    result = cli_on(database_url, artifact_root)("render", "fraud", "1", *args)
    assert result.exit_code in (1, 2) and expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with Registry(database_url, artifact_root, actor="alice") as registry:
        assert registry.renditions("fraud", 1) == []


def test_the_renditions_table_is_in_every_catalog(engine):
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM renditions")).scalar() == 0
