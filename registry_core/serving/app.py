"""The scoring server's HTTP interface, a Starlette app: /predict, /health, /version, /metrics, /reload, /v2/….

Every refusal is a JSON ``{"error": ...}`` with a 4xx status saying what was
expected; only a model failing on records it had accepted gives a 500.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..uris import parse_model_uri
from .inference_protocol import endpoint_label, protocol_routes
from .metrics import CONTENT_TYPE, ServingMetrics
from .payload import PayloadError, parse_json_body, parse_predict_request
from .runtime import ServingRuntime
from .scoring import Scored, error_response, read_body, refusal, route_and_score

__all__ = ["create_app"]

log = logging.getLogger("registry.serving")

_RELOAD_BODY_LIMIT = 64 * 1024
_ENDPOINTS = {"/predict", "/health", "/version", "/metrics", "/reload"}


def create_app(runtime: ServingRuntime) -> ASGIApp:
    """The ASGI app serving ``runtime``'s slots; the runtime must be started (and is stopped) by the caller."""
    options = runtime.options
    state: dict[str, Any] = {}
    watched = {parse_model_uri(holder.uri).name for holder in runtime.holders}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["limiter"] = anyio.CapacityLimiter(options.predict_threads)
        yield

    async def predict(request: Request) -> Response:
        try:
            body = await read_body(request, options.max_body_bytes, options.body_timeout)
            parsed = parse_predict_request(body, max_records=options.max_records)
        except PayloadError as refused:
            return refusal(refused)
        scored = await route_and_score(runtime, parsed, state["limiter"])
        if not isinstance(scored, Scored):
            return scored
        slot, served, answer = scored.slot, scored.served, scored.answer
        return JSONResponse(
            {"model": served.info.model, "version": served.info.version, "uri": served.info.uri, "slot": slot, **answer}
        )

    async def health(_request: Request) -> Response:
        status, body = runtime.health()
        return JSONResponse(body, status_code=status)

    async def version(_request: Request) -> Response:
        return JSONResponse(runtime.status())

    async def metrics(_request: Request) -> Response:
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    async def reload(request: Request) -> Response:
        secret = options.reload_secret
        if secret is None:
            runtime.metrics.reloads.labels("disabled").inc()
            return error_response(403, "reload is disabled: start the server with --reload-secret or $REGISTRY_RELOAD_SECRET")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
            runtime.metrics.reloads.labels("unauthorized").inc()
            return error_response(401, "reload needs the shared secret as 'Authorization: Bearer <secret>'",
                                  headers={"WWW-Authenticate": 'Bearer realm="registry-serve"'})
        try:
            hint = _reload_hint(await read_body(request, _RELOAD_BODY_LIMIT, options.body_timeout))
        except PayloadError as refused:
            runtime.metrics.reloads.labels("invalid").inc()
            return refusal(refused)
        if hint.get("model") is not None and hint["model"] not in watched:
            runtime.metrics.reloads.labels("ignored").inc()
            return JSONResponse({"status": "ignored", "reason": f"this server does not serve model {hint['model']!r}"})
        runtime.follower.notify()
        runtime.metrics.reloads.labels("accepted").inc()
        current = runtime.primary.current
        return JSONResponse(
            {"status": "accepted", "serving": current.info.version if current else None, "hint": hint}, status_code=202
        )

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, exc.detail, headers=exc.headers)

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/reload", reload, methods=["POST"]),
            *protocol_routes(runtime, lambda: state["limiter"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )

    async def scoring_first(scope: Scope, receive: Receive, send: Send) -> None:
        # POST /predict, the request that comes thousands of times a second, goes straight to its handler; Starlette's
        # routing and exception layers (a tenth of a fast version's request) are for the rest. The handler answers
        # every refusal itself, and an unexpected error is a 500 from uvicorn, as it would be from Starlette.
        if scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            response = await predict(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await app(scope, receive, send)

    return RequestMetrics(scoring_first, runtime.metrics)


class RequestMetrics:
    """Counts and times every request by endpoint and status (unknown paths as ``other``)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in _ENDPOINTS else endpoint_label(path)
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe_request(endpoint, status, time.perf_counter() - started)


#: A hint names ``model`` and ``version``; the rest of a redeploy job's change record
#: (registry_pipelines' ProductionChange) is accepted and ignored, since the catalog decides.
_RELOAD_FIELDS = frozenset(
    {"model", "version", "uri", "artifact_sha256", "change", "audit_seq", "previous_version", "reason", "changed_by"}
)


def _reload_hint(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    document = parse_json_body(body, what="reload body")
    if not isinstance(document, dict):
        raise PayloadError(422, 'reload body must be an object like {"model": "fraud-detector", "version": 7}')
    unknown = sorted(set(document) - _RELOAD_FIELDS)
    if unknown:
        raise PayloadError(
            422, f"unknown field(s) {', '.join(map(repr, unknown))} in the reload body: expected model, version"
        )
    model, version = document.get("model"), document.get("version")
    if model is not None and not isinstance(model, str):
        raise PayloadError(422, "'model' must be a model name")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise PayloadError(422, "'version' must be a positive whole number")
    return {"model": model, "version": version}


