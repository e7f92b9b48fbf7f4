"""Loading a model runs no code its model's policy did not allow: skops with trusted types, pickle only by opt-in."""

from __future__ import annotations

import io
import pickle
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
import skops.io
from hostile_estimators import CodeOnUnpickle
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy import create_engine, select, update

from registry_core import (
    AuditAction,
    InvalidInput,
    LegacyPickleWarning,
    PickleNotAllowed,
    Registry,
    UntrustedType,
    versions,
)
from registry_core.artifacts import PackedArtifact
from registry_core.database import Database
from registry_core.estimators import describe_serialization, is_scikit_learn_class
from registry_core.rows import VERSIONS

FEATURES = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [0.5, 0.2], [2.5, 0.9]])
LABELS = [0, 0, 1, 1, 0, 1]


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A harmless estimator that is not scikit-learn's own."""

    def __init__(self, threshold: float = 1.5) -> None:
        self.threshold = threshold

    def fit(self, X: Any, y: Any) -> ThresholdClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return (np.asarray(X)[:, 0] > self.threshold).astype(int)


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def hostile(tmp_path: Path) -> tuple[CodeOnUnpickle, Path]:
    marker = tmp_path / "code-ran"
    return CodeOnUnpickle(str(marker)).fit(FEATURES, LABELS), marker


def register_pickled(registry: Registry, name: str, estimator: Any) -> int:
    """Register ``estimator`` as a pickle under a policy that allows it, then take the permission back."""
    registry.create_model(name)
    registry.set_policy(name, allow_pickle=True)
    version = registry.register(name, estimator, serialization="pickle").version
    registry.set_policy(name, allow_pickle=False)
    return version


def stored_bytes(registry: Registry, uri: str) -> bytes:
    with registry.store.open(registry.resolve(uri).artifact_sha256) as reader:
        return reader.read()


# --- skops by default ---------------------------------------------------------------------


def test_a_pipeline_round_trips_with_skops_and_predicts_identically(registry: Registry):
    """A scikit-learn pipeline is stored as a skops file needing no trusted type, and loads back predicting the same."""
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(FEATURES, LABELS)
    version = registry.register("fraud", pipeline)
    assert version.serialization == "skops"
    assert version.artifact_format["trusted_types"] == []
    data = stored_bytes(registry, version.uri)
    assert zipfile.is_zipfile(io.BytesIO(data))
    assert all(is_scikit_learn_class(name) for name in skops.io.get_untrusted_types(data=data))
    loaded = registry.load_model(version.uri)
    probe = np.array([[0.5, 0.5], [2.5, 0.5], [1.4, 0.3]])
    assert (loaded.predict(probe) == pipeline.predict(probe)).all()
    assert np.array_equal(loaded.predict_proba(probe), pipeline.predict_proba(probe))


def test_a_random_forest_loads_under_the_default_policy(registry: Registry):
    """scikit-learn's tree classes, which skops itself leaves untrusted, are scikit-learn's own and need no policy."""
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(FEATURES, LABELS)
    version = registry.register("fraud", forest)
    assert version.artifact_format["serializer"] == "skops"
    assert "sklearn.tree._tree.Tree" in skops.io.get_untrusted_types(data=stored_bytes(registry, version.uri))
    assert (registry.load_model(version.uri).predict(FEATURES) == forest.predict(FEATURES)).all()


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        # a function, not a class: scikit-learn's test helpers run programs
        ("sklearn.utils._testing.assert_run_python_script_without_output", False),
        ("sklearn.utils._testing.TempMemmap", False),  # test-suite code
        ("sklearn.base.np", False),  # a name in scikit-learn that is not scikit-learn's class
        ("sklearn.nowhere.Thing", False),
        ("numpy.ndarray", False),  # not scikit-learn's: skops' own list decides
        ("builtins.eval", False),
    ],
)
def test_which_names_count_as_scikit_learns_own(name: str, trusted: bool):
    assert is_scikit_learn_class(name) is trusted


def test_a_class_outside_scikit_learn_is_refused_at_registration_naming_it(registry: Registry, catalog_state):
    """The estimator's own class is not trusted by default: one line names it and nothing is stored or written."""
    before = catalog_state()
    with pytest.raises(UntrustedType) as refused:
        registry.register("fraud", ThresholdClassifier().fit(FEATURES, LABELS))
    assert refused.value.types == [qualified(ThresholdClassifier)]
    assert qualified(ThresholdClassifier) in refused.value.message
    assert "\n" not in refused.value.message
    assert catalog_state() == before


