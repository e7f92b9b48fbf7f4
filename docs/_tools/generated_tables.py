"""Tables the site builds from the code at every build, so they cannot drift from it.

``<!-- generated: migrations -->`` in a page becomes the table of the catalog's Alembic revisions, each with the
first line of its module docstring (``registry_core/migrations/versions/``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "registry_core" / "migrations" / "versions"
MARKER = "<!-- generated: migrations -->"


def migrations_table() -> str:
    """One row per revision file: its number and what it does."""
    rows = ["| Revision | What it does |", "|---|---|"]
    for path in sorted(MIGRATIONS.glob("[0-9]*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        summary = docstring.strip().splitlines()[0] if docstring.strip() else ""
        rows.append(f"| `{path.stem.split('_', 1)[0]}` ({path.stem}) | {summary} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, migrations_table()) if MARKER in markdown else markdown
