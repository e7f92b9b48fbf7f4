"""Generated names, URIs, versions, JSON, database URLs and paths thrown at the CLI and the API.

Whatever comes in, the CLI answers with exit 0, or exit 1 and one stderr line,
or exit 2 (a usage error) and one stderr line: never a traceback, never
another exit code; and a refusal writes nothing. The API raises only
:class:`~registry_core.errors.RegistryError` subclasses for bad input, and
writes nothing when it does.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from registry_core import Registry, RegistryError
from registry_core.cli import cli

SETTINGS = settings(
    max_examples=100, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A folder of things that are not regular files, and one that is."""
    base = tmp_path_factory.mktemp("inputs")
    (base / "regular").write_bytes(b"weights")
    os.mkfifo(base / "fifo")
    (base / "loop").symlink_to("loop")
    (base / "loopdir").mkdir()
    (base / "loopdir" / "w.bin").write_bytes(b"w")
    (base / "loopdir" / "loop").symlink_to("loop")
    (base / "fifodir").mkdir()
    (base / "fifodir" / "w.bin").write_bytes(b"w")
    os.mkfifo(base / "fifodir" / "pipe")
    (base / "empty").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(base / "sock"))
    try:
        yield {"base": base, **{p.name: p for p in base.iterdir()}, "device": Path(os.devnull)}
    finally:
        server.close()


@pytest.fixture(scope="module")
def seeded(module_registry: Registry, files: dict[str, Path]) -> Registry:
    """Model 'm' with version 1 in Staging."""
    module_registry.register("m", files["regular"])
    module_registry.transition("m", 1, "Staging")
    return module_registry


class _Deep(list):
    """Lists nested ``depth`` deep, shown briefly (printing one recursively would itself overflow the stack)."""

    def __init__(self, depth: int) -> None:
        value: Any = 1
        for _ in range(depth - 1):
            value = [value]
        super().__init__([value])
        self.depth = depth

    def __repr__(self) -> str:
        return f"<lists nested {self.depth} deep>"


def _nest(depth: int) -> Any:
    return _Deep(depth) if depth else 1


# --- strategies ---------------------------------------------------------------------------------

# Digits of every script, and the look-alikes (superscripts, full-width, Arabic-Indic) in particular.
unicode_digits = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4)
versions = st.one_of(
    unicode_digits,
    st.integers(-5, 2**40).map(str),
    st.sampled_from(["1", " 1 ", "01", "１", "١", "²", "1.0", "0", "-1", "", "latest", "Production"]),
    st.text(max_size=12),
)
names = st.one_of(st.just("m"), st.text(max_size=20), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True))
selectors = st.one_of(versions, st.sampled_from(["Production", "staging", "latest", "@champ", ""]))
uris = st.one_of(
    st.builds(lambda n, s: f"models:/{n}/{s}", names, selectors),
    st.builds(lambda n, s: f"models:/{n}@{s}", names, st.text(max_size=10)),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=20,
)
json_texts = st.one_of(
    json_values.map(lambda v: json.dumps(v)),
    st.integers(0, 3000).map(lambda d: "[" * d + "]" * d),
    st.integers(0, 3000).map(lambda d: '{"a":' * d + "1" + "}" * d),
    st.integers(0, 3000).map(lambda d: "[" * d),
    st.sampled_from(["NaN", '{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": "\\ud800"}', "{", "", "{}"]),
    st.text(max_size=40),
)
#: Python values JSON cannot hold, for the API.
non_json = st.one_of(
    st.sets(st.integers(), max_size=3), st.binary(max_size=5), st.just(float("nan")), st.just(float("inf")),
    st.just(object()), st.just(1 + 2j), st.integers(0, 300).map(lambda d: _nest(d)), st.just(_nest(5000)),
)
api_values = st.one_of(json_values, non_json, st.dictionaries(st.text(max_size=5), non_json, max_size=2))
path_names = st.one_of(
    st.sampled_from(["regular", "fifo", "sock", "loop", "loopdir", "fifodir", "empty", "device", "missing"]),
    st.text(st.characters(blacklist_characters="/\x00"), min_size=1, max_size=20).filter(lambda t: t not in (".", "..")),
)
database_urls = st.one_of(
    st.builds(lambda t: "postgresql://" + t, st.text(alphabet="[]:@/?%=&#!", max_size=12)),
    st.sampled_from(["postgresql://[::1", "postgresql://h:port/db", "postgresql+nodriver://x/y", "mysql://x/y",
                     ":", "sqlite:", "sqlite:///?mode=ro", "postgresql://u:p@[::1:5432/db"]),
    st.text(alphabet="abcsqlite:/[]%?=&", max_size=20),
)


