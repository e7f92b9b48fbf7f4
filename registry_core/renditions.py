"""Renditions: an ONNX artifact derived from a scikit-learn version, recorded beside it, served within a tolerance.

``Registry.render_onnx(name, version, validation)`` loads the version as any
load does (its bytes verified, its types judged by the model's policy now),
converts it with skl2onnx (:mod:`.onnx_rendition`), stores the ONNX bytes as a
blob of their own and records them, with their digest, the converter and its
version and the parity figure, as a ``renditions`` row and a ``version.render``
audit event in one transaction. The version itself is never touched: its
artifact, digest and row stay as registered. A version has at most one ONNX
rendition.

Serving answers with the rendition instead of the estimator only when the
model's policy sets ``onnx_parity`` and the rendition's parity is within it,
its row agrees with its audit event, and its bytes verify against its digest
(:func:`serving_choice`, :meth:`RenditionMethods.load_rendition`); otherwise
it serves the estimator, saying why.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from .actions import AuditAction
from .artifacts import load_artifact
from .blobstore import BlobStore, read_verified
from .divergence import Divergence
from .errors import ConflictError, InvalidInput
from .lookups import lock_version
from .model_files import MAX_MODEL_FILE, check_load_size
from .policy import GatePolicy
from .rendition_table import Rendition
from .rows import AUDIT, MODELS, VERSIONS
from .unit_of_work import Catalog
from .validation import validate_name, validate_version_number

if TYPE_CHECKING:
    from .records import VersionInfo

__all__ = ["RENDITIONS", "RenditionChoice", "RenditionInfo", "RenditionMethods", "rendition_divergences",
           "serving_choice"]

RENDITIONS = Rendition.__table__
#: The fields a ``version.render`` event records, each compared with its row by ``registry audit --verify``.
RECORDED = ("kind", "artifact_sha256", "artifact_size", "artifact_format", "converter", "converter_version", "parity",
            "parity_output", "validation_rows", "validation_sha256")


@dataclass(frozen=True)
class RenditionInfo:
    """One rendition of a version, as recorded."""

    model: str
    version: int
    kind: str
    artifact_sha256: str
    artifact_size: int
    artifact_format: dict[str, Any]
    converter: str
    converter_version: str
    parity: float
    parity_output: str
    validation_rows: int
    validation_sha256: str
    created_by: str
    created_at: datetime
    audit_seq: int


@dataclass(frozen=True)
class RenditionChoice:
    """Which artifact serving answers a version with: its rendition when ``rendition`` is set, and why."""

    rendition: RenditionInfo | None
    reason: str


def renderable(version: VersionInfo) -> bool:
    """Whether a version is a scikit-learn estimator stored with skops (alone, or as a folder's model file)."""
    fmt = version.artifact_format
    if version.artifact_kind == "directory":
        return fmt.get("model_format") == "sklearn"
    return version.artifact_kind == "sklearn" and fmt.get("serializer") == "skops"


class RenditionMethods:
    """The registry's methods for renditions (:class:`~registry_core.registry.Registry` inherits them)."""

    catalog: Catalog
    store: BlobStore
    actor: str

    def render_onnx(self, name: str, version: int | str, validation: Any) -> RenditionInfo:
        """Record an ONNX rendition of a scikit-learn (skops) version, with its parity on ``validation`` records.

        ``validation``: a data frame, an array or a list of records, as the estimator takes them. A version that is
        not a skops estimator, already has a rendition, or that skl2onnx cannot convert is refused with one line
        (:class:`InvalidInput`, :class:`ConflictError`) and nothing is recorded.
        """
        from . import queries  # which reads the audit log through reconcile, which reads renditions through this module
        from .onnx_rendition import render_estimator

        number = validate_version_number(version)
        validate_name(name)
        info, policy = queries.resolve_with_policy(self.catalog, f"models:/{name}/{number}")
        if not renderable(info):
            raise InvalidInput(
                f"{info.uri} is not a scikit-learn estimator stored with skops; only those are rendered as ONNX"
            )
        if self.renditions(name, number):
            raise ConflictError(f"{info.uri} already has an ONNX rendition; a version has at most one")
        # Converted in this process, from the version loaded exactly as load_model loads it: verified, policy-judged.
        estimator = load_artifact(
            self.store, kind=info.artifact_kind, sha256=info.artifact_sha256, label=info.uri,
            format=info.artifact_format, model=info.model, policy=policy, size=info.artifact_size,
        )
        rendered = render_estimator(estimator, validation, label=info.uri,
                                    max_bytes=min(policy.max_load_bytes, MAX_MODEL_FILE))
        blob = self.store.put_stream(io.BytesIO(rendered.data))
        after = {
            "of_sha256": info.artifact_sha256, "kind": "onnx", "artifact_sha256": blob.sha256,
            "artifact_size": blob.size, "artifact_format": rendered.format, "converter": "skl2onnx",
            "converter_version": rendered.converter_version, "parity": rendered.parity,
            "parity_output": rendered.parity_output, "validation_rows": rendered.validation_rows,
            "validation_sha256": rendered.validation_sha256,
        }
        with self.catalog.write(self.actor) as work:
            row = lock_version(work.connection, work.dialect, name, number)
            if row.artifact_sha256 != info.artifact_sha256:
                raise ConflictError(f"{info.uri} changed while it was being rendered; nothing was recorded")
            taken = work.connection.execute(
                select(RENDITIONS.c.id).where(RENDITIONS.c.version_id == row.id, RENDITIONS.c.kind == "onnx")
            ).first()
            if taken is not None:
                raise ConflictError(f"{info.uri} already has an ONNX rendition; a version has at most one")
            event = work.record(AuditAction.VERSION_RENDER, name, number, {}, after)
            fields = {key: after[key] for key in RECORDED}
            work.connection.execute(insert(RENDITIONS).values(
                version_id=row.id, created_by=self.actor, created_at=work.now, audit_seq=event.seq, **fields,
            ))
        return RenditionInfo(model=name, version=number, created_by=self.actor, created_at=work.now,
                             audit_seq=event.seq, **fields)

    def renditions(self, name: str, version: int | str) -> list[RenditionInfo]:
        """The renditions recorded for a version (at most one ONNX rendition)."""
        number = validate_version_number(version)
        validate_name(name)
        with self.catalog.read() as connection:
            return [_info(name, number, row) for row in connection.execute(_rendition_rows(name, number))]

    def serving_choice(self, version: VersionInfo) -> RenditionChoice:
        """Whether serving answers ``version`` with its ONNX rendition (see :func:`serving_choice`)."""
        with self.catalog.read() as connection:
            return serving_choice(connection, version.model, version.version)

    def load_rendition(self, rendition: RenditionInfo) -> Any:
        """The rendition as a model with ``predict`` (and ``predict_proba``), its bytes verified against its digest."""
        from .formats.onnx_format import load_onnx

        policy = GatePolicy.from_dict(_policy_of(self.catalog, rendition.model))
        label = f"the ONNX rendition of models:/{rendition.model}/{rendition.version}"
        check_load_size(rendition.artifact_size, label=label, model=rendition.model, policy=policy)
        data = read_verified(self.store, rendition.artifact_sha256, label=label,
                             limit=min(policy.max_load_bytes, MAX_MODEL_FILE))
        model = load_onnx(data, label=label, max_bytes=min(policy.max_load_bytes, MAX_MODEL_FILE))
        names = rendition.artifact_format.get("feature_names")
        if names is not None:
            import numpy as np

            # What the serving input check reads: records arrive by the estimator's own feature names.
            model.feature_names_in_ = np.asarray(names, dtype=object)
        return model


def serving_choice(connection: Connection, name: str, number: int) -> RenditionChoice:
    """Serve the rendition only with a policy tolerance, a rendition within it, and a row that agrees with its event."""
    policy = GatePolicy.from_dict(connection.execute(select(MODELS.c.policy).where(MODELS.c.name == name)).scalar())
    if policy.onnx_parity is None:
        return RenditionChoice(None, "the model's policy sets no ONNX parity tolerance")
    row = connection.execute(_rendition_rows(name, number, with_event=True)).first()
    if row is None:
        return RenditionChoice(None, "the version has no ONNX rendition")
    info = _info(name, number, row)
    problems = _differences(row, json.loads(row.after) if row.after is not None else None, name, number)
    if problems:
        return RenditionChoice(None, f"its rendition row differs from its audit event ({', '.join(problems)})")
    if info.parity > policy.onnx_parity:
        return RenditionChoice(
            None, f"its rendition's parity {info.parity:.3g} exceeds the policy's tolerance {policy.onnx_parity:.3g}"
        )
    return RenditionChoice(info, f"its rendition's parity {info.parity:.3g} is within the tolerance {policy.onnx_parity:.3g}")


def rendition_divergences(connection: Connection, events: dict[int, tuple[str, int, str, dict[str, Any]]]) -> Iterator[Divergence]:
    """Rendition rows that differ from, or lack, the ``version.render`` event they claim; events without a row."""
    claimed: set[int] = set()
    query = (
        select(RENDITIONS, MODELS.c.name.label("model_name"), VERSIONS.c.version.label("number"))
        .select_from(RENDITIONS.outerjoin(VERSIONS, VERSIONS.c.id == RENDITIONS.c.version_id)
                     .outerjoin(MODELS, MODELS.c.id == VERSIONS.c.model_id))
        .order_by(RENDITIONS.c.id)
    )
    for row in connection.execute(query):
        label = f"row {row.id} ({row.model_name} version {row.number}, {row.kind})"
        event = events.get(row.audit_seq)
        if event is None:
            yield Divergence("renditions", label, "has no audit event recording it: it is never served", row.audit_seq)
            continue
        if row.audit_seq in claimed:
            yield Divergence("renditions", label, "is a second row tied to the same event: it is never served", row.audit_seq)
            continue
        claimed.add(row.audit_seq)
        model, version, actor, after = event
        problems = _differences(row, after, model, version)
        if (row.model_name, row.number) != (model, version):
            problems.insert(0, f"the event renders {model} version {version}")
        if row.created_by != actor:
            problems.append(f"created_by {row.created_by!r}, the event says {actor!r}")
        if problems:
            yield Divergence("renditions", label, f"differs from its audit event: {'; '.join(problems)}", row.audit_seq)
    for seq in sorted(events.keys() - claimed):
        model, version, _actor, _after = events[seq]
        yield Divergence("renditions", f"of {model} version {version}", "recorded but missing", seq)


def _differences(row: Any, after: dict[str, Any] | None, name: str, number: int) -> list[str]:
    """The recorded fields in which a rendition row differs from its event (``after``), named."""
    if after is None or getattr(row, "action", AuditAction.VERSION_RENDER) != AuditAction.VERSION_RENDER:
        return ["no version.render event has its sequence number"]
    if getattr(row, "event_model", name) != name or getattr(row, "event_version", number) != number:
        return ["its event renders another version"]
    if getattr(row, "event_actor", row.created_by) != row.created_by:
        return ["created_by"]
    from .audit import canonical_json

    return [key for key in RECORDED if canonical_json(row._mapping[key]) != canonical_json(after.get(key))]


def _rendition_rows(name: str, number: int, *, with_event: bool = False) -> Any:
    """A version's ONNX rendition row; ``with_event``: with the audit event its ``audit_seq`` names, if any."""
    joined = RENDITIONS.join(VERSIONS, VERSIONS.c.id == RENDITIONS.c.version_id).join(
        MODELS, MODELS.c.id == VERSIONS.c.model_id
    )
    columns: list[Any] = [RENDITIONS]
    if with_event:
        joined = joined.outerjoin(AUDIT, AUDIT.c.seq == RENDITIONS.c.audit_seq)
        columns += [AUDIT.c.action, AUDIT.c.model.label("event_model"), AUDIT.c.version.label("event_version"),
                    AUDIT.c.actor.label("event_actor"), AUDIT.c.after]
    return (
        select(*columns).select_from(joined)
        .where(MODELS.c.name == name, VERSIONS.c.version == number, RENDITIONS.c.kind == "onnx")
    )


def _policy_of(catalog: Catalog, name: str) -> dict[str, Any] | None:
    with catalog.read() as connection:
        return connection.execute(select(MODELS.c.policy).where(MODELS.c.name == name)).scalar()


def _info(name: str, number: int, row: Any) -> RenditionInfo:
    return RenditionInfo(
        model=name, version=number, kind=row.kind, artifact_sha256=row.artifact_sha256, artifact_size=row.artifact_size,
        artifact_format=dict(row.artifact_format or {}), converter=row.converter, converter_version=row.converter_version,
        parity=row.parity, parity_output=row.parity_output, validation_rows=row.validation_rows,
        validation_sha256=row.validation_sha256, created_by=row.created_by, created_at=row.created_at,
        audit_seq=row.audit_seq,
    )
