"""Run MLflow's own model-registry tests against the registry's store plugin and MLflow's SQL store.

Usage::

    python compat/mlflow_suite.py MLFLOW_CHECKOUT [--run both|plugin|baseline] [-k EXPR] [FILE ...]

MLFLOW_CHECKOUT holds MLflow's ``tests/`` tree. The baseline runs the selected
tests exactly as MLflow ships them (MLflow's ``sqlite://`` store); the plugin
run points only their registry stores at a fresh ``registry+sqlite://`` catalog
per test (see ``OVERRIDE``). Test bodies are never changed.

Each plugin result is classified per test id as passed, skipped, failed in
both (version skew: it fails on MLflow's own store too), refused by design
(grouped by the registry's refusal message) or a genuine incompatibility.
The baseline's results are cached per MLflow version and checkout, so later
runs of the plugin side (or of a subset, with ``-k`` or files) compare
against them without running MLflow's store again.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

SELECTION = [
    "tests/store/model_registry/test_sqlalchemy_store.py",
    "tests/tracking/test_model_registry.py",
    "tests/tracking/_model_registry/test_model_registry_fluent.py",
    "tests/tracking/test_client_webhooks.py",
    "tests/tracking/test_rest_tracking.py",
]
#: Only the registry tests of test_rest_tracking.py are selected.
REST_FILTER = "not test_rest_tracking or registered_model or model_version or registry or alias or webhook"

#: Set for both runs. MLflow 3.17 resolves a webhook's host name before it accepts the webhook; the tests'
#: hosts (example.com) cannot be resolved on a machine without DNS, which would fail them on MLflow's store
#: for a reason that is neither MLflow's nor ours. The registry's store ignores this variable.
ENVIRONMENT = {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}

#: Writes each test's outcome and its exception lines to SUITE_RESULTS (one JSON object a line).
REPORTER = '''
import json, os

def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.skipped:
            text = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        elif report.failed:
            lines = str(report.longrepr).splitlines()
            text = "\\n".join(line[4:] for line in lines if line.startswith("E   "))[:4000] or lines[-1]
        else:
            text = ""
        outcome = "failed" if report.failed else report.outcome
        with open(os.environ["SUITE_RESULTS"], "a") as out:
            out.write(json.dumps({"id": report.nodeid, "when": report.when, "outcome": outcome, "text": text}) + "\\n")
'''

#: Points the selected tests' registry stores at a fresh catalog per test; loaded in the plugin run only.
#: - the ``store`` fixture (MLflow's store tests) is the plugin's store;
#: - a registry MLflow would open on a SQL tracking database (in-process clients, ``mlflow.register_model``)
#:   is the plugin's instead; a registry at an http(s) tracking URI stays there, so clients of a test's
#:   server still reach it over REST;
#: - the registry store of a server the tests start in-process is the plugin's, without making it the
#:   process's registry URI (which would send the tests' clients around the server); servers started as
#:   subprocesses read ``_MLFLOW_SERVER_REGISTRY_STORE``.
OVERRIDE = '''
import os, uuid, pytest
from mlflow.server import handlers
from mlflow.tracking._model_registry import utils

SQL_SCHEMES = {"sqlite", "postgresql", "mysql", "mssql"}
_current = []

def _uri(tmp_path):
    return f"registry+sqlite:///{tmp_path / ('catalog-' + uuid.uuid4().hex[:8] + '.db')}"

def _own_store(tmp_path, **_):
    store = utils._get_store(_uri(tmp_path))
    yield store
    store.registry.close()

def pytest_collection_modifyitems(items):
    for item in items:
        for fixturedef in item._fixtureinfo.name2fixturedefs.get("store", ()):
            fixturedef.func = _own_store

_default_registry = utils._get_default_registry_uri_for_tracking_uri

def _registry_for(tracking_uri):
    uri = _default_registry(tracking_uri)
    scheme = (uri or "").split(":", 1)[0].split("+", 1)[0]
    return _current[-1] if _current and scheme in SQL_SCHEMES else uri

utils._get_default_registry_uri_for_tracking_uri = _registry_for

_server_store = handlers._get_model_registry_store

def _plugin_server_store(registry_store_uri=None):
    if handlers._model_registry_store is None and _current:
        before, exported = utils._registry_uri, os.environ.get("MLFLOW_REGISTRY_URI")
        try:
            return _server_store(_current[-1])
        finally:  # MLflow makes the server's registry the process's, and exports it: undo both
            utils._registry_uri = before
            if exported is None:
                os.environ.pop("MLFLOW_REGISTRY_URI", None)
            else:
                os.environ["MLFLOW_REGISTRY_URI"] = exported
    return _server_store(registry_store_uri)

handlers._get_model_registry_store = _plugin_server_store

if os.environ.get("SUITE_PROBE_SOURCES"):  # --probe: look behind the refusal of sources that cannot be read
    from pathlib import Path
    from registry_core.errors import InvalidInput
    from registry_core.mlflow_store import sources, store as plugin_store

    def _placeholder(source, *, workdir, run_id=None, model_id=None, **kwargs):
        try:
            return sources.fetch_source(source, workdir=workdir, run_id=run_id, model_id=model_id, **kwargs)
        except InvalidInput as exc:
            if "does not exist" not in exc.message and "cannot be read" not in exc.message:
                raise
        folder = Path(workdir) / "placeholder"
        folder.mkdir(exist_ok=True)
        (folder / "MLmodel").write_text("flavors: {}\\n")
        return sources.Fetched(folder, run_id, model_id)

    plugin_store.fetch_source = _placeholder

@pytest.fixture(autouse=True)
def _plugin_registry(tmp_path, monkeypatch):
    uri = _uri(tmp_path)
    monkeypatch.setenv("_MLFLOW_SERVER_REGISTRY_STORE", uri)
    _current.append(uri)
    yield
    _current.remove(uri)
'''


@dataclass(frozen=True)
class Refusal:
    """A refusal by design: a regular expression for the registry's message, the group's name and why."""

    marker: str
    group: str
    reason: str


_SOURCES = ("a version's bytes are copied into the catalog at registration and verified by digest, "
            "so a source that cannot be read cannot become a version")
_IMMUTABLE = "versions and models are immutable and audited; archive instead"

#: The registry's refusal messages (registry_core/mlflow_store) -> group; the first marker found wins.
REFUSALS = (
    Refusal("(MLflow prompts)", "prompts", "prompts are free-form templates, not governed models"),
    Refusal("tagging a model as an MLflow prompt", "prompts", "prompts are free-form templates, not governed models"),
    Refusal(r"model source '.*' does not exist", "sources must exist", _SOURCES),
    Refusal(r"model source '.*' cannot be read", "sources must exist", _SOURCES),
    Refusal(r"logged model '.*' of source '.*' cannot be read", "sources must exist", _SOURCES),
    Refusal("deleting a registered model is not supported", "model deletion", _IMMUTABLE),
    Refusal("deleting a model version is not supported", "model deletion", _IMMUTABLE),
    Refusal("renaming a registered model is not supported", "model renaming",
            "a model's name is part of every audit event and of its deployments' URIs"),
    Refusal(r"cannot move from \w+ to \w+", "stage workflow",
            "stages move along the stage table only; Production through a gated promotion or a rollback"),
    # Not refusals but deliberate differences, seen by an exact comparison.
    Refusal(r"assert 'registry-artifacts:", "download URI is the catalog's copy", _SOURCES),
    Refusal("registry.* tags shown", "registry.* tags shown",
            "a version's gates, approvals and lineage show in MLflow's clients and UI as read-only registry.* tags"),
)

#: Failing tests whose text shows no refusal (they assert an HTTP status only), each checked by hand:
#: the server answers 400 "model source 'file:///…/artifacts' does not exist" for a run that logged nothing.
BY_HAND = {
    "test_create_model_version_with_file_uri": "sources must exist",
    "test_create_model_version_with_path_source": "sources must exist",
}
_EXTRA_ITEMS = re.compile(r"Left contains \d+ more items?:\s*(\{.*?\})\s*$", re.MULTILINE)


def _only_registry_tags_differ(text: str) -> bool:
    """Whether a failed dict comparison differs only by keys of the registry's ``registry.*`` tags."""
    match = _EXTRA_ITEMS.search(text)
    if not match or "Differing items" in text or "Right contains" in text:
        return False
    try:
        extra = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return False
    return isinstance(extra, dict) and all(str(key).startswith("registry.") for key in extra)

