"""Every bad input is one line on stderr, exit 1 (2 for a usage error), and writes nothing: a table of cases."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry_core import InvalidInput, Registry
from registry_core.cli import cli

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 200 + "1" + "}" * 200


@pytest.fixture
def run(database_url: str, artifact_root: Path, tmp_path: Path) -> Callable[..., Result]:
    """``registry ARGS...`` in-process as 'alice', in a working directory of its own."""
    runner = CliRunner()

    def invoke(*args: str, actor: str = "alice") -> Result:
        env = {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root), "REGISTRY_ACTOR": actor}
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def catalog(registry: Registry, model_file: Path) -> Registry:
    """A catalog holding version 1 of model 'm', registered by alice."""
    registry.register("m", model_file)
    return registry


def one_line_refusal(result: Result, *, code: int = 1) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["approve", "m", "²"],
        ["approve", "m", "１"],  # full-width 1: was recorded as an approval of version 1
        ["approve", "m", "١"],  # Arabic-Indic 1
        ["show", "models:/m/١"],
        ["show", "models:/m/²"],
        ["alias", "m", "champ", "１"],
        ["audit", "m", "--version", "²"],
        ["check", "m", "1", "c", "--passed", "--details", DEEP_ARRAY],
        ["check", "m", "1", "c", "--passed", "--details", DEEP_OBJECT],
        ["check", "m", "1", "c", "--passed", "--details", '{"x": NaN}'],
        ["check", "m", "1", "c", "--passed", "--details", '{"x": "\\ud800"}'],
        ["register", "m", "MODEL", "--signature", DEEP_ARRAY],
        ["--db", "postgresql://[::1", "models"],
        ["--db", "postgresql://h:port/db", "approve", "m", "1"],
        ["--db", "sqlite:///x.db?timeout=abc", "models"],
        ["--db", "postgresql+nodriver://h/db", "models"],
    ],
    ids=[
        "superscript-version", "fullwidth-version", "arabic-version", "arabic-uri", "superscript-uri",
        "fullwidth-alias", "superscript-audit", "deep-details-array", "deep-details-object", "nan-details", "surrogate-details",
        "deep-signature", "url-bracket", "url-port", "url-query", "url-driver",
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run, catalog: Registry, catalog_state, model_file: Path, args):
    before = catalog_state()
    line = one_line_refusal(run(*[str(model_file) if a == "MODEL" else a for a in args], actor="bob"))
    assert len(line) < 400
    assert catalog_state() == before


def test_non_ascii_digits_are_not_version_numbers(catalog: Registry):
    """The API reads ASCII digits only: '１' is not version 1."""
    for text in ("１", "١", "²", "1²"):
        with pytest.raises(InvalidInput):
            catalog.as_actor("bob").approve("m", text)
        with pytest.raises(InvalidInput):
            catalog.resolve(f"models:/m/{text}")
    assert catalog.show("models:/m/1").decisions == []


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _cyclic() -> dict:
    value: dict = {}
    value["self"] = value
    return value


@pytest.mark.parametrize(
    "details",
    [_nested(100_000), _nested(64), _cyclic(), {"s": {1, 2}}, {"b": b"x"}, {"n": float("nan")}, {"i": float("inf")},
     {"o": object()}, {(1, 2): "tuple key"}],
    ids=["deep", "just-too-deep", "cyclic", "set", "bytes", "nan", "inf", "object", "tuple-key"],
)
def test_api_refuses_non_json_details_with_invalid_input(catalog: Registry, catalog_state, details):
    """Details and params that JSON cannot hold raise InvalidInput, never RecursionError, TypeError or ValueError."""
    before = catalog_state()
    with pytest.raises(InvalidInput):
        catalog.record_check("m", 1, "c", passed=True, details=details)
    with pytest.raises(InvalidInput):
        catalog.record_deployment("m", 1, target="t", succeeded=True, details=details)
    with pytest.raises(InvalidInput):
        catalog.register("m", Path(__file__), params={"p": details})
    assert catalog_state() == before


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.set_description("m", "bad \ud800 text"),
        lambda r: r.set_tags("m", {"k": "\udcff"}),
        lambda r: r.as_actor("bob").approve("m", 1, comment="\ud800"),
        lambda r: r.set_policy("m", approvers=[["nested"]]),
        lambda r: r.set_tags("m", ["k=v"]),
        lambda r: r.register("m", "bad\x00path"),
        lambda r: r.download("models:/m/1", "bad\x00dest"),
    ],
    ids=["surrogate-description", "surrogate-tag", "surrogate-comment", "unhashable-approver", "tags-not-mapping",
         "nul-in-path", "nul-in-destination"],
)
def test_api_refuses_unstorable_values_with_invalid_input(catalog: Registry, catalog_state, call):
    """Text that is not valid Unicode, and values of the wrong shape, raise InvalidInput rather than escaping."""
    before = catalog_state()
    with pytest.raises(InvalidInput):
        call(catalog)
    assert catalog_state() == before


def test_json_at_the_depth_limit_is_accepted(catalog: Registry):
    """64 levels of nesting (the root object and 63 below it) are stored."""
    assert catalog.record_check("m", 1, "c", passed=True, details=_nested(63)).details == _nested(63)


# --- files that are not regular files -------------------------------------------------------


def test_symlink_loop_in_a_folder_is_refused(run, catalog: Registry, catalog_state, tmp_path: Path):
    folder = tmp_path / "looped"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    (folder / "loop").symlink_to("loop")
    before = catalog_state()
    line = one_line_refusal(run("register", "m", str(folder)))
    assert "symbolic links" in line
    assert catalog_state() == before


@pytest.mark.parametrize("kind", ["symlink-loop", "fifo", "socket", "device"])
def test_a_model_card_that_is_not_a_regular_file_is_refused(run, catalog: Registry, catalog_state, tmp_path: Path, kind):
    card = tmp_path / "card"
    if kind == "symlink-loop":
        card.symlink_to("card")
    elif kind == "fifo":
        os.mkfifo(card)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(card))
    else:
        card = Path(os.devnull)
    before = catalog_state()
    line = one_line_refusal(run("register", "m", str(Path(__file__)), "--model-card", str(card)))
    assert "card" in line
    assert catalog_state() == before


def test_a_fifo_as_model_card_does_not_block(database_url: str, artifact_root: Path, catalog: Registry, tmp_path: Path):
    """The installed command refuses a FIFO at once (it used to wait for a writer forever)."""
    card = tmp_path / "card.fifo"
    os.mkfifo(card)
    env = {**os.environ, "REGISTRY_DATABASE_URL": database_url, "REGISTRY_ARTIFACT_ROOT": str(artifact_root)}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("registry")), "register", "m", __file__, "--model-card", str(card)],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"registry: error: model card {str(card)!r} is a FIFO (named pipe), not a regular file"]


def test_a_fifo_inside_a_folder_is_refused(catalog: Registry, catalog_state, tmp_path: Path):
    folder = tmp_path / "with-fifo"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    os.mkfifo(folder / "pipe")
    before = catalog_state()
    with pytest.raises(InvalidInput, match="FIFO"):
        catalog.register("m", folder)
    assert catalog_state() == before


# --- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "help_of"),
    [
        (["approve", "m"], "registry approve"),
        (["versions", "m", "--limit", "x"], "registry versions"),
        (["check", "m", "1", "c"], "registry check"),
        (["check", "m", "1", "c", "--details"], "registry check"),
        (["no-such-command"], "registry"),
        (["--no-such-option", "models"], "registry"),
        (["audit", "--action", "version.bogus"], "registry audit"),
        (["db", "bogus"], "registry db"),
    ],
)
def test_usage_errors_are_one_line_with_a_pointer_to_help(run, args, help_of: str):
    line = one_line_refusal(run(*args), code=2)
    assert line.endswith(f"; see '{help_of} --help'")


def test_usage_errors_are_json_with_json(run):
    result = run("--json", "check", "m", "1", "c")
    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "usage", "message": "say --passed or --failed", "help": "registry check --help",
    }
