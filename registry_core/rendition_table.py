"""The ``renditions`` table: artifacts derived from a version (an ONNX rendition of a scikit-learn estimator).

A rendition is an addition to its version, never a change of it: the version's
own artifact and digest stay as registered. Each row is written in the same
transaction as the ``version.render`` audit event that records it
(``audit_seq``), and is never updated; ``registry audit --verify`` compares the
two, and serving uses a rendition only while they agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .orm_base import Base, UTCDateTime

__all__ = ["RENDITION_KINDS", "Rendition"]

#: What a version may be rendered as.
RENDITION_KINDS = ("onnx",)


class Rendition(Base):
    """One derived artifact of one version."""

    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    #: The rendition's typed format (as :func:`~registry_core.formats.check_model_file` describes it).
    artifact_format: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The library that made it and its version, e.g. ``skl2onnx`` ``1.20.0``.
    converter: Mapped[str] = mapped_column(String(64))
    converter_version: Mapped[str] = mapped_column(String(64))
    #: The largest absolute difference from the version's own predictions on the validation data.
    parity: Mapped[float] = mapped_column(Float)
    #: Which of the estimator's outputs the parity compares: ``predict_proba`` or ``predict``.
    parity_output: Mapped[str] = mapped_column(String(32))
    validation_rows: Mapped[int] = mapped_column(Integer)
    #: The sha256 of the validation data (float64, C order), so the figure can be reproduced.
    validation_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("kind IN ('onnx')", name="kind_known"),
        CheckConstraint("parity >= 0", name="parity_non_negative"),
        CheckConstraint("validation_rows >= 1", name="validation_rows_positive"),
        Index("uq_renditions_version_id_kind", "version_id", "kind", unique=True),
        Index("ix_renditions_artifact_sha256", "artifact_sha256"),
    )
