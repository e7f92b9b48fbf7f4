"""Models and their versions: creating a model, registering a version, recording a deployment.

Version numbers run 1, 2, 3… per model and are never reused: registering
increments the model's ``last_version`` with one ``UPDATE … RETURNING``, which
also locks the model's row until the version row is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .actions import AuditAction
from .errors import ConflictError, InvalidInput
from .estimators import check_format_allowed
from .governance import read_gate_inputs
from .lookups import lock_version, model_row, version_row
from .policy import GatePolicy
from .records import AuditEntry, ModelInfo, VersionInfo
from .references import REFERENCE, referenced_source
from .rows import AUDIT, MODEL_TAGS, MODELS, VERSION_TAGS, VERSIONS, version_info
from .stages import Stage
from .unit_of_work import Catalog, UnitOfWork
from .validation import (
    MAX_REFERENCE,
    validate_json_object,
    validate_text,
)

if TYPE_CHECKING:
    from .artifacts import PackedArtifact

__all__ = ["attach_artifact", "check_attachable", "create_model", "record_deployment", "register_version", "registration_policy"]


# Built once: building a statement costs more than running it.
_INSERT_VERSION = insert(VERSIONS)
_INSERT_VERSION_RETURNING_ID = insert(VERSIONS).returning(VERSIONS.c.id)
_CLAIM_NEXT_VERSION = (
    update(MODELS)
    .where(MODELS.c.name == bindparam("model_name"))
    .values(last_version=MODELS.c.last_version + 1, updated_at=bindparam("at"))
    .returning(MODELS.c.id, MODELS.c.last_version, MODELS.c.policy)
)


def create_model(
    catalog: Catalog, actor: str, name: str, *, description: str | None, tags: dict[str, str]
) -> ModelInfo:
    """Register a new model name with the default policy; an existing name is a conflict."""
    with catalog.write(actor) as work:
        created = _insert_model(work, name, description=description)
        if created is None:
            raise ConflictError(f"model {name!r} already exists")
        model_id, given_out = created
        if tags:
            work.connection.execute(
                insert(MODEL_TAGS), [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()]
            )
        return ModelInfo(
            name=name, description=description, tags=dict(sorted(tags.items())), policy=GatePolicy(),
            latest_version=given_out, production_version=None, aliases={}, created_by=actor,
            created_at=work.now, updated_at=work.now,
        )


def registration_policy(catalog: Catalog, name: str) -> GatePolicy:
    """The policy a new version of ``name`` is registered under: the model's, or the default for a new model."""
    with catalog.read() as connection:
        row = model_row(connection, name)
    return GatePolicy.from_dict(row.policy) if row is not None else GatePolicy()


def register_version(
    catalog: Catalog, actor: str, name: str, stored: PackedArtifact, *, fields: dict[str, Any], tags: dict[str, str]
) -> VersionInfo:
    """Write the row of ``name``'s next version (creating the model on its first registration).

    ``fields`` are the validated lineage columns: run_id, dataset_digest,
    params, metrics, signature, model_card and description.
    """
    with catalog.write(actor) as work:
        claimed = _claim_next_version(work.connection, name, work.now)
        if claimed is None:
            # First registration: create the model (or find the one a racing writer just created).
            _insert_model(work, name, description=None)
            claimed = _claim_next_version(work.connection, name, work.now)
            assert claimed is not None, "the model exists now"
        model_id, number, policy = claimed
        if stored.kind == "sklearn" or stored.format.get("serializer"):  # an estimator, or a folder's skops file
            # The estimator was checked against the policy before it was stored; the model's row is
            # locked now, so this is the policy the version is committed under.
            check_format_allowed(stored.format, model=name, policy=GatePolicy.from_dict(policy))
        values = {
            "model_id": model_id,
            "version": number,
            "stage": Stage.NONE,
            "artifact_uri": stored.location,
            "artifact_sha256": stored.sha256,
            "artifact_size": stored.size,
            "artifact_kind": stored.kind,
            "artifact_format": stored.format,
            **fields,
            "registered_by": actor,
            "created_at": work.now,
            "stage_changed_at": work.now,
            "updated_at": work.now,
            "left_production_seq": None,
        }
        if tags:
            version_id = work.connection.execute(_INSERT_VERSION_RETURNING_ID, values).scalar_one()
            work.connection.execute(
                insert(VERSION_TAGS), [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()]
            )
        else:
            work.connection.execute(_INSERT_VERSION, values)
        summary = {
            "stage": Stage.NONE.value,
            "artifact_sha256": stored.sha256,
            "artifact_size": stored.size,
            "artifact_kind": stored.kind,
            "artifact_format": stored.format,
            "run_id": fields["run_id"],
            "dataset_digest": fields["dataset_digest"],
            "params": fields["params"],
            "metrics": fields["metrics"],
            # Inputs and their order: a reordered signature swaps features at serving.
            "signature": fields["signature"],
            "tags": dict(sorted(tags.items())),
            "description": fields["description"],
        }
        work.record(AuditAction.VERSION_REGISTER, name, number, {}, summary)
        return VersionInfo(
            model=name, version=number, stage=Stage.NONE, artifact_uri=stored.location,
            artifact_sha256=stored.sha256, artifact_size=stored.size, artifact_kind=stored.kind,
            artifact_format=dict(stored.format or {}), run_id=fields["run_id"],
            dataset_digest=fields["dataset_digest"], params=dict(fields["params"]),
            metrics=dict(fields["metrics"]), signature=fields["signature"], model_card=fields["model_card"],
            description=fields["description"], tags=dict(sorted(tags.items())), registered_by=actor,
            created_at=work.now, stage_changed_at=work.now, updated_at=work.now, was_production=False,
        )


