"""The registry: one object that answers and changes the catalog.

Every change is one database transaction that also appends its audit event;
writers of one model queue on that model's row, and every writer queues on the
audit head, so two processes never interleave half-changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from .artifacts import download_artifact, load_artifact, manifest_digests, pack_artifact
from .audit import AuditReport, append_event, verify_chain
from .blobstore import BlobInfo, BlobStore, Progress, open_store
from .config import default_actor, default_artifact_root, default_database_url
from .database import Database
from .errors import ConflictError, GateUnmet, InvalidInput, InvalidTransition, NotFound
from .policy import Decision, GatePolicy, approval_gate, check_gates, counted_approvers
from .records import (
    ApprovalRecord,
    AuditEntry,
    CheckRecord,
    GarbageReport,
    ModelInfo,
    StageChange,
    VersionDetails,
    VersionInfo,
)
from .schema import (
    Alias,
    Approval,
    AuditEvent,
    CheckResult,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    VersionTag,
    utcnow,
)
from .stages import Stage, check_transition, parse_stage
from .uris import ModelRef, parse_model_uri
from .validation import (
    MAX_DESCRIPTION,
    MAX_MODEL_CARD,
    MAX_REFERENCE,
    MAX_TAGS,
    validate_actor,
    validate_alias,
    validate_description,
    validate_json_object,
    validate_metrics,
    validate_name,
    validate_params,
    validate_tag_keys,
    validate_tags,
    validate_text,
    validate_version_number,
)
from .webhooks import subscriptions as _webhooks
from .webhooks.outbox import enqueue_events

__all__ = ["Registry"]

MAX_LIST = 10_000
#: Audit actions that change a version's stage.
STAGE_ACTIONS = ("version.register", "version.transition", "version.promote", "version.rollback")


class Registry:
    """A model registry opened from a database URL and an artifact root.

    ``Registry()`` uses ``$REGISTRY_DATABASE_URL`` and ``$REGISTRY_ARTIFACT_ROOT``,
    else a SQLite file and a folder under ``./.registry/``. An empty database is
    created at the newest schema; an older one must be upgraded explicitly
    (``registry db upgrade``).
    """

    def __init__(
        self,
        database_url: str | None = None,
        artifact_root: str | Path | None = None,
        *,
        actor: str | None = None,
        store: BlobStore | None = None,
    ) -> None:
        self.actor = validate_actor(actor if actor is not None else default_actor())
        self.db = Database(database_url or default_database_url())
        try:
            self.db.ensure_schema()
        except BaseException:
            self.db.dispose()
            raise
        self.store: BlobStore = store or open_store(artifact_root or default_artifact_root())

    def as_actor(self, actor: str) -> Registry:
        """The same registry, acting as someone else."""
        other = object.__new__(Registry)
        other.__dict__.update(self.__dict__)
        other.actor = validate_actor(actor)
        return other

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- models -------------------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelInfo:
        """Register a new model name with the default policy; an existing name is a conflict."""
        validate_name(name)
        description = validate_description(description)
        tags = validate_tags(tags)
        with self.db.write() as session:
            now = utcnow()
            model = self._insert_model(session, name, now)
            if model is None:
                raise ConflictError(f"model {name!r} already exists")
            model.description = description
            model.tags = [ModelTag(key=k, value=v) for k, v in tags.items()]
            self._audit(session, "model.create", name, None, {}, _model_summary(model), now)
            session.flush()
            return self._model_info(session, model)

    def get_model(self, name: str) -> ModelInfo:
        """A model, its policy and where its stages and aliases point."""
        with self.db.read() as session:
            return self._model_info(session, self._model(session, name))

    def list_models(self) -> list[ModelInfo]:
        """Every registered model, by name."""
        with self.db.read() as session:
            models = session.scalars(
                select(RegisteredModel).options(selectinload(RegisteredModel.tags)).order_by(RegisteredModel.name)
            ).all()
            return [self._model_info(session, model) for model in models]

    # --- versions -----------------------------------------------------------------------

    def register(
        self,
        name: str,
        artifact: str | Path | Any,
        *,
        run_id: str | None = None,
        dataset_digest: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        signature: Mapping[str, Any] | str | None = None,
        model_card: str | None = None,
        progress: Progress | None = None,
    ) -> VersionInfo:
        """Store an artifact and register it as the model's next version, in stage None.

        ``artifact`` is a file path, a folder path (stored file by file under a
        manifest) or a live scikit-learn estimator or pipeline (pickled by the
        registry). The model is created on its first registration. Version
        numbers run 1, 2, 3… per model and are never reused. ``progress`` is
        called with each chunk's byte count.
        """
        validate_name(name)
        run_id = validate_text(run_id, what="run id", limit=MAX_REFERENCE)
        dataset_digest = validate_text(dataset_digest, what="dataset digest", limit=MAX_REFERENCE)
        clean_params = validate_params(params)
        clean_metrics = validate_metrics(metrics)
        clean_tags = validate_tags(tags)
        description = validate_description(description)
        clean_signature = validate_json_object(signature, what="signature")
        model_card = validate_text(model_card, what="model card", limit=MAX_MODEL_CARD)
        # The blob is published before the row that references it, so a crash
        # in between leaves at worst an unreferenced blob, never a dangling row.
        stored = pack_artifact(self.store, artifact, progress=progress)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True, missing_ok=True)
            if model is None:
                model = self._insert_model(session, name, now)
                if model is None:
                    model = self._model(session, name, lock=True)
                else:
                    self._audit(session, "model.create", name, None, {}, _model_summary(model), now)
            number = model.last_version + 1
            model.last_version = number
            model.updated_at = now
            row = ModelVersion(
                model_id=model.id,
                version=number,
                stage=Stage.NONE.value,
                artifact_uri=stored.location,
                artifact_sha256=stored.sha256,
                artifact_size=stored.size,
                artifact_kind=stored.kind,
                artifact_format=stored.format,
                run_id=run_id,
                dataset_digest=dataset_digest,
                params=clean_params,
                metrics=clean_metrics,
                signature=clean_signature,
                model_card=model_card,
                description=description,
                registered_by=self.actor,
                created_at=now,
                stage_changed_at=now,
                tags=[VersionTag(key=k, value=v) for k, v in clean_tags.items()],
            )
            session.add(row)
            session.flush()
            self._audit(session, "version.register", name, number, {}, _version_summary(row), now)
            return _version_info(name, row)

    def get_version(self, name: str, version: int | str) -> VersionInfo:
        """One version of a model."""
        number = validate_version_number(version)
        with self.db.read() as session:
            model = self._model(session, name)
            return _version_info(name, self._version(session, model, number))

    def list_versions(
        self, name: str, *, stage: str | Stage | None = None, limit: int = 100, before: int | None = None
    ) -> list[VersionInfo]:
        """Versions of a model, newest first, optionally in one stage; ``before`` pages further back."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
        target = parse_stage(stage) if stage is not None else None
        bound = validate_version_number(before) if before is not None else None
        with self.db.read() as session:
            model = self._model(session, name)
            query = select(ModelVersion).where(ModelVersion.model_id == model.id)
            if target is not None:
                query = query.where(ModelVersion.stage == target.value)
            if bound is not None:
                query = query.where(ModelVersion.version < bound)
            rows = session.scalars(
                query.options(selectinload(ModelVersion.tags)).order_by(ModelVersion.version.desc()).limit(limit)
            ).all()
            return [_version_info(name, row) for row in rows]

    def resolve(self, uri: str) -> VersionInfo:
        """The version a model URI points at now."""
        ref = parse_model_uri(uri)
        with self.db.read() as session:
            # The hot path of serving and deploys: one indexed query and one for tags, in Core.
            connection = session.connection()
            row = connection.execute(_resolve_query(ref)).first()
            if row is None:
                # Say precisely what is missing (or find what appeared meanwhile).
                model = self._model(session, ref.name)
                return _version_info(ref.name, self._resolve(session, model, ref))
            tags = connection.execute(
                select(VersionTag.key, VersionTag.value).where(VersionTag.version_id == row.id).order_by(VersionTag.key)
            ).all()
            return _version_info(ref.name, row, tags=dict(tags))

    def show(self, uri: str) -> VersionDetails:
        """A version with its checks, decisions, aliases and the gates still before its next stage."""
        ref = parse_model_uri(uri)
        with self.db.read() as session:
            model = self._model(session, ref.name)
            row = self._resolve(session, model, ref)
            info = _version_info(ref.name, row)
            checks = self._latest_checks(session, row)
            decisions = session.scalars(
                select(Approval).where(Approval.version_id == row.id).order_by(Approval.id)
            ).all()
            aliases = session.scalars(
                select(Alias.alias).where(Alias.version_id == row.id).order_by(Alias.alias)
            ).all()
            next_stage = {Stage.NONE: Stage.STAGING, Stage.STAGING: Stage.PRODUCTION}.get(info.stage)
            unmet = self._unmet_gates(session, model, row, next_stage) if next_stage else []
            history = session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.model == ref.name,
                    AuditEvent.version == row.version,
                    AuditEvent.action.in_(STAGE_ACTIONS),
                )
                .order_by(AuditEvent.seq)
            ).all()
            return VersionDetails(
                version=info,
                checks=[_check_record(ref.name, row.version, check) for check in checks.values()],
                decisions=[_approval_record(ref.name, row.version, d) for d in decisions],
                aliases=list(aliases),
                next_stage=next_stage,
                unmet_gates=unmet,
                stage_history=[_audit_entry(event) for event in history],
            )

    def download(self, uri: str, dest: str | Path, *, progress: Progress | None = None) -> Path:
        """Write the artifact of the version ``uri`` points at to ``dest`` (a new path), verifying every byte.

        A directory artifact becomes a folder; anything else a file. On an
        integrity failure nothing is left at ``dest``.
        """
        version = self.resolve(uri)
        return download_artifact(
            self.store, kind=version.artifact_kind, sha256=version.artifact_sha256,
            label=version.uri, dest=Path(dest), progress=progress,
        )

    def load_model(self, uri: str) -> Any:
        """The model object of the version ``uri`` points at, deserialized only after its bytes verify.

        Works for versions registered from a live scikit-learn estimator; warns
        (:class:`~registry_core.artifacts.ModelVersionWarning`) when it was saved
        with another scikit-learn version.
        """
        version = self.resolve(uri)
        return load_artifact(
            self.store, kind=version.artifact_kind, sha256=version.artifact_sha256,
            label=version.uri, format=version.artifact_format,
        )

    def collect_garbage(self, *, delete: bool = False, min_age_seconds: float = 3600.0) -> GarbageReport:
        """Blobs no version references; with ``delete``, remove them.

        Blobs younger than ``min_age_seconds`` are left alone, since a
        registration publishes its blob just before committing the version that
        references it. A referenced blob is never touched, and archived versions
        keep theirs.
        """
        if min_age_seconds < 0:
            raise InvalidInput("the minimum age cannot be negative")
        with self.db.read() as session:
            rows = session.execute(
                select(ModelVersion.artifact_sha256, ModelVersion.artifact_kind).distinct()
            ).all()
        referenced: set[str] = set()
        for sha256, kind in rows:
            referenced.add(sha256)
            if kind == "directory":
                referenced.update(manifest_digests(self.store, sha256, label=f"manifest {sha256}"))
        cutoff = time.time() - min_age_seconds
        unreferenced: list[BlobInfo] = []
        recent = 0
        for blob in self.store.iter_blobs():
            if blob.sha256 in referenced:
                continue
            if blob.modified > cutoff:
                recent += 1
                continue
            unreferenced.append(blob)
        if delete:
            for blob in unreferenced:
                self.store.delete(blob.sha256)
        return GarbageReport(
            blobs=[blob.sha256 for blob in unreferenced],
            bytes=sum(blob.size for blob in unreferenced),
            deleted=delete,
            skipped_recent=recent,
            referenced=len(referenced),
        )

    # --- stage workflow ---------------------------------------------------------------

    def transition(
        self, name: str, version: int | str, stage: str | Stage, *, reason: str | None = None
    ) -> StageChange:
        """Move a version along the workflow; a move to Production is a :meth:`promote`."""
        number = validate_version_number(version)
        target = parse_stage(stage)
        reason = validate_text(reason, what="reason", limit=MAX_DESCRIPTION)
        if target is Stage.PRODUCTION:
            return self.promote(name, number, reason=reason)
        validate_name(name)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            current = Stage(row.stage)
            label = f"{name} version {number}"
            check_transition(current, target, label=label)
            if target is Stage.STAGING:
                self._require_gates(session, model, row, target, label)
            event = self._audit(
                session, "version.transition", name, number,
                {"stage": current.value}, {"stage": target.value, "reason": reason}, now,
            )
            _set_stage(row, target, now)
            if current is Stage.PRODUCTION:
                row.left_production_seq = event.seq
            return StageChange(_version_info(name, row), current, None, event.seq)

    def promote(self, name: str, version: int | str, *, reason: str | None = None) -> StageChange:
        """Move a Staging version to Production if every gate holds, archiving the previous one.

        Checks, approvals, both stage changes and their audit events are one
        transaction: either all of it happens or none of it does.
        """
        validate_name(name)
        number = validate_version_number(version)
        reason = validate_text(reason, what="reason", limit=MAX_DESCRIPTION)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            current = Stage(row.stage)
            label = f"{name} version {number}"
            if current is Stage.ARCHIVED:
                hint = (
                    f"only a rollback ('registry rollback {name} --to {number} --reason ...') returns it to Production"
                    if row.left_production_seq is not None
                    else "it was never in Production, and archived versions move no further; register it again"
                )
                raise InvalidTransition(f"{label} is Archived: {hint}", current.value, Stage.PRODUCTION.value)
            check_transition(current, Stage.PRODUCTION, label=label)
            decisions = self._decisions(session, row)
            self._require_gates(session, model, row, Stage.PRODUCTION, label, decisions)
            approvers = counted_approvers(
                GatePolicy.from_dict(model.policy), decisions, registrant=row.registered_by
            )
            archived = self._archive_production(session, model, now, f"superseded by version {number}")
            event = self._audit(
                session, "version.promote", name, number,
                {"stage": current.value, "production": archived.version if archived else None},
                {"stage": Stage.PRODUCTION.value, "approved_by": approvers, "reason": reason},
                now,
            )
            _set_stage(row, Stage.PRODUCTION, now)
            return StageChange(
                _version_info(name, row), current, _version_info(name, archived) if archived else None, event.seq
            )

    def rollback(self, name: str, *, reason: str, to_version: int | str | None = None) -> StageChange:
        """Return an archived, formerly-Production version to Production, archiving the current one.

        Without ``to_version`` the version most recently taken out of Production
        is chosen. A reason is required; no new approval is.
        """
        validate_name(name)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a rollback needs a reason")
        reason = validate_text(reason.strip(), what="reason", limit=MAX_DESCRIPTION)
        number = validate_version_number(to_version) if to_version is not None else None
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            if number is not None:
                row = self._version(session, model, number)
                label = f"{name} version {number}"
                if Stage(row.stage) is not Stage.ARCHIVED:
                    raise InvalidTransition(
                        f"cannot roll back to {label}: it is in {row.stage}, not Archived",
                        row.stage, Stage.PRODUCTION.value,
                    )
                if row.left_production_seq is None:
                    raise InvalidTransition(
                        f"cannot roll back to {label}: it was never in Production", row.stage, Stage.PRODUCTION.value
                    )
            else:
                found = session.scalars(
                    select(ModelVersion)
                    .where(
                        ModelVersion.model_id == model.id,
                        ModelVersion.left_production_seq.is_not(None),
                        ModelVersion.stage == Stage.ARCHIVED.value,
                    )
                    .order_by(ModelVersion.left_production_seq.desc())
                    .limit(1)
                ).first()
                if found is None:
                    raise NotFound(f"{name} has no archived version that was in Production: nothing to roll back to")
                row = found
            archived = self._archive_production(session, model, now, f"rolled back to version {row.version}: {reason}")
            event = self._audit(
                session, "version.rollback", name, row.version,
                {"stage": Stage.ARCHIVED.value, "production": archived.version if archived else None},
                {"stage": Stage.PRODUCTION.value, "reason": reason},
                now,
            )
            _set_stage(row, Stage.PRODUCTION, now)
            return StageChange(
                _version_info(name, row), Stage.ARCHIVED, _version_info(name, archived) if archived else None, event.seq
            )

    def unmet_gates(self, name: str, version: int | str, stage: str | Stage) -> list[str]:
        """What still stands between a version and ``stage`` (Staging or Production)."""
        number = validate_version_number(version)
        target = parse_stage(stage)
        if target not in (Stage.STAGING, Stage.PRODUCTION):
            raise InvalidInput(f"gates guard Staging and Production, not {target}")
        with self.db.read() as session:
            model = self._model(session, name)
            return self._unmet_gates(session, model, self._version(session, model, number), target)

    # --- checks and approvals -----------------------------------------------------------

    def record_check(
        self,
        name: str,
        version: int | str,
        check: str,
        *,
        passed: bool,
        details: Mapping[str, Any] | str | None = None,
    ) -> CheckRecord:
        """Record one result of a named check; the latest result per name is the one that counts."""
        number = validate_version_number(version)
        validate_name(check, what="check name")
        if not isinstance(passed, bool):
            raise InvalidInput("a check result is passed or failed")
        clean_details = validate_json_object(details, what="check details")
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            previous = session.scalars(
                select(CheckResult)
                .where(CheckResult.version_id == row.id, CheckResult.name == check)
                .order_by(CheckResult.id.desc())
                .limit(1)
            ).first()
            result = CheckResult(
                version_id=row.id, name=check, passed=passed, details=clean_details,
                recorded_by=self.actor, recorded_at=now,
            )
            session.add(result)
            self._audit(
                session, "check.record", name, number,
                {"check": check, "passed": previous.passed} if previous else {},
                {"check": check, "passed": passed, "details": clean_details},
                now,
            )
            return _check_record(name, number, result)

    def approve(self, name: str, version: int | str, *, comment: str | None = None) -> ApprovalRecord:
        """Approve a version for Production, as this registry's actor."""
        return self._decide(name, version, "approve", comment)

    def reject(self, name: str, version: int | str, *, comment: str | None = None) -> ApprovalRecord:
        """Reject a version: it cannot be promoted until approved again after this."""
        return self._decide(name, version, "reject", comment)

    def _decide(self, name: str, version: int | str, decision: str, comment: str | None) -> ApprovalRecord:
        number = validate_version_number(version)
        comment = validate_text(comment, what="comment", limit=MAX_DESCRIPTION)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            label = f"{name} version {number}"
            if Stage(row.stage) not in (Stage.NONE, Stage.STAGING):
                raise InvalidInput(
                    f"{label} is {row.stage}: approvals are for versions on their way to Production"
                )
            GatePolicy.from_dict(model.policy).check_may_decide(
                self.actor, registrant=row.registered_by, decision=decision, label=label
            )
            record = Approval(
                version_id=row.id, approver=self.actor, decision=decision, comment=comment, recorded_at=now
            )
            session.add(record)
            self._audit(
                session, "approval.record", name, number, {}, {"decision": decision, "comment": comment}, now
            )
            return _approval_record(name, number, record)

    def record_deployment(
        self,
        name: str,
        version: int | str,
        *,
        target: str,
        succeeded: bool,
        details: Mapping[str, Any] | str | None = None,
    ) -> AuditEntry:
        """Record that a deploy target was (or failed to be) told to serve a version."""
        number = validate_version_number(version)
        target = validate_text(target, what="deploy target", limit=MAX_REFERENCE) or ""
        if not target.strip():
            raise InvalidInput("a deployment needs a target")
        if not isinstance(succeeded, bool):
            raise InvalidInput("a deployment succeeded or failed")
        clean_details = validate_json_object(details, what="deployment details")
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            event = self._audit(
                session, "deployment.record", name, number, {"stage": row.stage},
                {"target": target, "succeeded": succeeded, "details": clean_details}, now,
            )
            session.flush()
            return _audit_entry(event)

    # --- aliases, tags, descriptions, policy -----------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> VersionInfo:
        """Point an alias at a version, creating or moving it."""
        validate_alias(alias)
        number = validate_version_number(version)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            row = self._version(session, model, number)
            existing = session.get(Alias, (model.id, alias))
            if existing is None:
                session.add(Alias(model_id=model.id, alias=alias, version_id=row.id))
                before: dict[str, Any] = {}
            elif existing.version_id == row.id:
                return _version_info(name, row)
            else:
                previous = session.get(ModelVersion, existing.version_id)
                before = {"alias": alias, "version": previous.version if previous else None}
                existing.version_id = row.id
            self._audit(session, "alias.set", name, number, before, {"alias": alias, "version": number}, now)
            return _version_info(name, row)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        validate_alias(alias)
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            existing = session.get(Alias, (model.id, alias))
            if existing is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            previous = session.get(ModelVersion, existing.version_id)
            number = previous.version if previous else None
            session.delete(existing)
            self._audit(session, "alias.delete", name, number, {"alias": alias, "version": number}, {}, now)

    def set_tags(self, name: str, tags: Mapping[str, str], *, version: int | str | None = None) -> dict[str, str]:
        """Add or change tags on a model, or on one of its versions; returns all its tags."""
        clean = validate_tags(tags)
        if not clean:
            raise InvalidInput("no tags given")
        return self._edit_tags(name, version, set_=clean, delete=[])

    def delete_tags(self, name: str, keys: Iterable[str], *, version: int | str | None = None) -> dict[str, str]:
        """Remove tags from a model, or from one of its versions; returns the tags left."""
        clean = validate_tag_keys(keys)
        if not clean:
            raise InvalidInput("no tag keys given")
        return self._edit_tags(name, version, set_={}, delete=clean)

    def _edit_tags(
        self, name: str, version: int | str | None, *, set_: dict[str, str], delete: list[str]
    ) -> dict[str, str]:
        number = validate_version_number(version) if version is not None else None
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            if number is None:
                owner: RegisteredModel | ModelVersion = model
                factory: Any = ModelTag
            else:
                owner = self._version(session, model, number)
                factory = VersionTag
            current = {tag.key: tag.value for tag in owner.tags}
            missing = [key for key in delete if key not in current]
            if missing:
                raise NotFound(f"no tag {missing[0]!r} on {_label(name, number)}")
            updated = {**current, **set_}
            for key in delete:
                updated.pop(key)
            if len(updated) > MAX_TAGS:
                raise InvalidInput(f"{_label(name, number)} would have {len(updated)} tags; the limit is {MAX_TAGS}")
            if updated == current:
                return current
            owner.tags = [factory(key=k, value=v) for k, v in sorted(updated.items())]
            if number is None:
                model.updated_at = now
            changed = sorted(k for k in current.keys() | updated.keys() if current.get(k) != updated.get(k))
            self._audit(
                session, "model.tags" if number is None else "version.tags", name, number,
                {k: current[k] for k in changed if k in current},
                {k: updated[k] for k in changed if k in updated},
                now,
            )
            return dict(sorted(updated.items()))

    def set_description(self, name: str, description: str, *, version: int | str | None = None) -> None:
        """Change the description of a model or of one of its versions."""
        text = validate_description(description)
        number = validate_version_number(version) if version is not None else None
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            owner: RegisteredModel | ModelVersion = model if number is None else self._version(session, model, number)
            if owner.description == text:
                return
            before = {"description": owner.description}
            owner.description = text
            model.updated_at = now
            self._audit(
                session, "model.description" if number is None else "version.description", name, number,
                before, {"description": text}, now,
            )

    def get_policy(self, name: str) -> GatePolicy:
        """The model's governance policy."""
        with self.db.read() as session:
            return GatePolicy.from_dict(self._model(session, name).policy)

    def set_policy(
        self,
        name: str,
        *,
        staging_checks: Iterable[str] | None = None,
        production_checks: Iterable[str] | None = None,
        approvals_required: int | None = None,
        approvers: Iterable[str] | None = None,
        allow_self_approval: bool | None = None,
    ) -> GatePolicy:
        """Change the fields given (``None`` keeps a field); returns the new policy."""
        with self.db.write() as session:
            now = utcnow()
            model = self._model(session, name, lock=True)
            old = GatePolicy.from_dict(model.policy)
            new = old.updated(
                staging_checks=_listed(staging_checks, "staging checks"),
                production_checks=_listed(production_checks, "production checks"),
                approvals_required=approvals_required,
                approvers=_listed(approvers, "approvers"),
                allow_self_approval=allow_self_approval,
            )
            if new != old:
                model.policy = new.to_dict()
                model.updated_at = now
                self._audit(session, "policy.set", name, None, old.to_dict(), new.to_dict(), now)
            return new

    # --- audit --------------------------------------------------------------------------

    def audit_events(
        self,
        name: str | None = None,
        *,
        version: int | str | None = None,
        limit: int = 100,
        after_seq: int | None = None,
    ) -> list[AuditEntry]:
        """Audit events in order: the newest ``limit``, or with ``after_seq`` the first ``limit`` after it."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
        if version is not None and name is None:
            raise InvalidInput("a version filter needs a model name")
        if name is not None:
            validate_name(name)
        number = validate_version_number(version) if version is not None else None
        query = select(AuditEvent)
        if name is not None:
            query = query.where(AuditEvent.model == name)
        if number is not None:
            query = query.where(AuditEvent.version == number)
        with self.db.read() as session:
            if after_seq is not None:
                rows = session.scalars(
                    query.where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq).limit(limit)
                ).all()
            else:
                rows = list(reversed(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)).all()))
            return [_audit_entry(row) for row in rows]

    def verify_audit(self) -> AuditReport:
        """Walk the whole audit chain and report the first break, if any."""
        with self.db.read(snapshot=True) as session:
            return verify_chain(session)

    # --- webhooks (implemented in registry_core/webhooks/subscriptions.py) --------------

    def add_webhook(
        self, url: str, *, events: Iterable[str], secret: str, model: str | None = None
    ) -> _webhooks.WebhookInfo:
        """Subscribe an http(s) URL to event types (``all`` for every one), signed with ``secret``; audited."""
        return _webhooks.add_webhook(self, url, events=events, secret=secret, model=model)

    def list_webhooks(self, *, include_removed: bool = False) -> list[_webhooks.WebhookInfo]:
        """Webhook subscriptions with their pending and delivered event counts (never their secrets)."""
        return _webhooks.list_webhooks(self, include_removed=include_removed)

    def remove_webhook(self, subscription_id: int | str) -> _webhooks.WebhookInfo:
        """Stop a webhook subscription; its undelivered events are dropped; audited."""
        return _webhooks.remove_webhook(self, subscription_id)

    def webhook_deliveries(self, subscription_id: int | str, *, limit: int = 20) -> list[_webhooks.WebhookDeliveryRecord]:
        """A subscription's newest events, oldest first, with every delivery attempt."""
        return _webhooks.webhook_deliveries(self, subscription_id, limit=limit)

    # --- internals ----------------------------------------------------------------------

    def _audit(
        self, session: Session, action: str, model: str | None, version: int | None,
        before: Any, after: Any, at: Any,
    ) -> AuditEvent:
        event = append_event(
            session, actor=self.actor, action=action, model=model, version=version,
            before=before, after=after, at=at,
        )
        # Webhooks: queue the events this change raises in its own transaction (the outbox),
        # so they exist if and only if it commits. See registry_core/webhooks/outbox.py.
        enqueue_events(session, event)
        return event

    def _insert_model(self, session: Session, name: str, now: Any) -> RegisteredModel | None:
        values = {
            "name": name,
            "last_version": 0,
            "policy": GatePolicy().to_dict(),
            "created_by": self.actor,
            "created_at": now,
            "updated_at": now,
        }
        insert = postgresql_insert if self.db.dialect == "postgresql" else sqlite_insert
        statement = (
            insert(RegisteredModel)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(RegisteredModel.id)
        )
        created = session.execute(statement).scalar_one_or_none()
        if created is None:
            return None
        return session.execute(
            select(RegisteredModel).where(RegisteredModel.id == created).with_for_update()
        ).scalar_one()

    def _model(
        self, session: Session, name: str, *, lock: bool = False, missing_ok: bool = False
    ) -> Any:
        validate_name(name)
        query = select(RegisteredModel).where(RegisteredModel.name == name)
        if lock:
            query = query.with_for_update()
        model = session.execute(query).scalar_one_or_none()
        if model is None and not missing_ok:
            raise NotFound(f"model {name!r} does not exist")
        return model

    def _version(self, session: Session, model: RegisteredModel, number: int) -> ModelVersion:
        row = session.execute(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == number)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"model {model.name!r} has no version {number} (latest is {model.last_version})")
        return row

    def _resolve(self, session: Session, model: RegisteredModel, ref: ModelRef) -> ModelVersion:
        row = session.scalars(_resolve_query(ref)).first()
        if row is not None:
            return row
        if ref.version is not None:
            raise NotFound(f"model {model.name!r} has no version {ref.version} (latest is {model.last_version})")
        if ref.latest:
            raise NotFound(f"model {model.name!r} has no versions")
        if ref.alias is not None:
            raise NotFound(f"model {model.name!r} has no alias {ref.alias!r}")
        raise NotFound(f"model {model.name!r} has no version in {ref.stage}")

    def _archive_production(
        self, session: Session, model: RegisteredModel, now: Any, reason: str
    ) -> ModelVersion | None:
        current = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id, ModelVersion.stage == Stage.PRODUCTION.value)
            .with_for_update()
        ).first()
        if current is None:
            return None
        event = self._audit(
            session, "version.transition", model.name, current.version,
            {"stage": Stage.PRODUCTION.value}, {"stage": Stage.ARCHIVED.value, "reason": reason}, now,
        )
        _set_stage(current, Stage.ARCHIVED, now)
        current.left_production_seq = event.seq
        # Flush now: the one-Production index must see the old version leave
        # before the new one arrives, whatever order the ORM would pick.
        session.flush()
        return current

    def _latest_checks(self, session: Session, row: ModelVersion) -> dict[str, CheckResult]:
        results = session.scalars(
            select(CheckResult).where(CheckResult.version_id == row.id).order_by(CheckResult.name, CheckResult.id)
        ).all()
        latest: dict[str, CheckResult] = {}
        for result in results:
            latest[result.name] = result
        return latest

    def _decisions(self, session: Session, row: ModelVersion) -> list[Decision]:
        rows = session.scalars(select(Approval).where(Approval.version_id == row.id).order_by(Approval.id)).all()
        return [Decision(r.approver, r.decision, r.comment, r.recorded_at) for r in rows]

    def _unmet_gates(
        self, session: Session, model: RegisteredModel, row: ModelVersion, target: Stage,
        decisions: list[Decision] | None = None,
    ) -> list[str]:
        policy = GatePolicy.from_dict(model.policy)
        if target is Stage.STAGING and not policy.staging_checks:
            return []
        latest = {name: result.passed for name, result in self._latest_checks(session, row).items()}
        if target is Stage.STAGING:
            return check_gates(policy.staging_checks, latest, all_recorded=False)
        unmet = check_gates(policy.production_checks, latest, all_recorded=True)
        if decisions is None:
            decisions = self._decisions(session, row)
        return unmet + approval_gate(policy, decisions, registrant=row.registered_by)

    def _require_gates(
        self, session: Session, model: RegisteredModel, row: ModelVersion, target: Stage, label: str,
        decisions: list[Decision] | None = None,
    ) -> None:
        unmet = self._unmet_gates(session, model, row, target, decisions)
        if unmet:
            raise GateUnmet(
                f"cannot move {label} to {target}: {len(unmet)} gate(s) unmet: " + "; ".join(unmet), unmet
            )

    def _model_info(self, session: Session, model: RegisteredModel) -> ModelInfo:
        production = session.scalars(
            select(ModelVersion.version).where(
                ModelVersion.model_id == model.id, ModelVersion.stage == Stage.PRODUCTION.value
            )
        ).first()
        aliases = session.execute(
            select(Alias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == Alias.version_id)
            .where(Alias.model_id == model.id)
            .order_by(Alias.alias)
        ).all()
        return ModelInfo(
            name=model.name,
            description=model.description,
            tags={tag.key: tag.value for tag in model.tags},
            policy=GatePolicy.from_dict(model.policy),
            latest_version=model.last_version,
            production_version=production,
            aliases={alias: version for alias, version in aliases},
            created_by=model.created_by,
            created_at=model.created_at,
            updated_at=model.updated_at,
        )


