"""The one scoring path every endpoint shares: pick the slot (canary routing), score, count, log for shadow.

``POST /predict`` and the Open Inference Protocol's ``infer`` both go through
:func:`route_and_score`, so hot swap, canary fallback, metrics and the
prediction log (with shadow scoring) behave the same whichever protocol asked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from .model_holder import ServedModel
from .payload import PayloadError, PredictRequest, json_safe, to_model_input
from .runtime import ServingRuntime

__all__ = ["Scored", "error_response", "read_body", "refusal", "route_and_score"]

log = logging.getLogger("registry.serving")


@dataclass(frozen=True)
class Scored:
    """A request's answer and who gave it."""

    slot: str
    served: ServedModel
    answer: dict[str, Any]


async def route_and_score(
    runtime: ServingRuntime, request: PredictRequest, limiter: anyio.CapacityLimiter, *, version: int | None = None
) -> Scored | JSONResponse:
    """Score ``request`` on the primary or (as the router says) the canary; ``version`` pins the slot serving it.

    Returns the answer, or the error response to send: 503 before any version is loaded, 404 when
    ``version`` is not served, the model's own refusal (4xx), or 500 if a version fails on accepted records.
    """
    primary = runtime.primary.current
    if primary is None:
        return error_response(503, "no model version is loaded yet")
    canary = runtime.canary.current if runtime.canary is not None else None
    if version is not None:
        if primary.info.version == version:
            slot, served = "primary", primary
        elif canary is not None and canary.info.version == version:
            slot, served = "canary", canary
        else:
            return error_response(404, f"version {version} of {primary.info.model!r} is not served here")
    else:
        slot, served = "primary", primary
        if canary is not None and runtime.router.use_canary():
            slot, served = "canary", canary
    try:
        answer = await _score_on(served, request, limiter)
    except Exception as exc:  # classified below; a failing canary falls back to the primary
        if slot == "canary" and version is None:
            runtime.metrics.canary_fallbacks.inc()
            log.warning("canary version %d failed, answered by the primary: %s", served.info.version, exc)
            slot, served = "primary", primary
            try:
                answer = await _score_on(served, request, limiter)
            except Exception as again:  # the primary itself failed: classified as for any request
                return _model_error(again, served)
        else:
            return _model_error(exc, served)
    for holder in runtime.holders:
        holder.remember_sample(request.records)
    runtime.metrics.count_records(slot, served.info.version, len(request.records))
    _log_prediction(runtime, request, slot, served, answer["predictions"])
    return Scored(slot=slot, served=served, answer=answer)


async def _score_on(served: ServedModel, request: PredictRequest, limiter: anyio.CapacityLimiter) -> dict[str, Any]:
    # A fast version's small request is scored right here; a slow one's on a thread, so the loop keeps answering.
    if served.scores_inline(len(request.records)):
        return _score(served, request)
    return await anyio.to_thread.run_sync(_score, served, request, limiter=limiter)


def _score(served: ServedModel, request: PredictRequest) -> dict[str, Any]:
    features = to_model_input(request.records, served.schema)
    model = served.model
    try:
        predictions = model.predict(features)
        answer: dict[str, Any] = {"predictions": json_safe(predictions.tolist())}
        if request.return_probabilities:
            if not hasattr(model, "predict_proba"):
                if request.probabilities_optional:
                    return answer
                raise PayloadError(422, f"version {served.info.version} gives no probabilities")
            answer["probabilities"] = json_safe(model.predict_proba(features).tolist())
            answer["classes"] = json_safe(model.classes_.tolist())
    except (ValueError, TypeError, KeyError) as exc:
        # scikit-learn's way of saying the input does not fit (wrong dtype, infinity, unknown category...).
        raise PayloadError(422, f"the model could not score these records: {_first_line(exc)}") from None
    return answer


def _model_error(exc: Exception, served: ServedModel) -> JSONResponse:
    if isinstance(exc, PayloadError):
        return error_response(exc.status, exc.message)
    log.error("version %d failed to score accepted records: %s: %s", served.info.version, type(exc).__name__, exc)
    return error_response(500, f"version {served.info.version} failed to score the records; see the server log")


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


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, or :class:`PayloadError`: too large (413), too slow (408), or the client left (400)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadError(413, f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        # One deadline for the whole body: a client trickling a byte at a time holds no connection for long.
        # (asyncio's own timeout: the server runs on asyncio, and it costs a fraction of a cancel scope's time.)
        async with asyncio.timeout(timeout):
            more = True
            while more:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
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
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def refusal(refused: PayloadError) -> JSONResponse:
    """A refused body's answer; after a cut-off body the connection cannot carry another request, so it closes."""
    return error_response(refused.status, refused.message, headers={"Connection": "close"} if refused.close else None)


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": message}`` with ``status``: the shape of every refusal, /predict's and the protocol's alike."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
