"""A divergence: one catalog row (or audit event) that does not match what the audit log says."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Divergence"]


@dataclass(frozen=True)
class Divergence:
    """One catalog row that does not match the audit log."""

    table: str
    row: str
    problem: str
    #: The audit event the row should match, when there is one.
    seq: int | None = None

    def __str__(self) -> str:
        event = f" (event {self.seq})" if self.seq is not None else ""
        return f"{self.table} {self.row}: {self.problem}{event}"
