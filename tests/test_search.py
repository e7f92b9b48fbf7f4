"""Searching models and versions: the filter language, results and pages, the indexes, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from registry_core import InvalidInput, Registry
from registry_core.cli import cli
from registry_core.search import versions_query
from registry_core.search_filters import parse_filter, parse_order_by

FILTERS = [
    "name = 'alpha'",
    "name != 'alpha'",
    "name LIKE 'b%'",
    "name ilike 'B%'",
    'name = "double quoted"',
    "name IN ('alpha', 'Beta')",
    "name NOT IN ('alpha')",
    "tags.team = 'risk'",
    "tags.`k.x` LIKE 'value%'",
    'tags."owner email" = \'a@b\'',
    "tags.team = 'risk' AND name LIKE '%2' and tags.tier != 'gold'",
    "version_number > 3",
    "version_number <= 10 AND name = 'alpha'",
    "run_id IN ('r1', 'r3')",
    "run_id = 'r2'",
    "source_path LIKE 'file:%'",
]
BAD_FILTERS = {
    "name = alpha": "expected a quoted value",
    "description = 'x'": "unknown attribute 'description'",
    "name = 'a' OR name = 'b'": "joined by AND",
    "tags.kind IN ('rf')": "tags take",
    "version_number = 'one'": "whole number",
    "version_number LIKE '1%'": "version_number takes",
    "run_id <= 'x'": "run_id does not take",
    "name IN 'a'": "parenthesised list",
    "name = 'a' AND": "ends where",
    "name = 'unterminated": "cannot read",
    "name NOT LIKE 'a'": "NOT must be followed by IN",
    "tags.`` = 'x'": "empty tag key",
}


def test_filters_parse_as_mlflow_parses_them():
    """The same conditions MLflow's own parser gives, for every filter above (keywords in any case)."""
    search_utils = pytest.importorskip("mlflow.utils.search_utils")
    for filter_string in FILTERS:
        expected = search_utils.SearchModelVersionUtils.parse_search_filter(filter_string)
        for condition in expected:
            condition["comparator"] = condition["comparator"].upper()
        assert parse_filter(filter_string, versions=True) == expected, filter_string


@pytest.mark.parametrize(("filter_string", "message"), sorted(BAD_FILTERS.items()))
def test_a_bad_filter_is_one_line_naming_the_problem(filter_string: str, message: str):
    with pytest.raises(InvalidInput) as refused:
        parse_filter(filter_string, versions=True)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_model_filters_know_only_models_attributes():
    with pytest.raises(InvalidInput, match="unknown attribute 'run_id'"):
        parse_filter("run_id = 'r1'", versions=False)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("nametgs.=!<>'\"`()%_ ,ANDLIKEORNvrsiu0123456789")), max_size=40))
def test_any_text_parses_or_is_refused_cleanly(filter_string: str):
    """Whatever is typed: conditions, or InvalidInput on one line; never another exception."""
    try:
        parse_filter(filter_string, versions=True)
    except InvalidInput as refused:
        assert "\n" not in str(refused)


def test_order_by_keys_and_directions():
    assert parse_order_by(["name", "timestamp DESC"], versions=False) == [("name", True), ("last_updated_timestamp", False)]
    for bad, message in (("size", "the keys are"), ("name UP", "KEY ASC or KEY DESC"), ("name", "twice")):
        with pytest.raises(InvalidInput, match=message):
            parse_order_by([bad, "name"] if bad == "name" else [bad], versions=True)


@pytest.fixture
def filled(registry: Registry, tmp_path: Path) -> Registry:
    """Two models; versions with run ids and tags, one long tag value, one version moved on (its change is newest)."""
    artifact = tmp_path / "model.bin"
    for number, (name, run_id, team) in enumerate(
        [("alpha", "r1", "risk"), ("beta", "r2", "ops"), ("alpha", "r2", "risk"), ("alpha", "r3", "x" * 300)]
    ):
        artifact.write_bytes(f"weights {number}".encode())
        registry.register(name, artifact, run_id=run_id, tags={"team": team})
    registry.set_tags("beta", {"team": "ops"})
    registry.transition("alpha", 1, "Staging", reason="checked")
    return registry