def _set_stage(row: ModelVersion, stage: Stage, now: Any) -> None:
    row.stage = stage.value
    row.stage_changed_at = now


def _listed(names: Iterable[str] | None, what: str) -> tuple[str, ...] | None:
    # A lone string is iterable too, and would silently become one name per character.
    if isinstance(names, str):
        raise InvalidInput(f"{what} must be a list of names, not the single string {names!r}")
    return tuple(names) if names is not None else None


def _label(name: str, number: int | None) -> str:
    return f"model {name!r}" if number is None else f"{name} version {number}"


def _model_summary(model: RegisteredModel) -> dict[str, Any]:
    return {"policy": model.policy}


def _version_summary(row: ModelVersion) -> dict[str, Any]:
    return {
        "stage": row.stage,
        "artifact_sha256": row.artifact_sha256,
        "artifact_size": row.artifact_size,
        "artifact_kind": row.artifact_kind,
        "artifact_format": row.artifact_format,
        "run_id": row.run_id,
        "dataset_digest": row.dataset_digest,
        "params": row.params,
        "metrics": row.metrics,
        "tags": {tag.key: tag.value for tag in row.tags},
        "description": row.description,
    }


def _resolve_query(ref: ModelRef) -> Any:
    """The one query behind every model URI: run on a session it gives versions, on a connection plain rows."""
    query = (
        select(ModelVersion)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(RegisteredModel.name == ref.name)
    )
    if ref.version is not None:
        return query.where(ModelVersion.version == ref.version)
    if ref.latest:
        return query.where(ModelVersion.version == RegisteredModel.last_version)
    if ref.alias is not None:
        return query.join(
            Alias, (Alias.model_id == RegisteredModel.id) & (Alias.version_id == ModelVersion.id)
        ).where(Alias.alias == ref.alias)
    if ref.stage is None:
        raise InvalidInput(f"{ref} names a model, not a version")
    query = query.where(ModelVersion.stage == ref.stage.value)
    if ref.stage is Stage.PRODUCTION:
        return query  # at most one row: the partial unique index answers it directly
    return query.order_by(ModelVersion.version.desc()).limit(1)