def test_a_function_outside_scikit_learn_is_refused_naming_it(registry: Registry):
    """A FunctionTransformer calling a function of this module is refused: functions run as surely as classes do."""
    transformer = FunctionTransformer(qualified_twice).fit(FEATURES)
    with pytest.raises(UntrustedType, match=r"qualified_twice"):
        registry.register("fraud", make_pipeline(transformer, LogisticRegression()).fit(FEATURES, LABELS))


def qualified_twice(features: Any) -> Any:
    return np.asarray(features) * 2


def test_a_class_the_policy_trusts_registers_and_loads_until_the_trust_is_withdrawn(registry: Registry):
    """Trusted by the policy, the class is stored with skops and loads; once the policy drops it, loading is refused."""
    registry.create_model("fraud")
    registry.set_policy("fraud", trusted_types=[qualified(ThresholdClassifier)])
    model = ThresholdClassifier(threshold=0.7).fit(FEATURES, LABELS)
    version = registry.register("fraud", model)
    assert version.artifact_format["trusted_types"] == [qualified(ThresholdClassifier)]
    loaded = registry.load_model(version.uri)
    assert type(loaded) is ThresholdClassifier and loaded.threshold == 0.7
    registry.set_policy("fraud", trusted_types=[])
    with pytest.raises(UntrustedType, match=qualified(ThresholdClassifier)) as refused:
        registry.load_model(version.uri)
    assert refused.value.message.startswith(f"{version.uri} contains the type {qualified(ThresholdClassifier)}")


def test_a_hostile_estimator_runs_no_code_through_register_and_load_under_the_default_policy(
    registry: Registry, tmp_path: Path
):
    """The estimator whose pickle runs code is refused at registration, so no load can ever run it."""
    estimator, marker = hostile(tmp_path)
    refused: UntrustedType | None = None
    try:
        registry.register("fraud", estimator)
        registry.load_model("models:/fraud/1")
    except UntrustedType as exc:
        refused = exc
    assert not marker.exists(), "loading the registered estimator ran its code"
    assert refused is not None and refused.types == [qualified(CodeOnUnpickle)]
    assert registry.list_models() == []


# --- pickle only by opt-in ----------------------------------------------------------------


def test_pickle_is_refused_at_registration_without_allow_pickle(registry: Registry, catalog_state, tmp_path: Path):
    estimator, _marker = hostile(tmp_path)
    before = catalog_state()
    with pytest.raises(PickleNotAllowed, match="--allow-pickle"):
        registry.register("fraud", estimator, serialization="pickle")
    assert catalog_state() == before


def test_a_pickled_version_is_refused_at_load_without_allow_pickle(registry: Registry, tmp_path: Path):
    """The pickle's code does not run while the policy does not allow pickle; allowed again, it does (the control)."""
    estimator, marker = hostile(tmp_path)
    version = register_pickled(registry, "fraud", estimator)
    with pytest.raises(PickleNotAllowed) as refused:
        registry.load_model(f"models:/fraud/{version}")
    assert refused.value.message == (
        "models:/fraud/1 is a pickle, and loading a pickle runs whatever code it holds; the policy of 'fraud' does "
        "not allow pickle. If you trust whoever registered it: registry policy fraud --allow-pickle"
    )
    assert not marker.exists()
    registry.set_policy("fraud", allow_pickle=True)
    registry.load_model(f"models:/fraud/{version}")
    assert marker.exists()


def test_show_says_how_each_version_was_serialized(registry: Registry, tmp_path: Path):
    register_pickled(registry, "fraud", hostile(tmp_path)[0])
    registry.register("fraud", LogisticRegression().fit(FEATURES, LABELS))
    pickled, skops_version = registry.show("models:/fraud/1").version, registry.show("models:/fraud/2").version
    assert (pickled.serialization, skops_version.serialization) == ("pickle", "skops")
    assert pickled.artifact_format["pickle_opt_in"] is True
    assert describe_serialization(pickled.artifact_format) == "pickle (loads only while the model's policy allows pickle)"
    assert describe_serialization(skops_version.artifact_format) == "skops"


def test_policy_changes_to_what_may_load_are_audited_and_verify(registry: Registry):
    registry.create_model("fraud")
    registry.set_policy("fraud", trusted_types=["mypackage.models.Threshold"], allow_pickle=True)
    [event] = registry.audit_events("fraud", limit=1)
    assert event.action == AuditAction.POLICY_SET
    assert (event.before["trusted_types"], event.before["allow_pickle"]) == ([], False)
    assert (event.after["trusted_types"], event.after["allow_pickle"]) == (["mypackage.models.Threshold"], True)
    assert registry.verify_audit().intact


