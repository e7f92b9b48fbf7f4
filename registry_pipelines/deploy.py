"""Telling serving systems that Production changed: deploy targets behind one Protocol, with retries.

A target is told which version now serves (model, version, URI, artifact
digest); it fetches and verifies the artifact from the registry itself. Two
implementations ship: an HTTP endpoint that receives the change as a JSON POST
(through :class:`registry_core.outbound.OutboundHttp`: one total deadline per
request, redirects never followed, so a bearer secret reaches only the
configured URL), and a command that receives it as JSON on stdin and in
``REGISTRY_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from registry_core.outbound import OutboundError, OutboundHttp

__all__ = [
    "CommandDeployTarget",
    "DeployError",
    "DeployOutcome",
    "DeployTarget",
    "HttpDeployTarget",
    "ProductionChange",
    "deploy_with_retries",
    "targets_from_env",
]


@dataclass(frozen=True)
class ProductionChange:
    """What a deploy target is told: the version that serves now, and why."""

    model: str
    version: int
    uri: str
    artifact_sha256: str
    #: ``promotion`` or ``rollback`` (``redeploy`` when launched by hand).
    change: str
    #: The audit event that made the change, when known.
    audit_seq: int | None = None
    previous_version: int | None = None
    reason: str | None = None
    changed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: The shared secret of ``registry serve``'s ``/reload`` (the same variable the server reads).
RELOAD_SECRET_ENV = "REGISTRY_RELOAD_SECRET"
USER_AGENT = "dagster-model-registry-deploy/2"


class DeployError(Exception):
    """A deploy target refused or could not be reached; the message says which and why."""


@runtime_checkable
class DeployTarget(Protocol):
    """Something that starts serving a version when told to."""

    @property
    def name(self) -> str:
        """How the target appears in the audit log (``record_deployment``'s target)."""
        ...

    def deploy(self, change: ProductionChange) -> str:
        """Tell the target; return a short account of its answer, or raise :class:`DeployError`."""
        ...


@dataclass(frozen=True)
class HttpDeployTarget:
    """POSTs the change as JSON to ``url``; any 2xx answer counts as deployed, a redirect does not.

    ``timeout_seconds`` is the whole request's deadline. ``headers`` (the
    reload secret, say) go to ``url`` only: a redirect is reported, never
    followed.
    """

    url: str
    timeout_seconds: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"deploy URL {self.url!r} must start with http:// or https://")
        if not self.timeout_seconds > 0:
            raise ValueError("a deploy target's timeout must be positive")

    @property
    def name(self) -> str:
        """The URL without credentials or query, as the audit log shows it."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def deploy(self, change: ProductionChange) -> str:
        body = json.dumps(change.to_json()).encode()
        headers = {"Content-Type": "application/json", **dict(self.headers)}
        try:
            with OutboundHttp(user_agent=USER_AGENT, max_connections=1) as http:
                answer = http.post(self.url, body, headers, deadline=self.timeout_seconds)
        except OutboundError as exc:
            raise DeployError(f"{self.name} unreachable: {exc}") from None
        if not answer.succeeded:
            raise DeployError(f"{self.name} answered {answer.describe()}")
        return f"HTTP {answer.status_code}"


@dataclass(frozen=True)
class CommandDeployTarget:
    """Runs a command (no shell) with the change as JSON on stdin; exit status 0 counts as deployed."""

    command: Sequence[str]
    timeout_seconds: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.command, str):
            object.__setattr__(self, "command", tuple(shlex.split(self.command)))
        if not self.command:
            raise ValueError("a deploy command cannot be empty")

    @property
    def name(self) -> str:
        return "command:" + shlex.join(self.command)

    def deploy(self, change: ProductionChange) -> str:
        env = {
            **os.environ,
            "REGISTRY_MODEL": change.model,
            "REGISTRY_VERSION": str(change.version),
            "REGISTRY_MODEL_URI": change.uri,
            "REGISTRY_ARTIFACT_SHA256": change.artifact_sha256,
            "REGISTRY_CHANGE": change.change,
        }
        try:
            result = subprocess.run(  # noqa: S603 - the configured command, without a shell
                list(self.command), input=json.dumps(change.to_json()), env=env,
                capture_output=True, text=True, timeout=self.timeout_seconds, check=False,
            )
        except FileNotFoundError:
            raise DeployError(f"deploy command not found: {self.command[0]}") from None
        except subprocess.TimeoutExpired:
            raise DeployError(f"deploy command timed out after {self.timeout_seconds:g}s") from None
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            raise DeployError(f"deploy command exited with status {result.returncode}: {tail[0]}".rstrip(": "))
        return f"exit status 0{': ' + result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ''}"


@dataclass(frozen=True)
class DeployOutcome:
    """How telling one target went, after every attempt."""

    target: str
    succeeded: bool
    attempts: int
    detail: str
    errors: tuple[str, ...] = ()

    def details(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "detail": self.detail, "errors": list(self.errors)}


def deploy_with_retries(
    target: DeployTarget,
    change: ProductionChange,
    *,
    attempts: int,
    backoff_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> DeployOutcome:
    """Try ``attempts`` times, waiting ``backoff_seconds``, then twice that, and so on between tries."""
    errors: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            answer = target.deploy(change)
        except DeployError as exc:
            errors.append(str(exc))
            if attempt == attempts:
                break
            delay = backoff_seconds * 2 ** (attempt - 1)
            if on_retry is not None:
                on_retry(attempt, str(exc), delay)
            sleep(delay)
        else:
            return DeployOutcome(target.name, True, attempt, answer, tuple(errors))
    return DeployOutcome(target.name, False, attempts, errors[-1], tuple(errors))


def targets_from_env(prefix: str, environ: Mapping[str, str] | None = None) -> tuple[DeployTarget, ...]:
    """Targets configured by ``{PREFIX}_DEPLOY_URL`` and ``{PREFIX}_DEPLOY_COMMAND`` (either, both or neither).

    With ``$REGISTRY_RELOAD_SECRET`` set, the URL target presents it as a bearer
    token, which is what ``registry serve``'s ``POST /reload`` asks for.
    """
    env = os.environ if environ is None else environ
    targets: list[DeployTarget] = []
    if env.get(f"{prefix}_DEPLOY_URL"):
        secret = env.get(RELOAD_SECRET_ENV)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        targets.append(HttpDeployTarget(env[f"{prefix}_DEPLOY_URL"], headers=headers))
    if env.get(f"{prefix}_DEPLOY_COMMAND"):
        targets.append(CommandDeployTarget(env[f"{prefix}_DEPLOY_COMMAND"]))
    return tuple(targets)
