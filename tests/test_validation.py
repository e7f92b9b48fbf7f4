"""Bad input: each case raises the documented error and writes nothing, not a row, not an audit event, not a blob."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_core import InvalidInput, NotFound, Registry, Stage


@dataclass
class Catalog:
    registry: Registry
    model_file: Path
    capture: Callable[[], dict[str, object]]


@pytest.fixture(scope="module")
def catalog(module_registry: Registry, module_catalog_state, tmp_path_factory) -> Catalog:
    """One catalog for every case of this module, since none of them may change it.

    'fraud' has version 1 in Production (tagged, aliased 'champion') and version 2 in Staging.
    """
    model_file = tmp_path_factory.mktemp("files") / "model.bin"
    model_file.write_bytes(b"model weights v1")
    registry = module_registry
    for number in (1, 2):
        registry.register("fraud", model_file, tags={"owner": "risk"})
        registry.as_actor("bob").approve("fraud", number)
        registry.transition("fraud", number, "Staging")
    registry.promote("fraud", 1)
    registry.set_alias("fraud", "champion", 1)
    return Catalog(registry, model_file, module_catalog_state)


def case(call: Callable[[Registry, Path], object], error: type[Exception], match: str, id: str):
    return pytest.param(call, error, match, id=id)


NOT_FOUND = [
    case(lambda r, f: r.get_model("ghost"), NotFound, "model 'ghost' does not exist", "get-unknown-model"),
    case(lambda r, f: r.get_version("ghost", 1), NotFound, "model 'ghost' does not exist", "version-of-unknown-model"),
    case(lambda r, f: r.get_version("fraud", 99), NotFound, "has no version 99", "unknown-version"),
    case(lambda r, f: r.list_versions("ghost"), NotFound, "does not exist", "list-unknown-model"),
    case(lambda r, f: r.transition("ghost", 1, "Staging"), NotFound, "does not exist", "transition-unknown-model"),
    case(lambda r, f: r.transition("fraud", 99, "Archived"), NotFound, "no version 99", "transition-unknown-version"),
    case(lambda r, f: r.promote("fraud", 99), NotFound, "no version 99", "promote-unknown-version"),
    case(lambda r, f: r.as_actor("bob").approve("fraud", 99), NotFound, "no version 99", "approve-unknown-version"),
    case(lambda r, f: r.record_check("fraud", 99, "accuracy", passed=True), NotFound, "no version 99", "check-unknown-version"),
    case(lambda r, f: r.set_tags("fraud", {"k": "v"}, version=99), NotFound, "no version 99", "tag-unknown-version"),
    case(lambda r, f: r.delete_tags("fraud", ["team"], version=1), NotFound, "no tag 'team'", "delete-unknown-tag"),
    case(lambda r, f: r.set_description("ghost", "text"), NotFound, "does not exist", "describe-unknown-model"),
    case(lambda r, f: r.set_alias("fraud", "next", 99), NotFound, "no version 99", "alias-unknown-version"),
    case(lambda r, f: r.delete_alias("fraud", "ghost"), NotFound, "no alias 'ghost'", "delete-unknown-alias"),
    case(lambda r, f: r.set_policy("ghost", approvals_required=2), NotFound, "does not exist", "policy-unknown-model"),
    case(lambda r, f: r.rollback("ghost", reason="incident"), NotFound, "does not exist", "rollback-unknown-model"),
    case(lambda r, f: r.rollback("fraud", to_version=99, reason="incident"), NotFound, "no version 99", "rollback-unknown-version"),
    case(lambda r, f: r.resolve("models:/ghost/1"), NotFound, "does not exist", "uri-unknown-model"),
    case(lambda r, f: r.resolve("models:/fraud/99"), NotFound, "no version 99", "uri-unknown-version"),
    case(lambda r, f: r.resolve("models:/fraud@ghost"), NotFound, "no alias 'ghost'", "uri-unknown-alias"),
    case(lambda r, f: r.resolve("models:/fraud/Archived"), NotFound, "no version in Archived", "uri-empty-stage"),
]

BAD_URIS = [
    "models:/", "models:/a/b/c", "foo:/x/1", "models:/a/staginggg", "models:/a@", "models:/a@Production",
    "models:/fraud", "models:/fraud/", "models:/fraud/0", "models:/fraud/-1", "models:/fraud/1/", "", "models:fraud/1",
]
BAD_NAMES = {"empty": "", "leading-dash": "-fraud", "129-chars": "a" * 129, "slash": "a/b", "at": "a@b", "trailing-space": "a ", "colon": "a:b", "hash": "a#b", "tab": "a\tb"}
BAD_VERSIONS = {"word": "one", "zero": 0, "negative": -1, "zero-text": "0", "negative-text": "-3", "decimal": "1.5",
                "boolean": True, "too-large": 2**31, "float": 1.0}

INVALID_INPUT = [
    *(case(lambda r, f, uri=uri: r.resolve(uri), InvalidInput, "invalid", f"uri-{uri or 'empty'}") for uri in BAD_URIS),
    *(case(lambda r, f, n=n: r.register(n, f), InvalidInput, "invalid model name", f"name-{k}") for k, n in BAD_NAMES.items()),
    case(lambda r, f: r.create_model("a/b"), InvalidInput, "invalid model name", "create-model-bad-name"),
    *(case(lambda r, f, v=v: r.get_version("fraud", v), InvalidInput, "invalid version", f"version-{k}") for k, v in BAD_VERSIONS.items()),
    case(lambda r, f: r.transition("fraud", "two", "Archived"), InvalidInput, "invalid version", "transition-bad-version"),
    case(lambda r, f: r.register("fraud", f, tags={"k": "x" * 100_001}), InvalidInput, "exceeds the maximum length of 100000 characters", "tag-value-too-long"),
    case(lambda r, f: r.set_tags("fraud", {"k": "x" * 100_001}, version=1), InvalidInput, "exceeds the maximum length of 100000 characters", "set-tag-value-too-long"),
    case(lambda r, f: r.set_tags("fraud", {"bad key ": "v"}), InvalidInput, "invalid tag key", "tag-key-ending-in-space"),
    case(lambda r, f: r.set_tags("fraud", {"bad\tkey": "v"}), InvalidInput, "invalid tag key", "tag-key-with-tab"),
    case(lambda r, f: r.set_tags("fraud", {}), InvalidInput, "no tags given", "no-tags"),
    case(lambda r, f: r.delete_tags("fraud", "owner", version=1), InvalidInput, "single string", "tag-keys-as-one-string"),
    case(lambda r, f: r.register("fraud", f, description="d" * 10_001), InvalidInput, "limit is 10000", "description-too-long"),
    case(lambda r, f: r.set_description("fraud", "d" * 10_001, version=1), InvalidInput, "limit is 10000", "set-description-too-long"),
    case(lambda r, f: r.create_model("new", description="d" * 10_001), InvalidInput, "limit is 10000", "model-description-too-long"),
    case(lambda r, f: r.register("fraud", f, tags={f"k{i}": "v" for i in range(101)}), InvalidInput, "limit is 100", "too-many-tags"),
    case(lambda r, f: r.set_tags("fraud", {f"k{i}": "v" for i in range(100)}, version=1), InvalidInput, "would have 101 tags", "tags-added-past-limit"),
    case(lambda r, f: r.record_check("fraud", 2, "schema", passed=True, details="{bad"), InvalidInput, "not valid JSON", "details-bad-json"),
    case(lambda r, f: r.record_check("fraud", 2, "schema", passed=True, details="[1, 2]"), InvalidInput, "JSON object", "details-json-list"),
    case(lambda r, f: r.record_check("fraud", 2, "schema", passed=True, details=[1, 2]), InvalidInput, "JSON object", "details-list"),
    case(lambda r, f: r.record_check("fraud", 2, "schema", passed=True, details={"x": float("nan")}), InvalidInput, "cannot be stored as JSON", "details-nan"),
    case(lambda r, f: r.record_check("fraud", 2, "schema", passed="yes"), InvalidInput, "passed or failed", "check-passed-not-bool"),
    case(lambda r, f: r.record_check("fraud", 2, "has space", passed=True), InvalidInput, "invalid check name", "check-bad-name"),
    case(lambda r, f: r.register("fraud", f, signature="{bad"), InvalidInput, "not valid JSON", "signature-bad-json"),
    case(lambda r, f: r.register("fraud", f, signature="[]"), InvalidInput, "JSON object", "signature-json-list"),
    *(case(lambda r, f, v=v: r.register("fraud", f, metrics={"auc": v}), InvalidInput, "metric 'auc'", f"metric-{k}")
      for k, v in {"nan": float("nan"), "inf": float("inf"), "minus-inf-text": "-inf", "word": "high", "boolean": True}.items()),
    case(lambda r, f: r.register("fraud", f.with_name("missing.bin")), InvalidInput, "does not exist", "artifact-missing"),
    case(lambda r, f: r.transition("fraud", 2, "Stagingg"), InvalidInput, "unknown stage", "transition-unknown-stage"),
    case(lambda r, f: r.list_versions("fraud", stage="bogus"), InvalidInput, "unknown stage", "list-unknown-stage"),
    case(lambda r, f: r.unmet_gates("fraud", 2, "Archived"), InvalidInput, "gates guard", "gates-for-archived"),
    case(lambda r, f: r.set_alias("fraud", "Production", 1), InvalidInput, "reserved", "alias-stage-name"),
    case(lambda r, f: r.set_alias("fraud", "1st", 1), InvalidInput, "invalid alias", "alias-leading-digit"),
    case(lambda r, f: r.list_versions("fraud", limit=0), InvalidInput, "limit", "list-limit-zero"),
    case(lambda r, f: r.audit_events(version=1), InvalidInput, "needs a model name", "audit-version-without-model"),
    case(lambda r, f: r.as_actor("bob").approve("fraud", 1), InvalidInput, "Production", "approve-production-version"),
]


@pytest.mark.parametrize(("call", "error", "match"), NOT_FOUND + INVALID_INPUT)
def test_bad_input_is_refused_and_writes_nothing(catalog: Catalog, call, error, match):
    before = catalog.capture()
    with pytest.raises(error, match=match):
        call(catalog.registry, catalog.model_file)
    assert catalog.capture() == before


def test_the_catalog_under_test_is_what_the_cases_expect(catalog: Catalog):
    """Guards the table above: the versions it names exist, in the stages it assumes."""
    assert {v.version: v.stage for v in catalog.registry.list_versions("fraud")} == {2: Stage.STAGING, 1: Stage.PRODUCTION}
    assert catalog.registry.get_version("fraud", 1).tags == {"owner": "risk"}
    assert catalog.registry.verify_audit().intact


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda r, f: r.register("a" * 128, f), id="name-of-128-chars"),
        pytest.param(lambda r, f: r.register("fraud", f, tags={"k": "x" * 5000}), id="tag-value-of-5000-chars"),
        pytest.param(lambda r, f: r.register("fraud", f, description="d" * 10_000), id="description-of-10000-chars"),
        pytest.param(lambda r, f: r.register("fraud", f, tags={f"k{i}": "v" for i in range(100)}), id="100-tags"),
    ],
)
def test_values_at_the_documented_limits_are_accepted(registry: Registry, model_file, call):
    assert call(registry, model_file).version == 1
