"""Copy the browser test's screenshots that the documentation shows into docs/images/.

``make docs-screenshots`` runs ``tests/pipelines/test_pipeline_browser.py``, which saves a numbered full-page
screenshot of every step under ``$REGISTRY_BROWSER_SHOTS/dagster-reviewer-journey/``, then runs this script.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

#: The browser test's file name (under dagster-reviewer-journey/) -> the name the pages use.
CHOSEN = {
    "03-awaiting-decision.png": "dagster-awaiting-decision.png",
    "04-version-card-and-checks.png": "dagster-model-version.png",
    "06-refused-decision-run.png": "dagster-refused-decision.png",
    "07-approve-launchpad.png": "dagster-approve-launchpad.png",
    "10-production-v2.png": "dagster-production-model.png",
}


def copy_chosen(shots: Path, images: Path) -> list[Path]:
    """Copy each chosen screenshot; a missing one is an error naming it."""
    folder = shots / "dagster-reviewer-journey"
    missing = [name for name in CHOSEN if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"screenshots: {', '.join(missing)} not found in {folder}; run the browser test first")
    images.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(folder / source, images / target)) for source, target in CHOSEN.items()]


if __name__ == "__main__":
    for path in copy_chosen(Path(sys.argv[1]), Path(sys.argv[2])):
        print(path)
