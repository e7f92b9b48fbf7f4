"""Deploy targets: what they send, how they fail, and the backoff between attempts."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import RecordingServer, Trickler, redirecting_to

from registry_pipelines import build_registry_definitions
from registry_pipelines.deploy import (
    CommandDeployTarget,
    DeployError,
    DeployTarget,
    HttpDeployTarget,
    ProductionChange,
    deploy_with_retries,
    targets_from_env,
)
from registry_pipelines.testing import InProcessLifecycle

from .steps import MODEL, decide, to_staging

CHANGE = ProductionChange(
    model="fraud-detector", version=3, uri="models:/fraud-detector/3", artifact_sha256="ab" * 32,
    change="promotion", audit_seq=42, previous_version=2, reason="every gate holds", changed_by="dagster",
)


def test_http_target_posts_the_change_as_json(deploy_endpoint):
    """The endpoint receives model, version, URI, digest and why."""
    answer = HttpDeployTarget(deploy_endpoint.url).deploy(CHANGE)
    assert answer == "HTTP 200"
    assert deploy_endpoint.received == [CHANGE.to_json()]


def test_http_target_reports_an_error_status(deploy_endpoint):
    deploy_endpoint.down = True
    with pytest.raises(DeployError, match="answered HTTP 503"):
        HttpDeployTarget(deploy_endpoint.url).deploy(CHANGE)


def test_http_target_reports_an_unreachable_endpoint_without_its_credentials():
    """Nothing listening on the port: a DeployError naming the URL (as the audit log may show it), not a traceback."""
    with pytest.raises(DeployError, match="unreachable") as refused:
        HttpDeployTarget("http://deployer:s3cret@127.0.0.1:9/deploy?token=abc", timeout_seconds=2).deploy(CHANGE)
    assert str(refused.value).startswith("http://127.0.0.1:9/deploy unreachable")
    assert "s3cret" not in str(refused.value) and "token" not in str(refused.value)


def test_http_target_keeps_credentials_out_of_its_name():
    """The target's name goes into the audit log, so a password in the URL must not; it is the URL, scheme once."""
    target = HttpDeployTarget("https://deployer:s3cret@serving.example/hooks/fraud?token=abc")
    assert target.name == "https://serving.example/hooks/fraud"


@pytest.fixture
def elsewhere() -> Iterator[RecordingServer]:
    """Another loopback port, where a redirect would send the request."""
    server = RecordingServer()
    try:
        yield server
    finally:
        server.close()


def test_http_target_does_not_follow_a_redirect_nor_send_its_secret_elsewhere(elsewhere: RecordingServer):
    """A 302 to another port is a failure naming status and Location; that port receives no request and no secret."""
    redirector = redirecting_to(elsewhere.url("/reload"))
    try:
        (target,) = targets_from_env(
            "FRAUD", {"FRAUD_DEPLOY_URL": redirector.url("/reload"), "REGISTRY_RELOAD_SECRET": "s3cret-reload-token"}
        )
        with pytest.raises(DeployError) as refused:
            target.deploy(CHANGE)
    finally:
        redirector.close()
    assert str(refused.value) == (
        f"{redirector.url('/reload')} answered HTTP 302 redirect to {elsewhere.url('/reload')}, not followed"
    )
    assert elsewhere.requests == []
    [request] = redirector.requests
    assert (request.method, request.headers["authorization"]) == ("POST", "Bearer s3cret-reload-token")


def test_http_target_gives_up_on_a_trickling_endpoint_at_its_deadline():
    """An endpoint answering one byte at a time is cut off at the request's deadline, not after each read."""
    trickler = Trickler(interval=0.5, limit=20)
    started = time.monotonic()
    try:
        with pytest.raises(DeployError, match="deadline"):
            HttpDeployTarget(trickler.url("/deploy"), timeout_seconds=1).deploy(CHANGE)
        elapsed = time.monotonic() - started
    finally:
        trickler.close()
    assert elapsed < 1 + 1.5


def test_http_target_needs_an_http_url():
    with pytest.raises(ValueError, match="http"):
        HttpDeployTarget("file:///etc/passwd")


