"""The reviewer's journey in the real Dagster UI: `dagster dev` on loopback, driven by Playwright and Chromium.

A retrain from the Jobs page; then, from the home page, the version awaiting a
decision in the Catalog (its card, checks and what it awaits), the approval
launched from the link on that page, and the production asset showing the new
version with its approver; then a rollback from the production asset's page.
Every click a person makes is counted, and a screenshot is saved at each step
in a folder the test prints.

Needs Chromium (``apt-get install chromium``) and Playwright (the ``[dev]``
extra). Without Chromium the test is skipped, except in CI (``CI=true``), where
a missing browser fails it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import ROOT, Screenshots, chromium_page, sync_api_or_skip

from registry_core import Decision, Registry
from registry_pipelines.dev_server import DagsterDevServer, dev_environment
from registry_pipelines.fraud import fraud_detector_pipeline
from registry_pipelines.jobs import decision_launch

from .steps import MODEL, REVIEWER

#: What a reviewer may spend from the Dagster home page to a recorded decision.
MAX_DECISION_CLICKS = 6

sync_api = sync_api_or_skip()


class Journey:
    """A browser page with a click counter and numbered screenshots."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.shots = Screenshots(page, "dagster-reviewer-journey")
        self.clicks = 0

    def open_home(self) -> None:
        self.page.goto(self.base_url + "/", wait_until="networkidle")
        # Dagster's one-time newsletter prompt may open a moment after the page settles.
        with contextlib.suppress(sync_api.TimeoutError):
            self.page.get_by_role("button", name="Skip").first.wait_for(timeout=5_000)
        self.dismiss_prompt()

    def dismiss_prompt(self) -> None:
        """Close Dagster's one-time prompt if it is open: its backdrop would swallow the next click."""
        skip = self.page.get_by_role("button", name="Skip")
        if skip.count():
            skip.first.click()
            self.page.locator(".bp5-overlay-backdrop").first.wait_for(state="hidden", timeout=10_000)

    def click(self, locator) -> None:
        self.dismiss_prompt()
        locator.first.click()
        self.clicks += 1

    def shot(self, name: str) -> Path:
        self.page.wait_for_timeout(1500)  # Dagster's panels animate in after their data arrives
        return self.shots.take(name)

    def type_into_yaml(self, key: str, text: str, then: str) -> None:
        """Type into the quoted value of ``key`` in the Launchpad's editor (one click), then into the next line's."""
        self.click(self.page.locator(".CodeMirror-line", has_text=f"{key}:"))
        for index, value in enumerate((text, then)):
            if index:
                self.page.keyboard.press("ArrowDown")
            self.page.keyboard.press("End")
            self.page.keyboard.press("ArrowLeft")
            self.page.keyboard.type(value)

    def open_production_model(self) -> None:
        """From the home page: Catalog -> the production model's page (two clicks)."""
        self.open_home()
        self.click(self.page.get_by_role("link", name="Catalog"))
        self.click(self.page.get_by_role("link", name="fraud_detector / production_model"))

    def see(self, text: str, timeout: float = 30_000) -> None:
        self.page.get_by_text(text).first.wait_for(timeout=timeout)


@pytest.fixture
def dev_server(tmp_path: Path, deploy_endpoint) -> Iterator[tuple[DagsterDevServer, Registry]]:
    """`dagster dev` from the repository's workspace.yaml, a fresh DAGSTER_HOME with its dagster.yaml, an empty catalog."""
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    artifact_root = str(tmp_path / "artifacts")
    env = dev_environment(tmp_path, workspace_dir=ROOT, database_url=database_url, artifact_root=artifact_root,
                          deploy_url=deploy_endpoint.url, sensor_interval=2)
    with DagsterDevServer(workspace_dir=ROOT, env=env, log=tmp_path / "dagster-dev.log") as server:
        server.wait_until_loaded(timeout=120)
        with Registry(database_url, artifact_root, actor="test") as catalog:
            yield server, catalog


def awaiting(server: DagsterDevServer, version: int, timeout: float = 180) -> None:
    server.wait_for(
        f"version {version} to await a decision",
        lambda: str(version) in server.partition_keys("fraud_detector_awaiting_decision"),
        timeout=timeout,
    )