def _version_info(name: str, row: Any, *, tags: dict[str, str] | None = None) -> VersionInfo:
    """A record from an ORM version or a Core row of ``model_versions`` (then with ``tags``)."""
    if tags is None:
        tags = {tag.key: tag.value for tag in row.tags}
    return VersionInfo(
        model=name,
        version=row.version,
        stage=Stage(row.stage),
        artifact_uri=row.artifact_uri,
        artifact_sha256=row.artifact_sha256,
        artifact_size=row.artifact_size,
        artifact_kind=row.artifact_kind,
        artifact_format=dict(row.artifact_format or {}),
        run_id=row.run_id,
        dataset_digest=row.dataset_digest,
        params=dict(row.params or {}),
        metrics=dict(row.metrics or {}),
        signature=row.signature,
        model_card=row.model_card,
        description=row.description,
        tags=tags,
        registered_by=row.registered_by,
        created_at=row.created_at,
        stage_changed_at=row.stage_changed_at,
        was_production=row.left_production_seq is not None or row.stage == Stage.PRODUCTION.value,
    )


def _check_record(name: str, number: int, row: CheckResult) -> CheckRecord:
    return CheckRecord(
        model=name, version=number, name=row.name, passed=row.passed, details=row.details,
        recorded_by=row.recorded_by, recorded_at=row.recorded_at,
    )


def _approval_record(name: str, number: int, row: Approval) -> ApprovalRecord:
    return ApprovalRecord(
        model=name, version=number, approver=row.approver, decision=row.decision,
        comment=row.comment, recorded_at=row.recorded_at,
    )


def _audit_entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(
        seq=row.seq, recorded_at=row.recorded_at, actor=row.actor, action=row.action,
        model=row.model, version=row.version, before=json.loads(row.before), after=json.loads(row.after),
        hash=row.hash,
    )