def _path(files: dict[str, Path], name: str) -> str:
    return str(files[name]) if name in files else str(files["base"] / name)


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli_run(seeded: Registry, module_database_url: str, module_artifact_root: Path, module_catalog_state):
    """Run the CLI in-process and check the contract on its outcome; returns the exit code."""
    runner = CliRunner()
    env = {"REGISTRY_DATABASE_URL": module_database_url, "REGISTRY_ARTIFACT_ROOT": str(module_artifact_root),
           "REGISTRY_ACTOR": "bob"}

    def run(args: list[str]) -> int:
        before = module_catalog_state()
        result = runner.invoke(cli, args, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"registry {args!r} raised {result.exception!r}") from result.exception
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
        if result.exit_code:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, (args, result.stderr)
            if lines[0].startswith("{"):  # with --json (which may also be consumed as another option's value)
                assert "--json" in args and json.loads(lines[0])["error"]
            else:
                assert lines[0].startswith("registry: error: "), (args, result.stderr)
                if result.exit_code == 2:
                    assert lines[0].endswith(" --help'"), lines[0]
            assert module_catalog_state() == before, f"registry {args!r} failed but changed the catalog"
        return result.exit_code

    return run


@SETTINGS
@given(name=names, version=versions, as_json=st.booleans())
@example(name="m", version="１", as_json=False).via("full-width 1, once recorded as an approval of version 1")
@example(name="m", version="²", as_json=False).via("superscript 2, once a traceback")
def test_cli_approve_any_name_and_version(cli_run: Callable[[list[str]], int], name: str, version: str, as_json: bool):
    code = cli_run(["approve", name, version, *(["--json"] if as_json else [])])
    if code == 0:
        assert version.strip().isascii(), f"approved version {version!r}"


@SETTINGS
@given(uri=uris)
@example(uri="models:/m/١").via("Arabic-Indic 1, once resolved to version 1")
@example(uri="models:/m/²").via("superscript 2, once a traceback")
def test_cli_show_any_uri(cli_run: Callable[[list[str]], int], uri: str):
    if cli_run(["show", uri]) == 0:
        assert uri.isascii(), f"showed {uri!r}"


@SETTINGS
@given(version=versions, details=json_texts)
def test_cli_check_any_details(cli_run: Callable[[list[str]], int], version: str, details: str):
    cli_run(["check", "m", version, "quality", "--failed", "--details", details])


@SETTINGS
@given(name=names, path=path_names, signature=st.one_of(st.none(), json_texts), card=st.one_of(st.none(), path_names))
def test_cli_register_any_path(cli_run, files: dict[str, Path], name: str, path: str, signature: str | None, card: str | None):
    args = ["register", name, _path(files, path)]
    if signature is not None:
        args += ["--signature", signature]
    if card is not None:
        args += ["--model-card", _path(files, card)]
    cli_run(args)


@SETTINGS
@given(url=database_urls, command=st.sampled_from([["models"], ["approve", "m", "1"], ["db", "status"]]))
def test_cli_any_database_url(cli_run: Callable[[list[str]], int], url: str, command: list[str]):
    cli_run(["--db", url, *command])


