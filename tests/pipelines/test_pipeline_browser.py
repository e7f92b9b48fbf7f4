"""The reviewer's journey in the real Dagster UI: `dagster dev` on loopback, driven by Playwright and Chromium.

A retrain from the Jobs page; version 1 reaches Production; then the model's
policy requires proof and a retrained version 2 regresses on an ungated metric.
From the home page the reviewer opens the list of versions awaiting a decision,
opens version 2 (its shadow evaluation a yellow warning), sees a decision
launched with a stale code refused (its run's first error line the registry's
reason), approves with the code their authenticator shows typed in the
Launchpad, and sees Production change; then a rollback from the production
asset's page. Every click a person makes is counted, every page the reviewer
reads is checked for anything cut off at 1,440 px, and a screenshot is saved at
each step in a folder the test prints.

Needs Chromium (``apt-get install chromium``) and Playwright (the ``[dev]``
extra). Without Chromium the test is skipped, except in CI (``CI=true``), where
a missing browser fails it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import ROOT, Screenshots, chromium_page, sync_api_or_skip

from registry_core import Decision, Registry
from registry_pipelines.dev_server import DagsterDevServer, dev_environment
from registry_pipelines.fraud import fraud_detector_pipeline
from registry_pipelines.jobs import decision_launch
from tests.proof_keys import SECRET_KEY, a_code_that_is_not_current, totp_code

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

    def type_into_yaml(self, key: str, *values: str) -> None:
        """Type into the quoted value of ``key`` in the Launchpad's editor (one click), then into each next line's."""
        self.click(self.page.locator(".CodeMirror-line", has_text=f"{key}:"))
        for index, value in enumerate(values):
            if index:
                self.page.keyboard.press("ArrowDown")
            self.page.keyboard.press("End")
            self.page.keyboard.press("ArrowLeft")
            self.page.keyboard.type(value)

    def open_awaiting_decision(self) -> None:
        """From the home page: Catalog -> awaiting_decision, the list of every version awaiting a decision (two clicks)."""
        self.open_home()
        self.click(self.page.get_by_role("link", name="Catalog"))
        self.click(self.page.get_by_role("link", name="awaiting_decision"))
        self.see("as of audit seq")

    def assert_nothing_cut_off(self) -> None:
        """No metadata table on the page is wider than the panel that shows it (Dagster scrolls it, cutting lines off)."""
        self.page.locator("table").first.wait_for()
        overflowing = self.page.evaluate(_OVERFLOWING_TABLES)
        assert not overflowing, f"cut off at the panel edge on {self.page.url}: {overflowing}"

    def open_production_model(self) -> None:
        """From the home page: Catalog -> the production model's page (two clicks)."""
        self.open_home()
        self.click(self.page.get_by_role("link", name="Catalog"))
        self.click(self.page.get_by_role("link", name="fraud_detector / production_model"))

    def see(self, text: str | re.Pattern[str], timeout: float = 30_000) -> None:
        self.page.get_by_text(text).first.wait_for(timeout=timeout)


#: Metadata tables whose scroll container is narrower than they are, with the widest value's first words.
_OVERFLOWING_TABLES = """() => [...document.querySelectorAll('table')].flatMap(table => {
  let box = table.parentElement;
  while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
  if (!box || box.scrollWidth <= box.clientWidth + 1) return [];
  const cells = [...table.querySelectorAll('td')].sort((a, b) => b.scrollWidth - a.scrollWidth);
  return [`${box.scrollWidth}px in ${box.clientWidth}px: ${(cells[0]?.innerText || '').slice(0, 60)}`];
})"""


@pytest.fixture
def dev_server(tmp_path: Path, deploy_endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DagsterDevServer, Registry]]:
    """`dagster dev` from the repository's workspace.yaml, a fresh DAGSTER_HOME with its dagster.yaml, an empty catalog;
    the key TOTP secrets are encrypted with, in its environment and this process's."""
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET_KEY)
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


