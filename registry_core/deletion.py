"""Deleting a model or a version, as MLflow does: the rows go, the audit log keeps their whole history.

A deleted version disappears from every read, search and URI, with its tags,
aliases, check results, decisions and renditions; its blobs stay until ``registry gc``
finds nothing else referencing them. The audit log is append-only, so the
version's registration, decisions and the deletion itself stay there and
``registry audit --verify`` keeps proving them. Version numbers are never
given out twice for a name, not even after the model is deleted and created
again: ``models:/NAME/3`` never names two different artifacts.

Deleting is refused (:class:`NotPermitted`) for what is in service or on its
way there: a version in Production or Staging, or one a protected alias points
at. Archive it, or move the alias, first. A model whose policy names owners is
deleted only by one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, select, update

from .actions import AuditAction
from .errors import NotPermitted
from .lookups import lock_model, lock_version
from .policy import GatePolicy
from .rendition_table import Rendition
from .rows import ALIASES, APPROVALS, CHECKS, MODEL_TAGS, MODELS, VERSION_TAGS, VERSIONS
from .stages import Stage
from .unit_of_work import Catalog

__all__ = ["delete_model", "delete_version"]

#: Stages whose versions are in service or on their way there: archived first, then deleted.
_IN_SERVICE = (Stage.PRODUCTION, Stage.STAGING)


def delete_version(catalog: Catalog, actor: str, name: str, number: int) -> None:
    """Delete version ``number`` of ``name`` and everything attached to it but its audit events and blobs."""
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        aliases = work.connection.execute(select(ALIASES.c.alias).where(ALIASES.c.version_id == row.id)).scalars().all()
        _require_deletable(f"version {number} of {name!r}", GatePolicy.from_dict(row.model_policy),
                           [(number, row.stage)], {alias: number for alias in aliases})
        _delete_versions(work.connection, VERSIONS.c.id == row.id)
        work.connection.execute(update(MODELS).where(MODELS.c.id == row.model_id_).values(updated_at=work.now))
        work.record(AuditAction.VERSION_DELETE, name, number, _summary(row, aliases), {})


def delete_model(catalog: Catalog, actor: str, name: str) -> None:
    """Delete model ``name``, every version of it and everything attached, but their audit events and blobs."""
    with catalog.write(actor) as work:
        connection = work.connection
        model = lock_model(connection, name)
        policy = GatePolicy.from_dict(model.policy)
        if policy.owners and not policy.owned_by(actor):
            raise NotPermitted(f"cannot delete model {name!r}: its policy names owners ({', '.join(policy.owners)}); "
                               "one of them deletes it")
        versions = connection.execute(
            select(VERSIONS.c.id, VERSIONS.c.version, VERSIONS.c.stage).where(VERSIONS.c.model_id == model.id)
            .order_by(VERSIONS.c.version)
        ).all()
        numbers = {row.id: row.version for row in versions}
        aliases = {alias: numbers[version_id] for alias, version_id in connection.execute(
            select(ALIASES.c.alias, ALIASES.c.version_id).where(ALIASES.c.model_id == model.id)
        )}
        _require_deletable(f"model {name!r}", policy, [(row.version, row.stage) for row in versions], aliases)
        _delete_versions(connection, VERSIONS.c.model_id == model.id)
        connection.execute(delete(MODEL_TAGS).where(MODEL_TAGS.c.model_id == model.id))
        connection.execute(delete(MODELS).where(MODELS.c.id == model.id))
        work.record(AuditAction.MODEL_DELETE, name, None, {
            "versions": {str(row.version): row.stage.value for row in versions},
            "aliases": dict(sorted(aliases.items())),
        }, {})


def _require_deletable(label: str, policy: GatePolicy, versions: Iterable[tuple[int, Stage]],
                       aliases: dict[str, int]) -> None:
    in_service = [f"version {number} is in {stage}" for number, stage in versions if stage in _IN_SERVICE]
    protected = [f"protected alias @{alias} points at version {number}"
                 for alias, number in sorted(aliases.items()) if policy.protects(alias)]
    if in_service or protected:
        raise NotPermitted(
            f"cannot delete {label}: " + "; ".join(in_service + protected)
            + " (archive it or move the alias first; the audit log keeps every deleted version's history)"
        )


def _summary(row: Any, aliases: Iterable[str]) -> dict[str, Any]:
    """What the deletion event records of the version it removed."""
    return {"stage": row.stage.value, "artifact_sha256": row.artifact_sha256, "artifact_kind": row.artifact_kind,
            "aliases": sorted(aliases)}


def _delete_versions(connection: Connection, which: ColumnElement[bool]) -> None:
    """Delete the versions ``which`` selects, their tags, aliases, check results, decisions and renditions first."""
    ids = select(VERSIONS.c.id).where(which)
    for table in (VERSION_TAGS, ALIASES, CHECKS, APPROVALS, Rendition.__table__):
        connection.execute(delete(table).where(table.c.version_id.in_(ids)))
    connection.execute(delete(VERSIONS).where(which))
