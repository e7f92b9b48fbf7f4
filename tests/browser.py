"""What the browser tests share: the system Chromium, skipping without it, and a folder of numbered screenshots.

The tests drive Debian's Chromium through Playwright (Playwright's own browser
download is not needed). Without Chromium or Playwright a browser test module
is skipped, except in CI (``CI=true``), where a missing browser fails it.
Screenshots go to ``$REGISTRY_BROWSER_SHOTS/<test>/`` (default
``.browser-shots/<test>/`` in the repository), emptied first and printed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sync_api_or_skip() -> ModuleType:
    """``playwright.sync_api``; without Chromium or Playwright, the calling test module is skipped (failed in CI)."""
    if IN_CI:
        return importlib.import_module("playwright.sync_api")  # in CI a missing Playwright must fail, not skip
    if not CHROMIUM:
        pytest.skip("no Chromium on this machine (apt-get install chromium); CI=true makes this a failure",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[dev]'")


@contextlib.contextmanager
def chromium_page(sync_api: ModuleType, width: int = 1400, height: int = 1000, timeout_ms: int = 60_000) -> Iterator[Any]:
    """A page in the system Chromium, every Playwright wait on it bounded by ``timeout_ms``; closed afterwards."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


class Screenshots:
    """Numbered full-page screenshots of one page, in a folder of their own."""

    def __init__(self, page: Any, test: str) -> None:
        self.page = page
        self.folder = Path(os.environ.get("REGISTRY_BROWSER_SHOTS") or ROOT / ".browser-shots") / test
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.taken: list[Path] = []
        print(f"\nscreenshots: {self.folder}")

    def take(self, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        # Finished animations: a notification caught mid-slide would be cut off or transparent.
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        self.taken.append(path)
        return path