def test_command_target_gets_the_change_on_stdin_and_in_its_environment(tmp_path: Path):
    out = tmp_path / "received.json"
    script = (
        "import json, os, sys; change = json.load(sys.stdin); "
        f"json.dump({{**change, 'env_version': os.environ['REGISTRY_VERSION']}}, open({str(out)!r}, 'w')); print('ok')"
    )
    answer = CommandDeployTarget([sys.executable, "-c", script]).deploy(CHANGE)
    assert answer == "exit status 0: ok"
    received = json.loads(out.read_text())
    assert received["uri"] == CHANGE.uri
    assert received["env_version"] == "3"


def test_command_target_reports_a_failing_command():
    target = CommandDeployTarget([sys.executable, "-c", "import sys; sys.exit('serving cluster unreachable')"])
    with pytest.raises(DeployError, match="exited with status 1: serving cluster unreachable"):
        target.deploy(CHANGE)


def test_command_target_reports_a_missing_program():
    with pytest.raises(DeployError, match="not found"):
        CommandDeployTarget("no-such-deploy-tool --now").deploy(CHANGE)


def test_both_targets_satisfy_the_protocol():
    assert isinstance(HttpDeployTarget("http://127.0.0.1/"), DeployTarget)
    assert isinstance(CommandDeployTarget("true"), DeployTarget)


class Flaky:
    """A target failing a set number of times before it answers."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def deploy(self, change: ProductionChange) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise DeployError(f"refused #{self.calls}")
        return "ok"


def test_retries_back_off_exponentially_until_success():
    """Waits 0.5 s, 1 s, 2 s between four attempts; success on the fourth."""
    waits: list[float] = []
    outcome = deploy_with_retries(Flaky(3), CHANGE, attempts=4, backoff_seconds=0.5, sleep=waits.append)
    assert outcome.succeeded and outcome.attempts == 4
    assert waits == [0.5, 1.0, 2.0]
    assert outcome.errors == ("refused #1", "refused #2", "refused #3")


def test_retries_give_up_after_the_last_attempt_without_waiting_again():
    waits: list[float] = []
    outcome = deploy_with_retries(Flaky(10), CHANGE, attempts=3, backoff_seconds=1, sleep=waits.append)
    assert not outcome.succeeded
    assert outcome.attempts == 3 and outcome.detail == "refused #3"
    assert waits == [1, 2]


def test_targets_from_environment():
    targets = targets_from_env(
        "FRAUD_DETECTOR",
        {"FRAUD_DETECTOR_DEPLOY_URL": "http://127.0.0.1:8080/deploy", "FRAUD_DETECTOR_DEPLOY_COMMAND": "kubectl rollout restart deploy/fraud"},
    )
    assert [t.name for t in targets] == [
        "http://127.0.0.1:8080/deploy", "command:kubectl rollout restart deploy/fraud",
    ]
    assert targets_from_env("FRAUD_DETECTOR", {}) == ()


def test_a_redirected_redeploy_is_recorded_as_failed_with_its_status(
    make_pipeline, registry_resource, instance, catalog, elsewhere: RecordingServer
):
    """The redeploy job against a target answering 302: the audit log says failed, HTTP 302; the other port hears nothing."""
    redirector = redirecting_to(elsewhere.url("/deploy"))
    try:
        pipeline = make_pipeline(deploy_targets=(HttpDeployTarget(redirector.url("/deploy"), timeout_seconds=5),))
        lifecycle = InProcessLifecycle(
            build_registry_definitions(pipeline, registry=registry_resource), instance, log_level="CRITICAL"
        )
        version = to_staging(lifecycle, pipeline)
        # The approval leaves no gate unmet, so its run promotes and redeploys by itself.
        run = decide(lifecycle, version, pipeline=pipeline)
    finally:
        redirector.close()
    [deployment] = [e for e in catalog.audit_events(MODEL) if e.action == "deployment.record"]
    assert not run.success
    assert deployment.after["target"] == redirector.url("/deploy")
    assert deployment.after["succeeded"] is False
    assert deployment.after["details"]["detail"] == (
        f"{redirector.url('/deploy')} answered HTTP 302 redirect to {elsewhere.url('/deploy')}, not followed"
    )
    assert len(redirector.requests) == pipeline.deploy_attempts
    assert elsewhere.requests == []
