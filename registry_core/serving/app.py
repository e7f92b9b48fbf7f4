"""The scoring server's HTTP interface, a Starlette app: /predict, /health, /version, /metrics, /reload.

Every refusal is a JSON ``{"error": ...}`` with a 4xx status saying what was
expected; only a model failing on records it had accepted gives a 500.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..uris import parse_model_uri
from .metrics import CONTENT_TYPE, ServingMetrics
from .model_holder import ServedModel
from .payload import PayloadError, PredictRequest, json_safe, parse_json_body, parse_predict_request, to_model_input
from .runtime import ServingRuntime

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
            body = await _read_body(request, options.max_body_bytes, options.body_timeout)
            parsed = parse_predict_request(body, max_records=options.max_records)
        except PayloadError as refused:
            return _refusal(refused)
        primary = runtime.primary.current
        if primary is None:
            return _error(503, "no model version is loaded yet")
        slot, served = "primary", primary
        canary = runtime.canary.current if runtime.canary is not None else None
        if canary is not None and runtime.router.use_canary():
            slot, served = "canary", canary
        try:
            answer = await anyio.to_thread.run_sync(_score, served, parsed, limiter=state["limiter"])
        except Exception as exc:  # classified below; a failing canary falls back to the primary
            if slot == "canary":
                runtime.metrics.canary_fallbacks.inc()
                log.warning("canary version %d failed, answered by the primary: %s", served.info.version, exc)
                slot, served = "primary", primary
                try:
                    answer = await anyio.to_thread.run_sync(_score, served, parsed, limiter=state["limiter"])
                except Exception as again:  # the primary itself failed: classified as for any request
                    return _model_error(again, served)
            else:
                return _model_error(exc, served)
        for holder in runtime.holders:
            holder.remember_sample(parsed.records)
        runtime.metrics.records.labels(slot, str(served.info.version)).inc(len(parsed.records))
        _log_prediction(runtime, parsed, slot, served, answer["predictions"])
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
            return _error(403, "reload is disabled: start the server with --reload-secret or $REGISTRY_RELOAD_SECRET")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
            runtime.metrics.reloads.labels("unauthorized").inc()
            return _error(401, "reload needs the shared secret as 'Authorization: Bearer <secret>'",
                          headers={"WWW-Authenticate": 'Bearer realm="registry-serve"'})
        try:
            hint = _reload_hint(await _read_body(request, _RELOAD_BODY_LIMIT, options.body_timeout))
        except PayloadError as refused:
            runtime.metrics.reloads.labels("invalid").inc()
            return _refusal(refused)
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
        return _error(exc.status_code, exc.detail, headers=exc.headers)

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/reload", reload, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    return RequestMetrics(app, runtime.metrics)


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
        endpoint = path if path in _ENDPOINTS else "other"
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
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint, str(status)).inc()


def _score(served: ServedModel, request: PredictRequest) -> dict[str, Any]:
    features = to_model_input(request.records, served.schema)
    model = served.model
    try:
        predictions = model.predict(features)
        answer: dict[str, Any] = {"predictions": json_safe(predictions.tolist())}
        if request.return_probabilities:
            if not hasattr(model, "predict_proba"):
                raise PayloadError(422, f"version {served.info.version} gives no probabilities")
            answer["probabilities"] = json_safe(model.predict_proba(features).tolist())
            answer["classes"] = json_safe(model.classes_.tolist())
    except (ValueError, TypeError, KeyError) as exc:
        # scikit-learn's way of saying the input does not fit (wrong dtype, infinity, unknown category...).
        raise PayloadError(422, f"the model could not score these records: {_first_line(exc)}") from None
    return answer


def _model_error(exc: Exception, served: ServedModel) -> Response:
    if isinstance(exc, PayloadError):
        return _error(exc.status, exc.message)
    log.error("version %d failed to score accepted records: %s: %s", served.info.version, type(exc).__name__, exc)
    return _error(500, f"version {served.info.version} failed to score the records; see the server log")


def _log_prediction(
    runtime: ServingRuntime, request: PredictRequest, slot: str, served: ServedModel, predictions: list[Any]
) -> None:
    if runtime.prediction_log is None:
        return
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "request_id": uuid.uuid4().hex,
        "model": served.info.model,
        "records": request.records,
        "served": {"slot": slot, "version": served.info.version, "predictions": predictions},
    }
    if runtime.shadow_scorer is not None and runtime.shadow is not None and runtime.shadow.current is not None:
        runtime.shadow_scorer.submit(entry)
    else:
        entry["shadow"] = None
        runtime.prediction_log.record(entry)


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, or :class:`PayloadError`: too large (413), too slow (408), or the client left (400)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadError(413, f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        # One deadline for the whole body: a client trickling a byte at a time holds no connection for long.
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadError(413, f"request body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise PayloadError(408, f"request body not received within {timeout:g} seconds", close=True) from None
    except ClientDisconnect:
        # Nobody is left to read an answer; a client going away is routine, not a server error.
        log.info("client disconnected before sending the whole request body")
        raise PayloadError(400, "client disconnected before sending the whole request body", close=True) from None
    return b"".join(chunks)


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


def _refusal(refused: PayloadError) -> JSONResponse:
    """A refused body's answer; after a cut-off body the connection cannot carry another request, so it closes."""
    return _error(refused.status, refused.message, headers={"Connection": "close"} if refused.close else None)


def _error(status: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