@pytest.mark.parametrize(
    "trusted_types",
    [["Threshold"], ["mypackage..Threshold"], ["1pkg.Threshold"], ["pkg.Thre shold"], "mypackage.Threshold", [""]],
    ids=["unqualified", "empty-part", "leading-digit", "space", "a-lone-string", "empty"],
)
def test_malformed_trusted_type_names_are_refused(registry: Registry, trusted_types: Any):
    registry.create_model("fraud")
    with pytest.raises(InvalidInput):
        registry.set_policy("fraud", trusted_types=trusted_types)
    assert registry.get_policy("fraud").trusted_types == ()


# --- versions pickled before pickle became opt-in -----------------------------------------


def register_as_before_0006(registry: Registry, name: str, estimator: Any) -> int:
    """A version pickled the way the registry stored every estimator before revision 0006."""
    blob = registry.store.put_stream(io.BytesIO(pickle.dumps(estimator, protocol=5)))
    cls = type(estimator)
    packed = PackedArtifact(
        kind="sklearn", sha256=blob.sha256, size=blob.size, location=registry.store.location(blob.sha256),
        format={
            "serializer": "pickle", "pickle_protocol": 5, "class": f"{cls.__module__}.{cls.__qualname__}",
            "library": "scikit-learn", "library_version": sklearn.__version__, "python": platform.python_version(),
        },
    )
    fields = dict.fromkeys(("run_id", "dataset_digest", "description", "signature", "model_card"))
    return versions.register_version(
        registry.catalog, registry.actor, name, packed, fields={**fields, "params": {}, "metrics": {}}, tags={}
    ).version


def test_a_version_pickled_before_revision_0006_still_loads_after_the_upgrade_and_says_so(
    empty_database_url: str, artifact_root: Path
):
    """The upgrade marks it legacy without touching policies or the audit log; it loads with a warning, and verifies."""
    database_url = empty_database_url  # migrated for real, then down and up again
    registry = Registry(database_url, artifact_root, actor="alice")
    model = LogisticRegression().fit(FEATURES, LABELS)
    registry.create_model("fraud")
    # Today's registry refuses to commit a pickle unless the policy allows it; the old one never asked.
    registry.set_policy("fraud", allow_pickle=True)
    register_as_before_0006(registry, "fraud", model)
    opted_in = registry.register("fraud", LogisticRegression().fit(FEATURES, LABELS), serialization="pickle").version
    registry.set_policy("fraud", allow_pickle=False)
    events = registry.audit_events(limit=1000)
    registry.db.downgrade("0005")
    registry.close()
    database = Database(database_url)
    try:
        assert database.upgrade().up_to_date
    finally:
        database.dispose()
    with Registry(database_url, artifact_root, actor="alice") as upgraded:
        assert upgraded.audit_events(limit=1000) == events
        assert upgraded.get_policy("fraud").allow_pickle is False
        legacy = upgraded.show("models:/fraud/1").version
        assert legacy.artifact_format["legacy_pickle"] is True
        assert describe_serialization(legacy.artifact_format) == (
            "pickle (registered before pickle became opt-in; loads with a warning)"
        )
        with pytest.warns(LegacyPickleWarning, match="pickled before pickle became opt-in"):
            loaded = upgraded.load_model("models:/fraud/1")
        assert (loaded.predict(FEATURES) == model.predict(FEATURES)).all()
        assert "legacy_pickle" not in upgraded.get_version("fraud", opted_in).artifact_format
        with pytest.raises(PickleNotAllowed):
            upgraded.load_model(f"models:/fraud/{opted_in}")
        assert upgraded.verify_audit().intact


def test_a_legacy_mark_forged_on_an_opted_in_pickle_is_reported_by_verify(registry: Registry, database_url: str, tmp_path):
    """Marking a pickle registered by opt-in as legacy (plain SQL) would let it load; 'audit --verify' names the version."""
    register_pickled(registry, "fraud", hostile(tmp_path)[0])
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            format = connection.execute(select(VERSIONS.c.artifact_format)).scalar_one()
            connection.execute(update(VERSIONS).values(artifact_format={**format, "legacy_pickle": True}))
    finally:
        engine.dispose()
    report = registry.verify_audit()
    assert not report.intact and report.divergence_count == 1
    assert report.divergences[0].startswith("model_versions fraud version 1: its artifact format")