def test_versions_by_tag_run_and_name(filled: Registry):
    def found(filter_string: str) -> list[tuple[str, int]]:
        return [(v.model, v.version) for v in filled.search_versions(filter_string).items]

    assert found("tags.team = 'risk'") == [("alpha", 1), ("alpha", 2)]  # latest change first
    assert found(f"tags.team = '{'x' * 300}'") == [("alpha", 3)]  # longer than the indexed prefix
    assert found(f"tags.team = '{'x' * 200}'") == []
    assert found("run_id IN ('r2') AND name = 'alpha'") == [("alpha", 2)]
    assert found("version_number >= 2 AND tags.team LIKE 'r%'") == [("alpha", 2)]
    assert [m.name for m in filled.search_models("tags.team = 'ops'").items] == ["beta"]


def test_pages_follow_each_other_to_the_end(filled: Registry):
    """Pages of one version, in the default order, give every version once; the last page has no token."""
    seen, token = [], None
    while True:
        page = filled.search_versions(limit=1, page_token=token)
        seen += [(v.model, v.version) for v in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [(v.model, v.version) for v in filled.search_versions(limit=100).items]
    assert len(seen) == 4 and seen[0] == ("alpha", 1)
    with pytest.raises(InvalidInput, match="invalid page token"):
        filled.search_versions(page_token="not-a-token")


def _plan(registry: Registry, statement) -> str:
    engine = registry.db.engine
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return " | ".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        connection.execute(text("SET enable_seqscan = off"))  # a tiny table would be read whole whatever the indexes
        return " | ".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))


@pytest.mark.parametrize(
    ("filter_string", "order_by", "index"),
    [
        ("tags.team = 'risk'", [], "ix_version_tags_key_value"),
        (None, [], "ix_model_versions_updated_at"),
        (None, ["creation_timestamp DESC"], "ix_model_versions_created_at"),
        ("name = 'alpha'", ["creation_timestamp DESC"], "ix_model_versions_model_id_created_at"),
    ],
)
def test_searches_read_an_index_not_every_version(filled: Registry, filter_string, order_by, index):
    """The database's own plan: the tag index finds the owners, the time indexes give the order."""
    dialect = filled.db.engine.dialect.name
    plan = _plan(filled, versions_query(parse_filter(filter_string, versions=True),
                                        parse_order_by(order_by, versions=True), 10, 0, dialect))
    if dialect == "postgresql" and filter_string == "name = 'alpha'":
        # PostgreSQL plans the one model as the outer side of a nested loop: which of the indexes led by
        # model_id it reads a tiny table's versions through is a tie. What matters is that one of them is.
        index = "Index Cond: (model_id = registered_models.id)"
    assert index in plan, plan
    assert "SCAN version_tags" not in plan and "Seq Scan" not in plan, plan
    if dialect == "sqlite" and "tags" in (filter_string or ""):
        assert "(key=? AND <expr>=?)" in plan, plan  # the value's prefix is part of the index search


def test_cli_search_prints_a_table_pages_and_json(filled: Registry, database_url: str, artifact_root: Path):
    env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root)}
    runner = CliRunner()
    first = runner.invoke(cli, ["search", "versions", "tags.team = 'risk'", "--limit", "1"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1].split()[:2] == ["alpha", "1"]
    token = first.stdout.strip().splitlines()[-1].split("--page-token ")[1]
    second = json.loads(runner.invoke(cli, ["search", "versions", "tags.team = 'risk'", "--limit", "1",
                                            "--page-token", token, "--json"], env=env).stdout)
    assert [(v["model"], v["version"]) for v in second["items"]] == [("alpha", 2)]
    assert second["next_page_token"] is None
    models = runner.invoke(cli, ["search", "models", "name LIKE 'b%'"], env=env)
    assert models.stdout.splitlines()[1].split()[0] == "beta"
    refused = runner.invoke(cli, ["search", "versions", "name = alpha"], env=env)
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "registry: error: search filter: expected a quoted value at position 8, found 'alpha' (quote strings with ' or \")"
    ]
