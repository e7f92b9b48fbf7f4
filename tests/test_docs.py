"""The documentation cannot rot: the site builds with warnings as errors, and the examples it runs are run here.

A code block is an executed example when the line before its opening fence is ``<!-- runnable -->`` (invisible
on the site and on GitHub). The runnable blocks of one page (README.md, or any page under docs/) run in order, as
one script, in a fresh folder that holds ``model.pkl`` and ``model-v2.pkl`` (the README's taste registers them),
with ``registry`` being this checkout's command line and no ``REGISTRY_*`` variable inherited. ``bash`` blocks run
under ``set -euo pipefail``; ``python`` blocks with this interpreter.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w+)\s*$")
LANGUAGES = ("bash", "python")


def documentation_pages() -> list[Path]:
    """README.md and every page of the site."""
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def runnable_blocks(text: str, where: str) -> list[tuple[str, str]]:
    """(language, code) of each block marked runnable, in page order; a marker without a block is an error."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        opening = FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
        if not opening or opening.group(1) not in LANGUAGES:
            raise AssertionError(f"{where}:{number + 1}: {MARKER} must be followed by a ```bash or ```python block")
        end = lines.index("```", number + 2)
        blocks.append((opening.group(1), "\n".join(lines[number + 2:end]) + "\n"))
    return blocks


def pages_with_examples() -> list[Path]:
    return [page for page in documentation_pages() if MARKER in page.read_text(encoding="utf-8")]


def mkdocs_or_skip() -> None:
    """Skip without MkDocs, except under CI, where the documentation must build."""
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MkDocs is not installed: pip install -e '.[docs]'")
        pytest.skip("MkDocs is not installed (pip install -e '.[docs]')")


def example_env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "PYTHONPATH": str(REPO)}


def test_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    """mkdocs build --strict: a broken link, anchor or API reference, or a CLI that fails to load, fails it."""
    mkdocs_or_skip()
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=REPO, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=240,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'id="registry-rollback"' in cli_page, "the CLI reference was not generated from the click commands"


def test_every_marker_opens_a_runnable_block() -> None:
    """A misplaced marker would silently drop an example from the tests."""
    for page in documentation_pages():
        runnable_blocks(page.read_text(encoding="utf-8"), str(page.relative_to(REPO)))


def test_the_tutorials_and_how_tos_have_examples() -> None:
    """At least the README's taste and the two step-by-step guides are executed."""
    names = {str(page.relative_to(REPO)) for page in pages_with_examples()}
    assert {"README.md", "docs/how-to/roll-back.md", "docs/how-to/protect-an-alias.md"} <= names


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda page: str(page.relative_to(REPO)))
def test_examples_run(page: Path, tmp_path: Path) -> None:
    """Every runnable block of the page succeeds, in order, on a fresh catalog."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    registry = bin_dir / "registry"
    registry.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m registry_core.cli "$@"\n')
    registry.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.pkl").write_bytes(b"the weights of version 1")
    (work / "model-v2.pkl").write_bytes(b"the weights of version 2")
    env = example_env(bin_dir)
    bash_script = ["set -euo pipefail"]
    for number, (language, code) in enumerate(runnable_blocks(page.read_text(encoding="utf-8"), page.name)):
        if language == "bash":
            bash_script.append(code)
            continue
        script = work / f"example_{number}.py"
        script.write_text(code)
        # Python blocks run where the bash blocks before them left off.
        ran = subprocess.run(["bash", "-c", "\n".join(bash_script)], cwd=work, env=env, capture_output=True,
                             text=True, timeout=240)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        bash_script = ["set -euo pipefail"]
        ran = subprocess.run([sys.executable, script.name], cwd=work, env=env, capture_output=True, text=True,
                             timeout=240)
        assert ran.returncode == 0, f"python block {number}:\n" + ran.stdout[-3000:] + ran.stderr[-3000:]
    ran = subprocess.run(["bash", "-c", "\n".join(bash_script)], cwd=work, env=env, capture_output=True, text=True,
                         timeout=240)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]


def test_the_cli_summary_names_only_real_commands() -> None:
    """The hand-written table at the top of the CLI reference names no command the click group lacks."""
    import click

    from registry_core.cli.app import cli

    table = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8").split("## Commands at a glance", 1)[1]
    named = re.findall(r"`registry ([a-z]+(?: [a-z]+)?)", table.split("\n## ", 1)[0])
    assert len(named) > 20
    ctx = click.Context(cli)
    for words in named:
        command: click.Command | None = cli
        for word in words.split():
            if not isinstance(command, click.Group):
                break  # the second word is an argument (registry tag NAME ...): the first one named the command
            command = command.get_command(ctx, word)
            assert command is not None, f"docs/reference/cli.md names 'registry {words}', which does not exist"


def test_every_registry_variable_the_code_reads_is_documented() -> None:
    """A ``REGISTRY_*`` variable named in the packages appears in the configuration reference."""
    documented = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    packages = ("registry_core", "registry_pipelines", "registry_lifecycle", "registry_airflow")
    named = {
        name
        for package in packages
        for path in (REPO / package).rglob("*.py")
        for name in re.findall(r"[\"'](REGISTRY_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8"))
    }
    assert named, "no REGISTRY_* variable found: the pattern no longer matches the code"
    missing = sorted(name for name in named if f"`{name}`" not in documented)
    assert not missing, f"docs/reference/configuration.md does not list {missing}"


def test_the_readme_links_to_files_that_exist() -> None:
    """The README's map into the site (the strict build checks only the links inside docs/)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(targets) > 20
    missing = sorted({target for target in targets if not (REPO / target).exists()})
    assert not missing, f"README.md links to missing files: {missing}"
