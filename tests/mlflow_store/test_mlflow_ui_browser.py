"""The MLflow UI's Models pages on our catalog: a live `mlflow server`, driven by Playwright and Chromium.

Two versions of fraud-detector are registered with MLflow's client and
version 1 moved to Staging. In the browser: the model list, the model's
page with both versions and their stages, version 1's page with the
registry's read-only gate tags (and its MLmodel read through the registry's
verified bytes), a move to Production from the stage menu refused for the
missing approval with the server's message on the page, a move to Archived
that succeeds, and the delete-model action refused while a protected alias
points at version 2. A full-page screenshot is
saved at each step (where: tests/browser.py). No answer during the session is
a 5xx, no script error is thrown, and the console shows no error but the
known ones listed in ``HARMLESS_CONSOLE_ERRORS``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from browser import Screenshots, chromium_page, sync_api_or_skip
from mlflow import MlflowClient

from .live_server import LiveServer
from .steps import log_and_register

sync_api = sync_api_or_skip()

MODEL = "fraud-detector"
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

#: MLflow 3.18's UI asks for a presigned download of a version's file before reading it through the server.
PRESIGNED_PROBE = r"/model-versions/get-artifact\?.*&presigned=true$"
#: Console errors that are not the store's, as (URL pattern, why). The browser logs "Failed to load resource"
#: for every answer that is not a success, with the resource's URL as the message's location.
HARMLESS_CONSOLE_ERRORS = (
    # The UI asks who is logged in; without MLflow's auth app (--app-name basic-auth) the route does not exist.
    (r"/ajax-api/2\.0/mlflow/users/current$", "404: no MLflow auth app"),
    # The refusals this test provokes on purpose, checked below: a 403 for the gate, a 403 for the delete.
    (r"/ajax-api/2\.0/mlflow/model-versions/transition-stage$", "the gate's refusal"),
    (r"/ajax-api/2\.0/mlflow/registered-models/delete$", "the delete's refusal"),
    # MLflow 3.18's UI first asks for a presigned download URL; MLflow's server answers 501 ("Presigned download is
    # not supported for the current artifact repository") for every repository that cannot presign, its own local
    # store too, and the UI then reads the file through the server.
    (PRESIGNED_PROBE, "MLflow's presigned-download probe"),
)


@dataclass
class Session:
    """What the browser saw besides the pages: every answer's status, script errors, console errors."""

    responses: list[tuple[int, str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("response", lambda r: self.responses.append((r.status, r.request.method, r.url)))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", lambda m: self.console_errors.append((m.text, m.location.get("url", "")))
                if m.type == "error" else None)

    def server_errors(self) -> list[tuple[int, str, str]]:
        """5xx answers, but for MLflow's own 501 to its UI's presigned-download probe (see PRESIGNED_PROBE)."""
        return [answer for answer in self.responses
                if answer[0] >= 500 and not (answer[0] == 501 and re.search(PRESIGNED_PROBE, answer[2]))]

    def unexplained_console_errors(self) -> list[tuple[str, str]]:
        return [(text, url) for text, url in self.console_errors
                if not any(re.search(pattern, url) for pattern, _ in HARMLESS_CONSOLE_ERRORS)]


def row(page: Any, *texts: str) -> Any:
    """The table row holding every one of ``texts``."""
    rows = page.get_by_role("row")
    for text in texts:
        rows = rows.filter(has_text=text)
    return rows.first


def choose_stage(page: Any, target: str) -> Any:
    """Open the version page's stage menu, pick "Transition to ``target``", confirm; the server's answer."""
    page.locator(".mlflow-stage-transition-dropdown").click()
    page.get_by_role("menuitem").filter(has_text=target).click()
    dialog = page.get_by_role("dialog").filter(has_text="Stage transition")
    dialog.wait_for()
    with page.expect_response(lambda r: r.url.endswith("/model-versions/transition-stage")) as answer:
        dialog.get_by_role("button", name="OK").click()
    dialog.wait_for(state="hidden")
    return answer.value


def test_the_models_pages_work_on_the_catalog(live_server: LiveServer, fraud_data):
    """List, model, version with its gates; Production refused in the UI for the missing approval; delete refused."""
    client = MlflowClient()
    log_and_register(fraud_data, seed=1)
    log_and_register(fraud_data, seed=2)
    client.transition_model_version_stage(MODEL, "1", "Staging")
    for command, actor in ((("policy", MODEL, "--protect-alias", "champion"), "alice"),
                           (("approve", MODEL, "2"), "bob"), (("alias", MODEL, "champion", "2"), "alice")):
        done = live_server.registry_cli(*command, actor=actor)
        assert done.returncode == 0, done.stderr
    version_1 = client.get_model_version(MODEL, "1")
    unmet = version_1.tags["registry.unmet_gates"]
    assert "approval" in unmet
    run_name = client.get_run(version_1.run_id).info.run_name
    session = Session()

    with chromium_page(sync_api) as page:
        session.watch(page)
        shots = Screenshots(page, "mlflow-models-pages")

        # 1. The model list. MLflow 3 opens it with a one-time introduction to its "new model registry UI" (aliases
        #    and tags instead of stages); closed, then that UI switched off, the list shows the Staging column.
        page.goto(f"{live_server.url}/#/models")
        page.get_by_role("link", name=MODEL).wait_for()
        intro = page.get_by_role("dialog").filter(has_text="new Model Registry UI")
        with contextlib.suppress(sync_api.TimeoutError):
            intro.wait_for(timeout=10_000)
        if intro.count():
            intro.get_by_role("button", name="Close").first.click()
            intro.wait_for(state="hidden")
        page.get_by_role("switch", name="New model registry UI").click()
        page.get_by_role("dialog").filter(has_text="Disable the new model stages").get_by_role(
            "button", name="Disable").click()
        page.get_by_role("columnheader", name="Staging").wait_for()
        listed = row(page, MODEL)
        listed.wait_for()
        assert [cell.strip() for cell in listed.get_by_role("cell").all_inner_texts()[:4]] == [
            MODEL, "Version 2", "Version 1", "—"]  # name, latest version, latest in Staging, latest in Production
        shots.take("model-list")

        # 2. The model's page: both versions and their stages.
        page.get_by_role("link", name=MODEL).click()
        row(page, "Version 2", "None").wait_for()
        row(page, "Version 1", "Staging").wait_for()
        shots.take("model-versions-and-stages")

        # 3. Version 1's page: the registry's read-only tags, and the schema read from its MLmodel (verified bytes).
        # MLflow 3.18's UI first asks for a presigned URL, which MLflow's server answers 501 for any repository
        # that cannot presign (its own local store too), then reads the file through the server: that read counts.
        with page.expect_response(lambda r: "/model-versions/get-artifact" in r.url and "path=MLmodel" in r.url
                                  and "presigned=true" not in r.url) as mlmodel:
            page.get_by_role("link", name="Version 1", exact=True).click()
        assert mlmodel.value.status == 200
        row(page, "registry.unmet_gates", unmet).wait_for()
        row(page, "registry.approved_by").wait_for()
        page.get_by_role("link", name=run_name).wait_for()  # the source run, read from the tracking store
        page.get_by_test_id("source-model-link").wait_for()
        shots.take("version-1-gates")

        # 4. Staging -> Production from the stage menu: refused, and the page shows the server's reason.
        refusal = choose_stage(page, "Production")
        assert refusal.status == 403
        reason = refusal.json()["message"]
        assert "approval" in reason
        notification = page.get_by_role("alert").filter(has_text=f"PERMISSION_DENIED: {reason}")
        notification.wait_for()
        shots.take("production-refused-missing-approval")
        assert client.get_model_version(MODEL, "1").current_stage == "Staging"
        page.get_by_label("Close notification").click()
        notification.wait_for(state="hidden")

        # 5. Staging -> Archived is in the stage table: it goes through. (MLflow's UI only offers deleting a model
        #    that has no version in Staging or Production.)
        archived = choose_stage(page, "Archived")
        assert archived.status == 200
        page.locator(".mlflow-stage-transition-dropdown").filter(has_text="Archived").wait_for()
        shots.take("version-1-archived")

        # 6. The model's delete action: refused while a protected alias points at version 2 (it is in service).
        page.get_by_role("link", name=MODEL).click()
        row(page, "Version 1", "Archived").wait_for()
        page.get_by_role("button", name="Open header dropdown menu").click()
        page.get_by_role("menuitem", name="Delete").click()
        confirm = page.get_by_role("dialog").filter(has_text="Delete Model")
        with page.expect_response(lambda r: r.url.endswith("/registered-models/delete")) as deleted:
            confirm.get_by_role("button", name="Delete").click()
        assert deleted.value.status == 403
        reason = deleted.value.json()["message"]
        assert "protected alias @champion points at version 2" in reason
        page.get_by_role("alert").filter(has_text=f"PERMISSION_DENIED: {reason}").wait_for()
        shots.take("delete-model-refused")

    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name='{MODEL}'")}
    assert stages == {"1": "Archived", "2": "None"}, "the model and its versions are still there"
    assert not session.server_errors(), session.server_errors()
    assert not session.page_errors, session.page_errors
    assert not session.unexplained_console_errors(), session.unexplained_console_errors()
    provoked = {url.rsplit("/", 1)[-1] for _, url in session.console_errors}
    assert {"transition-stage", "delete"} <= provoked, "the console listener saw the refusals this test provoked"
    assert len(shots.taken) == 6
