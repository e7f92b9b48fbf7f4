"""The reviewer's journey in Airflow's own UI: log in, open Required Actions, approve, in Chromium.

The lifecycle DAG runs with ``dag.test()`` until its approval step waits for an
answer; meanwhile a reviewer logged in to a real ``airflow api-server`` (the
simple auth manager's user carol) goes from Airflow's home page to the
Required Actions page and approves. The catalog must then hold carol's
approval and the promotion. Every click from the home page is counted, a
screenshot is saved at each step, and no response of the server may be a 5xx.

Needs Chromium (``apt-get install chromium``) and Playwright (``make
setup-airflow`` installs it). Without Chromium the test is skipped, except in
CI (``CI=true``), where a missing browser fails it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from browser import Screenshots, chromium_page, sync_api_or_skip

from registry_core import Registry

from .conftest import PASSWORDS, AirflowApi, AirflowDags, airflow_or_skip

airflow_or_skip()
sync_api = sync_api_or_skip()

MODEL = "fraud-detector"
LIFECYCLE = "fraud_detector_lifecycle"
REVIEWER = "carol"
SUBJECT = "Approve fraud-detector version 1 for Production?"
COMMENT = "ready for traffic"
#: Browse, Required Actions, the request, the comment field, Approve (docs/tutorials/airflow.md).
MAX_DECISION_CLICKS = 5


@pytest.fixture
def dialect() -> str:
    """One catalog is enough here: the SQLite and PostgreSQL paths are the REST tests' (test_airflow_approval)."""
    return "sqlite"


@pytest.fixture
def catalog(database_url: str, artifact_root: Path, registry_connection: str):
    with Registry(database_url, artifact_root, actor="alice") as registry:
        yield registry


class Journey:
    """A reviewer's browser page on Airflow's UI: clicks counted, screenshots numbered, 5xx responses kept."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.shots = Screenshots(page, "airflow-required-actions")
        self.clicks = 0
        self.server_errors: list[str] = []
        page.on("response", self.note_response)

    def note_response(self, response: Any) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def click(self, locator: Any) -> None:
        locator.click()
        self.clicks += 1

    def shot(self, name: str) -> Path:
        self.page.wait_for_load_state("networkidle")
        return self.shots.take(name)

    def log_in(self, user: str) -> None:
        """The simple auth manager's login form (not counted: a reviewer is usually logged in already)."""
        self.page.goto(self.base_url + "/", wait_until="networkidle")
        self.page.get_by_label("Username").wait_for()
        self.shot("login")
        self.page.get_by_label("Username").fill(user)
        self.page.get_by_label("Password").fill(PASSWORDS[user])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.base_url + "/", wait_until="networkidle")


def pending_approvals(api: AirflowApi, token: str) -> list[dict[str, Any]]:
    """The lifecycle DAG's approvals nobody has answered yet, as Airflow's REST API lists them."""
    import httpx

    response = httpx.get(f"{api.url}/api/v2/dags/{LIFECYCLE}/dagRuns/~/hitlDetails", params={"response_received": False},
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    return response.json()["hitl_details"]


def approve_in_the_browser(journey: Journey, api: AirflowApi, token: str) -> None:
    """Log in, wait for the approval to be asked, then from the home page: Required Actions, the request, Approve."""
    page = journey.page
    journey.log_in(REVIEWER)
    deadline = time.monotonic() + 240
    while not pending_approvals(api, token):
        assert time.monotonic() < deadline, "the approval step did not ask within 240 s"
        time.sleep(0.5)
    page.goto(api.url + "/", wait_until="networkidle")
    page.get_by_role("button", name="Required Actions").wait_for()  # the home page's count of pending actions
    journey.shot("home")
    journey.click(page.get_by_role("button", name="Browse"))
    journey.click(page.get_by_role("menuitem", name="Required Actions"))
    # The page lists every request, answered ones too: this one is the row still awaiting approval.
    request = page.get_by_role("row").filter(has_text="Approval Required").get_by_role("link", name=SUBJECT)
    request.wait_for()
    journey.shot("required-actions")
    journey.click(request)
    # Airflow's form names each field element_<param>; its label is not tied to the input.
    comment = page.locator("input#element_comment")
    comment.wait_for()
    journey.shot("the-request")
    journey.click(comment)
    comment.fill(COMMENT)
    journey.click(page.get_by_role("button", name="Approve"))
    page.get_by_text("Response received at").first.wait_for()
    page.get_by_text("approve response successful").wait_for()
    journey.shot("approved")


def test_a_reviewer_approves_on_the_required_actions_page(
    airflow_dags: AirflowDags, airflow_api: AirflowApi, catalog: Registry,
):
    """Carol approves on Required Actions in Chromium: the catalog holds her approval, and the version is promoted."""
    failures: list[BaseException] = []
    journeys: list[Journey] = []
    token = airflow_api.token(REVIEWER)

    def review() -> None:
        try:
            with chromium_page(sync_api) as page:
                journeys.append(Journey(page, airflow_api.url))
                approve_in_the_browser(journeys[0], airflow_api, token)
        except BaseException as error:  # re-raised in the test's thread, below
            failures.append(error)
            # A journey that broke must not leave dag.test() waiting for ever: answer as nobody would.
            if pending_approvals(airflow_api, token):
                airflow_api.answer_when_asked(REVIEWER, LIFECYCLE, "Reject", "the browser journey failed").join(60)

    reviewer = threading.Thread(target=review, daemon=True)
    reviewer.start()
    states = airflow_dags.run(LIFECYCLE)
    reviewer.join(timeout=120)
    assert not reviewer.is_alive(), "the browser journey did not end"
    if failures:
        raise failures[0]
    (journey,) = journeys
    assert journey.server_errors == []
    assert journey.clicks <= MAX_DECISION_CLICKS, journey.clicks
    assert states["approve"] == "success" and states["promote"] == "success", states
    (decision,) = catalog.show(f"models:/{MODEL}/1").decisions
    assert (decision.approver, decision.decision) == (REVIEWER, "approve")
    assert decision.comment.startswith(f"{COMMENT} (Airflow DAG {LIFECYCLE}, run ")
    assert catalog.resolve(f"models:/{MODEL}/Production").version == 1
    assert catalog.verify_audit().intact
    print(f"clicks from Airflow's home page to a recorded decision: {journey.clicks}")