@SETTINGS
@given(
    args=st.lists(
        st.one_of(st.sampled_from(["audit", "versions", "history", "--action", "--limit", "--version", "--json", "m",
                                   "version.promote", "--before", "--stage", "0", "x"]), st.text(max_size=8)),
        min_size=1, max_size=5,
    )
)
def test_cli_any_arguments_to_read_commands(cli_run: Callable[[list[str]], int], args: list[str]):
    if args[0] not in ("audit", "versions", "history", "show", "models"):
        args = ["audit", *args]
    cli_run(args)


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def api_call(seeded: Registry, module_catalog_state):
    """Call the API; any exception must be a RegistryError, and a refused call must write nothing.

    Only calls through here write to the module's catalog, so the state after one call is the state before the
    next: it is read again after every call, compared after a refusal, and never read twice in between.
    """
    known: list[dict[str, object]] = [module_catalog_state()]

    def call(action: Callable[[], Any]) -> None:
        before = known[0]
        try:
            action()
        except RegistryError:
            assert module_catalog_state() == before
        else:
            known[0] = module_catalog_state()
        # Anything else propagates and fails the test.

    return call


@SETTINGS
@given(name=st.one_of(names, api_values), version=st.one_of(versions, api_values), details=api_values)
@example(name="m", version=1, details={"deep": _nest(5000)}).via("once a RecursionError")
@example(name="m", version=1, details={"set": {1, 2}}).via("non-JSON value")
def test_api_record_check_any_values(api_call, seeded: Registry, name: Any, version: Any, details: Any):
    api_call(lambda: seeded.record_check(name, version, "quality", passed=False, details=details))


@SETTINGS
@given(params=st.dictionaries(st.text(max_size=6), api_values, max_size=3), signature=api_values)
def test_api_register_any_params_and_signature(api_call, seeded: Registry, files: dict[str, Path], params, signature):
    api_call(lambda: seeded.register("m", files["regular"], params=params, signature=signature))


@SETTINGS
@given(
    uri=st.one_of(uris, api_values),
    version=st.one_of(versions, api_values),
    limit=st.one_of(st.integers(-3, 20_000), api_values),
    actions=st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["version.promote"])))),
)
def test_api_reads_any_values(api_call, seeded: Registry, uri: Any, version: Any, limit: Any, actions: Any):
    api_call(lambda: seeded.resolve(uri))
    api_call(lambda: seeded.as_actor("bob").approve("m", version))
    api_call(lambda: seeded.audit_events("m", version=version, limit=limit, actions=actions))


@SETTINGS
@given(path=path_names)
def test_api_register_any_path(api_call, seeded: Registry, files: dict[str, Path], path: str):
    api_call(lambda: seeded.register("m", _path(files, path)))



@SETTINGS
@given(
    name=st.one_of(names, api_values),
    version=st.one_of(versions, api_values),
    text=st.one_of(st.text(max_size=20), api_values),
    tags=st.one_of(st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=6), api_values), max_size=3), api_values),
)
def test_api_writes_any_values(api_call, seeded: Registry, name: Any, version: Any, text: Any, tags: Any):
    api_call(lambda: seeded.set_tags(name, tags, version=version))
    api_call(lambda: seeded.set_description(name, text, version=version))
    api_call(lambda: seeded.set_alias(name, text, version))
    api_call(lambda: seeded.transition(name, version, text, reason=text))
    api_call(lambda: seeded.rollback(name, reason=text, to_version=version))
    api_call(lambda: seeded.set_policy(name, approvals_required=version, approvers=tags, staging_checks=text))
    api_call(lambda: seeded.record_deployment(name, version, target=text, succeeded=True, details=tags))
    api_call(lambda: seeded.as_actor("bob").reject(name, version, comment=text))


@SETTINGS
@given(url=st.one_of(database_urls, api_values))
def test_api_any_database_url(module_artifact_root: Path, url: Any):
    """Opening a registry on a malformed URL raises a RegistryError (and creates nothing: read-only open)."""
    with contextlib.suppress(RegistryError):
        Registry(url, module_artifact_root, actor="alice", create=False).close()