def attach_artifact(catalog: Catalog, actor: str, name: str, number: int, stored: PackedArtifact) -> VersionInfo:
    """Give reference version ``number`` of ``name`` the bytes in ``stored``: its digest, kind, size and format."""
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        source = _require_attachable(work.connection, row, name, number)
        if stored.kind == "sklearn":
            check_format_allowed(stored.format, model=name, policy=GatePolicy.from_dict(row.model_policy))
        work.connection.execute(
            update(VERSIONS).where(VERSIONS.c.id == row.id).values(
                artifact_uri=stored.location, artifact_sha256=stored.sha256, artifact_size=stored.size,
                artifact_kind=stored.kind, artifact_format=stored.format, updated_at=work.now,
            )
        )
        work.record(
            AuditAction.VERSION_ATTACH, name, number, {"artifact_kind": REFERENCE, "source": source},
            {"artifact_sha256": stored.sha256, "artifact_size": stored.size, "artifact_kind": stored.kind,
             "artifact_format": stored.format},
        )
        return version_info(name, version_row(work.connection, work.dialect, name, number))


def check_attachable(catalog: Catalog, name: str, number: int) -> None:
    """Raise :class:`ConflictError` unless bytes may be attached to version ``number`` now (before storing any)."""
    with catalog.read() as connection:
        _require_attachable(connection, version_row(connection, catalog.dialect, name, number), name, number)


def _require_attachable(connection: Connection, row: Any, name: str, number: int) -> str:
    """The source of reference ``row``, which may take bytes: in None or Staging, with no gate counted yet."""
    source = referenced_source(row)
    label = f"version {number} of {name!r}"
    if source is None:
        raise ConflictError(f"{label} already holds its bytes (sha256 {row.artifact_sha256}); register new bytes "
                            "as a new version")
    if row.stage not in (Stage.NONE, Stage.STAGING):
        raise ConflictError(f"{label} is {row.stage}; bytes are attached only in stage None or Staging")
    inputs = read_gate_inputs(connection, name, number)
    if inputs.latest or inputs.decisions:
        raise ConflictError(
            f"{label} already has check results or decisions, recorded before it held any bytes; "
            "register the bytes as a new version instead"
        )
    return source


def record_deployment(
    catalog: Catalog, actor: str, name: str, number: int, *,
    target: str | None, succeeded: bool, details: Mapping[str, Any] | str | None,
) -> AuditEntry:
    """Record that a deploy target was (or failed to be) told to serve a version."""
    target = validate_text(target, what="deploy target", limit=MAX_REFERENCE) or ""
    if not target.strip():
        raise InvalidInput("a deployment needs a target")
    if not isinstance(succeeded, bool):
        raise InvalidInput("a deployment succeeded or failed")
    clean_details = validate_json_object(details, what="deployment details")
    with catalog.write(actor) as work:
        row = lock_version(work.connection, work.dialect, name, number)
        return work.record(
            AuditAction.DEPLOYMENT_RECORD, name, number, {"stage": row.stage.value},
            {"target": target, "succeeded": succeeded, "details": clean_details},
        )


def _claim_next_version(connection: Connection, name: str, now: Any) -> tuple[int, int, Any] | None:
    """Lock the model and take its next version number: ``(model id, number, policy)``, or None when no such model."""
    row = connection.execute(_CLAIM_NEXT_VERSION, {"model_name": name, "at": now}).first()
    return (row.id, row.last_version, row.policy) if row is not None else None


def _insert_model(work: UnitOfWork, name: str, *, description: str | None) -> tuple[int, int] | None:
    """Insert a model row and audit its creation: (its id, its last version); None when the name exists already."""
    policy = GatePolicy().to_dict()
    # A name created again (after its model was deleted) continues after the highest number it ever gave out.
    given_out = select(func.coalesce(func.max(AUDIT.c.version), 0)).where(AUDIT.c.model == name).scalar_subquery()
    insert_ = postgresql_insert if work.dialect == "postgresql" else sqlite_insert
    created = work.connection.execute(
        insert_(MODELS)
        .values(
            name=name, description=description, last_version=given_out, policy=policy,
            created_by=work.actor, created_at=work.now, updated_at=work.now,
        )
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(MODELS.c.id, MODELS.c.last_version)
    ).first()
    if created is None:
        return None
    work.record(AuditAction.MODEL_CREATE, name, None, {}, {"policy": policy})
    return created.id, created.last_version