def test_reviewer_journey_in_the_dagster_ui(dev_server, deploy_endpoint):
    """Retrain, review the version's card and checks, approve from its page, see Production, roll back."""
    server, catalog = dev_server
    # 1680 px: a laptop screen. Dagster fixes the metadata value column at 660 px and widens its side panel with the
    # window: below about 1800 px the card's table scrolls sideways (long lines are cut at the panel edge until then).
    with chromium_page(sync_api, width=1680, height=1050) as page:
        ui = Journey(page, server.url)

        # 1. The ML engineer retrains: Jobs -> fraud_detector_retrain -> Materialize all.
        ui.open_home()
        ui.click(page.get_by_role("link", name="Jobs"))
        ui.click(page.get_by_role("link", name="fraud_detector_retrain"))
        ui.click(page.get_by_role("button", name="Materialize all"))
        ui.shot("retrain-launched")
        retrain_clicks = ui.clicks
        started = time.monotonic()
        awaiting(server, 1)
        to_awaiting = time.monotonic() - started

        # 2. The reviewer, from the home page: Catalog -> model_version shows the version awaiting a decision.
        ui.clicks = 0
        ui.open_home()
        ui.shot("home")
        ui.click(page.get_by_role("link", name="Catalog"))
        ui.shot("catalog")
        ui.click(page.get_by_role("link", name="fraud_detector / model_version"))
        ui.see("a decision: approve or reject")
        ui.see("shadow_evaluation")
        ui.shot("version-card-and-checks")

        # 3. Approve from the link on that page: the Launchpad opens with version 1 picked; type name and comment.
        ui.click(page.get_by_role("link", name="Approve version 1"))
        ui.see("partition: 1")
        ui.type_into_yaml("approver", REVIEWER, then="shadow evaluation reviewed")
        ui.shot("approve-launchpad")
        ui.click(page.get_by_role("button", name="Launch Run"))
        decision_clicks = ui.clicks
        server.wait_for("the decision", lambda: catalog.show(f"models:/{MODEL}/1").decisions, timeout=120)
        ui.shot("approval-run")
        server.wait_for("the redeploy", lambda: deploy_endpoint.received, timeout=120)

        # 4. The production asset shows version 1 and who approved it.
        ui.open_production_model()
        ui.see(REVIEWER)
        ui.shot("production-v1")

        # 5. Version 2 reaches Production (retrained and approved without the browser), then the operator rolls back
        #    from the production asset's page: the link opens the rollback Launchpad with version 1 picked.
        server.launch("fraud_detector_retrain", {"ops": {"fraud_detector__candidate_model": {"config": {"params": {"n_estimators": 80}}}}})
        awaiting(server, 2)
        server.launch_spec(decision_launch(fraud_detector_pipeline(), 2, REVIEWER, Decision.APPROVE, "v2 reviewed"))
        server.wait_for("version 2 in Production", lambda: len(deploy_endpoint.received) >= 2, timeout=120)
        ui.clicks = 0
        ui.open_production_model()
        ui.see("Roll back to version 1")
        ui.shot("production-v2-with-rollback-link")
        ui.click(page.get_by_role("link", name="Roll back to version 1"))
        ui.see("partition: 1")
        ui.type_into_yaml("requested_by", "oncall", then="false positives doubled")
        ui.shot("rollback-launchpad")
        ui.click(page.get_by_role("button", name="Launch Run"))
        rollback_clicks = ui.clicks
        server.wait_for("the rollback's redeploy", lambda: len(deploy_endpoint.received) >= 3, timeout=120)
        ui.open_production_model()
        ui.see("false positives doubled")
        ui.see("originally approved by")  # the restored version's approval, shown as history
        ui.shot("production-rolled-back")

    [decision] = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == (REVIEWER, "approve")
    assert [(c["version"], c["change"]) for c in deploy_endpoint.received] == [(1, "promotion"), (2, "promotion"), (1, "rollback")]
    assert deploy_endpoint.received[-1]["changed_by"] == "oncall"
    assert decision_clicks <= MAX_DECISION_CLICKS, f"{decision_clicks} clicks from the home page to a decision"
    print(
        f"clicks: retrain {retrain_clicks}, home to recorded decision {decision_clicks}, home to rollback {rollback_clicks}; "
        f"registration to awaiting a decision {to_awaiting:.1f}s; {len(ui.shots.taken)} screenshots in {ui.shots.folder}"
    )