def first_error_is_the_reason(page, reason: str) -> bool:
    """Whether the run's log shows ``reason`` as a line of its own before any stack trace."""
    return page.evaluate(
        """(reason) => {
          const cells = [...document.querySelectorAll('div, span, pre')].filter(e => e.children.length === 0);
          const first = cells.findIndex(e => e.textContent.includes(reason));
          const trace = cells.findIndex(e => e.textContent.includes('Stack Trace'));
          return first >= 0 && (trace < 0 || first < trace) && cells[first].textContent.trim().startsWith(reason);
        }""",
        reason,
    )


def shadow_check_is_yellow(page) -> bool:
    """The shadow_evaluation check in the Checks tab's list carries Dagster's warning icon, drawn yellow."""
    return page.get_by_text("shadow_evaluation", exact=True).first.evaluate(
        """(label) => {
          let row = label; for (let i = 0; i < 4; i++) row = row.parentElement;
          return [...row.querySelectorAll('[aria-label="warning_outline"]')].some(icon => {
            const [r, g, b] = getComputedStyle(icon).backgroundColor.match(/\\d+/g).map(Number);
            return r > 200 && g > 120 && g < 200 && b < 100;
          });
        }"""
    )


# Eight runs queued through `dagster dev`'s daemon (each a new process) and about twenty page loads. Every wait
# inside is bounded on its own; this bounds the whole, with room for a machine shared with other work (eleven
# minutes at a load average of 30 on two cores).
@pytest.mark.timeout(900)
def test_reviewer_journey_in_the_dagster_ui(dev_server, deploy_endpoint):
    """Retrain; under a proof-requiring policy review a regressing version from the pending list, see a stale code
    refused, approve with a TOTP code typed in the Launchpad, see Production change; roll back."""
    server, catalog = dev_server
    pipeline = fraud_detector_pipeline()
    # 1,440 px, the narrowest window the pages are made for: Dagster gives the metadata value column what is left of
    # its main panel there, so a line wider than that is cut off (the table scrolls sideways).
    with chromium_page(sync_api, width=1440, height=1000) as page:
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

        # 2. Version 1 reaches Production (approved without the browser); then the model's policy requires proof,
        #    the reviewer enrolls an authenticator app, and version 2 is trained with leaves 50 samples wide:
        #    its precision falls beyond the shadow tolerance (ungated: a warning, not a failure).
        server.launch_spec(decision_launch(pipeline, 1, REVIEWER, Decision.APPROVE, "baseline reviewed"))
        server.wait_for("version 1 in Production", lambda: deploy_endpoint.received, timeout=120)
        authenticator = catalog.enrol_totp(REVIEWER).uri
        catalog.set_policy(MODEL, require_proof=True, owners=[REVIEWER])
        server.launch("fraud_detector_retrain", {"ops": {"fraud_detector__candidate_model": {"config": {"params": {"min_samples_leaf": 50}}}}})
        awaiting(server, 2)

        # Meanwhile a Launchpad tab left open with the reviewer's name and an old code is launched (step 5).
        stale = a_code_that_is_not_current(authenticator)
        refused_run = server.launch_spec(decision_launch(pipeline, 2, REVIEWER, Decision.APPROVE, "stale tab", totp=stale))

        # 3. The reviewer, from the home page: Catalog -> awaiting_decision lists version 2 with a warning.
        ui.clicks = 0
        ui.open_home()
        ui.shot("home")
        ui.open_awaiting_decision()
        ui.see("Open version 2")
        ui.see("1 warning")
        ui.shot("awaiting-decision")
        ui.assert_nothing_cut_off()
        pending_clicks = ui.clicks

        # 4. Open version 2: its card (what it awaits, its checks, links to decide); its Checks tab shows the
        #    shadow evaluation yellow.
        ui.click(page.get_by_role("link", name="Open version 2"))
        ui.see("a decision: approve or reject")
        ui.see(re.compile("shadow_evaluation: WARNING"))  # said as Dagster shows it, not "passed"
        ui.shot("version-card-and-checks")
        ui.assert_nothing_cut_off()
        ui.click(page.get_by_role("tab", name="Checks"))
        ui.see("shadow_evaluation")
        ui.click(page.get_by_text("shadow_evaluation", exact=True))
        ui.see("worse by")
        ui.shot("shadow-evaluation-warning")
        assert shadow_check_is_yellow(page), "the shadow evaluation with a regression beyond tolerance is not yellow"
        review_clicks = ui.clicks
        # The asset's own page shows the latest card too, beside a timestamp column: nothing cut off there either.
        page.goto(f"{server.url}/assets/fraud_detector/model_version", wait_until="networkidle")
        ui.see(re.compile("shadow_evaluation: WARNING"))
        ui.assert_nothing_cut_off()

        # 5. That stale tab's run: refused, nothing recorded; its first error line is the registry's reason, with no
        #    stack trace in front of it.
        server.wait_for("the refused run", lambda: server.status(refused_run) == "FAILURE", timeout=120)
        reason = f"approval of {MODEL} version 2 by '{REVIEWER}' refused: "
        page.set_viewport_size({"width": 1440, "height": 2000})  # every event of the short run rendered at once
        page.goto(f"{server.url}/runs/{refused_run}", wait_until="networkidle")
        ui.see(reason)
        assert first_error_is_the_reason(page, reason), "the refused run's first error line is not the registry's reason"
        ui.shot("refused-decision-run")
        page.set_viewport_size({"width": 1440, "height": 1000})
        assert not catalog.show(f"models:/{MODEL}/2").decisions

        # 6. Approve from the list: the Launchpad opens with version 2 picked; type name, comment and the code.
        ui.clicks = 0
        ui.open_awaiting_decision()
        ui.click(page.get_by_role("link", name="Approve version 2"))
        ui.see("partition: 2")
        ui.type_into_yaml("approver", REVIEWER, "warning on precision accepted", totp_code(authenticator))
        ui.shot("approve-launchpad")
        ui.click(page.get_by_role("button", name="Launch Run"))
        decision_clicks = ui.clicks
        server.wait_for("the decision", lambda: catalog.show(f"models:/{MODEL}/2").decisions, timeout=120)
        ui.shot("approval-run")
        server.wait_for("the redeploy", lambda: len(deploy_endpoint.received) >= 2, timeout=120)

        # 7. The list no longer shows version 2; the production asset shows it and who approved it.
        ui.open_awaiting_decision()
        ui.see("nothing awaits a decision", timeout=60_000)
        ui.shot("nothing-awaits")
        ui.open_production_model()
        ui.see(REVIEWER)
        ui.shot("production-v2")
        ui.assert_nothing_cut_off()

        # 8. The operator rolls back from the production asset's page: the link opens the rollback Launchpad with
        #    version 1 picked.
        ui.clicks = 0
        ui.open_production_model()
        ui.see("Roll back to version 1")
        ui.click(page.get_by_role("link", name="Roll back to version 1"))
        ui.see("partition: 1")
        ui.type_into_yaml("requested_by", "oncall", "false positives doubled")
        ui.shot("rollback-launchpad")
        ui.click(page.get_by_role("button", name="Launch Run"))
        rollback_clicks = ui.clicks
        server.wait_for("the rollback's redeploy", lambda: len(deploy_endpoint.received) >= 3, timeout=120)
        ui.open_production_model()
        ui.see("false positives doubled")
        ui.see("originally approved by")  # the restored version's approval, shown as history
        ui.shot("production-rolled-back")
        ui.assert_nothing_cut_off()

    [decision] = catalog.show(f"models:/{MODEL}/2").decisions
    assert (decision.approver, decision.decision) == (REVIEWER, "approve")
    proof = catalog.audit_events(MODEL, version=2, actions=["approval.record"])[-1].after["proof"]
    assert proof["kind"] == "totp"
    assert [(c["version"], c["change"]) for c in deploy_endpoint.received] == [(1, "promotion"), (2, "promotion"), (1, "rollback")]
    assert deploy_endpoint.received[-1]["changed_by"] == "oncall"
    assert pending_clicks == 2, f"{pending_clicks} clicks from the home page to the versions awaiting a decision"
    assert decision_clicks <= MAX_DECISION_CLICKS, f"{decision_clicks} clicks from the home page to a decision"
    print(
        f"clicks: retrain {retrain_clicks}, home to the awaiting list {pending_clicks}, home to the version's yellow "
        f"check {review_clicks}, home to recorded decision {decision_clicks}, home to rollback {rollback_clicks}; "
        f"registration to awaiting a decision {to_awaiting:.1f}s; {len(ui.shots.taken)} screenshots in {ui.shots.folder}"
    )