#: Failing tests that drive MLflow's SQLAlchemy store itself rather than the store interface, each with
#: what it reaches into (checked by hand); an AttributeError on these attributes is recognised too.
SQL_INTERNALS_ATTRIBUTES = ("engine", "db_uri", "ManagedSessionMaker", "_get_registered_model")
SQL_INTERNALS = {
    "test_search_registered_model_order_by":
        "fixes creation times by patching mlflow.store.model_registry.sqlalchemy_store.get_current_time_millis",
}

Results = dict[str, tuple[str, str]]


def _outcomes(path: Path) -> Results:
    """Each test id's final outcome (a failure in any phase wins) and the text that explains it."""
    results: Results = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        previous = results.get(row["id"])
        if previous is None or previous[0] == "passed" or (row["outcome"] == "failed" and previous[0] != "failed"):
            results[row["id"]] = (row["outcome"], row["text"])
    return results


def run(checkout: Path, store: str, selection: list[str], keyword: str | None, timeout: int,
        probe: bool = False) -> Results:
    """Run ``selection`` from ``checkout`` against ``store`` ("plugin" or "baseline") and return each test's result."""
    work = Path(tempfile.mkdtemp(prefix=f"mlflow-suite-{store}-"))
    (work / "suite_reporter.py").write_text(REPORTER)
    plugins = ["-p", "suite_reporter"]
    if store == "plugin":
        (work / "suite_override.py").write_text(OVERRIDE)
        plugins += ["-p", "suite_override"]
    expression = f"({REST_FILTER})" + (f" and ({keyword})" if keyword else "")
    cmd = [sys.executable, "-m", "pytest", *selection, "-k", expression, *plugins, "-q", "-p", "no:cacheprovider",
           "--no-header", "-o", "addopts=", f"--junitxml={work / 'junit.xml'}", "--timeout=300"]
    # The checkout under test comes first, so the plugin imported (also by servers the tests start) is this one.
    path = os.pathsep.join([str(work), str(PROJECT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "SUITE_RESULTS": str(work / "results.jsonl"), "PYTHONPATH": path, **ENVIRONMENT}
    if store == "plugin":  # the catalogs' stored bytes go to this run's folder, not into MLflow's checkout
        env["REGISTRY_ARTIFACT_ROOT"] = str(work / "registry-artifacts")
    if probe:
        env["SUITE_PROBE_SOURCES"] = "1"
    print(f"[{store}] {' '.join(cmd[3:])}  (junit: {work / 'junit.xml'})", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=checkout, env=env, timeout=timeout, check=False, stdout=subprocess.DEVNULL)
    results_file = work / "results.jsonl"
    if not results_file.exists():
        raise SystemExit(f"error: the {store} run reported no test; see pytest's output with {' '.join(cmd)}")
    return _outcomes(results_file)


def cache_file(cache: Path, checkout: Path) -> Path:
    """Where the baseline of this checkout and this MLflow version is kept."""
    from importlib.metadata import version

    key = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:12]
    return cache / f"baseline-mlflow-{version('mlflow')}-{key}.json"


def _sql_internals(name: str, text: str) -> str | None:
    """What a failing test reaches into inside MLflow's SQLAlchemy store, or None."""
    base = name.split("::")[-1].split("[")[0]
    if base in SQL_INTERNALS:
        return SQL_INTERNALS[base]
    for attribute in SQL_INTERNALS_ATTRIBUTES:
        if f"object has no attribute '{attribute}'" in text:
            return f"reads the store's {attribute}"
    return None


def classify(name: str, plugin: tuple[str, str], baseline: Results) -> str:
    """One plugin result as passed, skipped, failed in both (skew), no baseline, refused: GROUP or genuine."""
    outcome, text = plugin
    if outcome != "failed":
        return outcome
    if name not in baseline:
        return "no baseline"
    if baseline[name][0] == "failed":
        return "failed in both (skew)"
    if _sql_internals(name, text):
        return "drives MLflow's SQL store internals"
    if _only_registry_tags_differ(text):
        return "refused: registry.* tags shown"
    refusal = next((r for r in REFUSALS if re.search(r.marker, text)), None)
    if refusal:
        return f"refused: {refusal.group}"
    by_hand = BY_HAND.get(name.split("::")[-1].split("[")[0])
    return f"refused: {by_hand}" if by_hand else "genuine incompatibility"


def report(plugin: Results, baseline: Results) -> Counter[str]:
    """Print the table of classes with the refusals' reasons, then each test that is neither passed, skipped
    nor skew with the line that explains it; return the counts."""
    classes = {name: classify(name, result, baseline) for name, result in plugin.items()}
    counts = Counter(classes.values())
    print("| Result | Tests |\n|---|---:|")
    for key in ("passed", "skipped", "failed in both (skew)", "no baseline"):
        if counts[key] or key == "passed":
            print(f"| {key} | {counts[key]} |")
    for key in sorted(k for k in counts if k.startswith("refused")):
        reason = next(r.reason for r in REFUSALS if f"refused: {r.group}" == key)
        print(f"| {key} ({reason}) | {counts[key]} |")
    internals = "drives MLflow's SQL store internals"
    if counts[internals]:
        print(f"| {internals} | {counts[internals]} |")
    print(f"| genuine incompatibility | {counts['genuine incompatibility']} |")
    print(f"| **total** | {sum(counts.values())} |")
    for kind in (internals, "genuine incompatibility", "no baseline"):
        names = sorted(name for name, found in classes.items() if found == kind)
        if names:
            print(f"\n{kind[0].upper() + kind[1:]}:\n")
        for name in names:
            why = _sql_internals(name, plugin[name][1]) if kind == internals else None
            first = why or next((line.strip() for line in plugin[name][1].splitlines() if line.strip()), "")
            print(f"- `{name}`: {first[:300]}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout holding MLflow's tests/ tree")
    parser.add_argument("files", nargs="*", help="test files of the selection to run (default: all five)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression to run a subset")
    parser.add_argument("--run", choices=("both", "plugin", "baseline"), default="both",
                        help="baseline: MLflow's store only (cached); plugin: compare against the cached baseline")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-mlflow-suite")
    parser.add_argument("--refresh-baseline", action="store_true", help="run the baseline even when cached")
    parser.add_argument("--probe", action="store_true",
                        help="registers a placeholder where a source cannot be read, to see what the tests do after "
                             "that refusal; for finding differences only, never for the counts")
    parser.add_argument("--report-only", action="store_true", help="classify the last plugin run again, run nothing")
    parser.add_argument("--timeout", type=int, default=3 * 3600, help="seconds for each pytest run")
    args = parser.parse_args(argv)
    if not (args.checkout / "tests").is_dir():
        print(f"error: {args.checkout} has no tests/ folder", file=sys.stderr)
        return 2
    unknown = [f for f in args.files if f not in SELECTION]
    if unknown:
        print(f"error: {unknown[0]} is not one of the selection: {', '.join(SELECTION)}", file=sys.stderr)
        return 2
    selection = args.files or SELECTION
    start = time.monotonic()
    cached = cache_file(args.cache, args.checkout)
    baseline: Results = json.loads(cached.read_text()) if cached.exists() else {}
    if args.run in ("both", "baseline") and (args.refresh_baseline or not baseline or args.run == "baseline"):
        baseline.update(run(args.checkout, "baseline", selection, args.keyword, args.timeout))
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(baseline, indent=0, sort_keys=True))
        print(f"[baseline] {len(baseline)} results cached in {cached}", file=sys.stderr)
    if args.run == "baseline":
        print(dict(Counter(outcome for outcome, _ in baseline.values())))
        return 0
    last = args.cache / "last-plugin-run.json"
    if args.report_only:
        plugin = json.loads(last.read_text())
    else:
        plugin = run(args.checkout, "plugin", selection, args.keyword, args.timeout, probe=args.probe)
        if args.probe:
            print("PROBE RUN: sources that cannot be read were replaced by placeholders; not a measurement.\n")
        else:
            args.cache.mkdir(parents=True, exist_ok=True)
            last.write_text(json.dumps(plugin, indent=0, sort_keys=True))
    counts = report(plugin, baseline)
    print(f"\nMLflow tests at {args.checkout}; {time.monotonic() - start:.0f} s.")
    return 1 if counts["genuine incompatibility"] else 0


if __name__ == "__main__":
    sys.exit(main())
