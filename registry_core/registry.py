"""The registry: one object that answers and changes the catalog.

:class:`Registry` is a thin facade. Each method validates what only it knows
and delegates to the module that holds its concern: :mod:`.versions`
(models and registration), :mod:`.workflow` (stages), :mod:`.governance`
(checks, approvals, policy), :mod:`.labels` (aliases, tags, descriptions), :mod:`.queries` (reads) and
:mod:`.garbage`; renditions (:mod:`.renditions`) and proven decisions are inherited. Every change is one
:class:`~registry_core.unit_of_work.UnitOfWork`: one transaction that also appends its audit event and queues its
webhook events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import garbage, governance, labels, queries, versions, workflow
from .actions import AuditAction
from .artifacts import download_artifact, load_artifact, pack_artifact
from .blobstore import BlobStore, Progress, open_store
from .config import default_actor, default_artifact_root, default_database_url
from .database import Database
from .errors import InvalidInput
from .policy import UnmetGate
from .proven_decisions import ProvenDecisions
from .records import (
    AuditEntry,
    CheckRecord,
    GarbageReport,
    ModelInfo,
    StageChange,
    VersionDetails,
    VersionInfo,
)
from .references import ArtifactReference, require_bytes
from .renditions import RenditionMethods
from .stages import Stage
from .unit_of_work import Catalog
from .uris import parse_model_uri
from .validation import (
    validate_actor,
    validate_alias,
    validate_description,
    validate_name,
    validate_registration,
    validate_tag_keys,
    validate_tags,
    validate_version_number,
)
from .version_records import VersionRecords
from .webhooks import subscriptions as _webhooks
from .webhooks.outbox import enqueue_events

if TYPE_CHECKING:  # searching is imported when first used: it is off the start-up path of every command
    from .contained_load import Rehearsal
    from .search import SearchPage

__all__ = ["Registry"]


class Registry(ProvenDecisions, VersionRecords, RenditionMethods):
    """A model registry opened from a database URL and an artifact root.

    ``Registry()`` uses ``$REGISTRY_DATABASE_URL`` and ``$REGISTRY_ARTIFACT_ROOT``,
    else a SQLite file and a folder under ``./.registry/``. An empty (or missing
    SQLite) database is created at the newest schema, unless ``create=False``
    (then: ``NotFound``); an older one must be upgraded (``registry db upgrade``).
    """

    def __init__(
        self,
        database_url: str | None = None,
        artifact_root: str | Path | None = None,
        *,
        actor: str | None = None,
        store: BlobStore | None = None,
        create: bool = True,
    ) -> None:
        self.actor = validate_actor(actor if actor is not None else default_actor())
        self._owns_connections = True
        self.db = Database(database_url or default_database_url(), create=create)
        try:
            self.db.ensure_schema()
        except BaseException:
            self.db.dispose()
            raise
        # The webhook outbox listens to every change: events are queued in the change's own transaction.
        self.catalog = Catalog(self.db, listeners=(enqueue_events,))
        self.store: BlobStore = store or open_store(artifact_root or default_artifact_root())

    def as_actor(self, actor: str) -> Registry:
        """The same registry, acting as someone else; it shares the connections, and closing it leaves them open."""
        other = object.__new__(Registry)
        other.__dict__.update(self.__dict__)
        other.actor = validate_actor(actor)
        other._owns_connections = False
        return other

    def close(self) -> None:
        """Release the database connections (a no-op on a view made by :meth:`as_actor`)."""
        if self._owns_connections:
            self.db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- models and versions ------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelInfo:
        """Register a new model name with the default policy; an existing name is a conflict."""
        validate_name(name)
        description = validate_description(description)
        clean_tags = validate_tags(tags)
        return versions.create_model(self.catalog, self.actor, name, description=description, tags=clean_tags)

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
        serialization: str | None = None,
        model_format: str | None = None,
        mlflow_lineage: Mapping[str, str] | None = None,
        model_file: str | None = None,
    ) -> VersionInfo:
        """Store an artifact and register it as the model's next version, in stage None.

        ``artifact`` is a file path, a folder path (stored file by file under a
        manifest), an :class:`ArtifactReference` (its source recorded, no bytes:
        see :mod:`registry_core.references`) or a live scikit-learn estimator or pipeline, stored with
        skops; it may construct only scikit-learn's own types and those the
        model's policy trusts (:class:`UntrustedType` names any other).
        ``serialization="pickle"`` stores it as a pickle instead, only where the
        policy has ``allow_pickle``. ``model_format`` ``"onnx"``, ``"lightgbm"`` or ``"xgboost"`` (implied
        by an ``onnx.ModelProto`` or a booster) checks a file as that format so it loads without
        registrant code (:mod:`registry_core.formats`); for a folder, ``model_file`` names the file in
        it to check and load (``"sklearn"`` too, for a skops file: see :mod:`registry_core.model_files`).
        The model is created on its first registration. Version numbers run 1, 2, 3… per model and are never
        reused. ``progress`` is called with each chunk's byte count.
        ``tags`` never hold keys under ``registry.``; ``mlflow_lineage`` is the
        MLflow plugin's record of where the version came from, stored under
        the reserved :data:`~registry_core.validation.LINEAGE_TAGS`.
        """
        validate_name(name)
        fields = validate_registration(run_id=run_id, dataset_digest=dataset_digest, params=params, metrics=metrics,
                                       description=description, signature=signature, model_card=model_card)
        clean_tags = {**validate_tags(tags), **validate_tags(mlflow_lineage, lineage=True)}
        # The blob is published before the row that references it, so a crash
        # in between leaves at worst an unreferenced blob, never a dangling row.
        if isinstance(artifact, ArtifactReference):
            if serialization is not None or model_format is not None or model_file is not None:
                raise InvalidInput("a reference holds no bytes: neither a serialization nor a model format applies")
            return versions.register_version(self.catalog, self.actor, name, artifact.packed(), fields=fields,
                                             tags=clean_tags)
        opaque = isinstance(artifact, (str, Path)) and model_format is None
        policy = None if opaque else versions.registration_policy(self.catalog, name)
        stored = pack_artifact(
            self.store, artifact, progress=progress, model=name, policy=policy, serialization=serialization,
            model_format=model_format, model_file=model_file,
        )
        return versions.register_version(self.catalog, self.actor, name, stored, fields=fields, tags=clean_tags)

    def record_deployment(self, name: str, version: int | str, *, target: str, succeeded: bool,
                          details: Mapping[str, Any] | str | None = None) -> AuditEntry:
        """Record that a deploy target was (or failed to be) told to serve a version."""
        number = validate_version_number(version)
        validate_name(name)
        return versions.record_deployment(
            self.catalog, self.actor, name, number, target=target, succeeded=succeeded, details=details
        )

    # --- reads --------------------------------------------------------------------------

    def get_model(self, name: str) -> ModelInfo:
        """A model, its policy and where its stages and aliases point."""
        return queries.get_model(self.catalog, name)

    def list_models(self) -> list[ModelInfo]:
        """Every registered model, by name."""
        return queries.list_models(self.catalog)

    def get_version(self, name: str, version: int | str) -> VersionInfo:
        """One version of a model."""
        return queries.get_version(self.catalog, name, version)

    def list_versions(
        self, name: str, *, stage: str | Stage | None = None, limit: int = 100, before: int | None = None
    ) -> list[VersionInfo]:
        """Versions of a model, newest first, optionally in one stage; ``before`` pages further back."""
        return queries.list_versions(self.catalog, name, stage=stage, limit=limit, before=before)

    def search_models(self, filter_string: str | None = None, *, order_by: Iterable[str] | None = None,
                      limit: int = 100, page_token: str | None = None) -> SearchPage[ModelInfo]:
        """Models matching a filter (``name LIKE 'fraud%' AND tags.team = 'risk'``), a page at a time."""
        from .search import find_models
        return find_models(self.catalog, filter_string, order_by, limit, page_token)

    def search_versions(self, filter_string: str | None = None, *, order_by: Iterable[str] | None = None,
                        limit: int = 100, page_token: str | None = None) -> SearchPage[VersionInfo]:
        """Versions matching a filter (``run_id IN ('r1', 'r2')``, ``tags.k = 'v'``), latest change first."""
        from .search import find_versions
        return find_versions(self.catalog, filter_string, order_by, limit, page_token)

    def resolve(self, uri: str) -> VersionInfo:
        """The version a model URI points at now."""
        return queries.resolve(self.catalog, uri)

    def show(self, uri: str) -> VersionDetails:
        """A version with its checks, decisions, aliases and the gates still before its next stage."""
        return queries.show(self.catalog, uri)

    def show_versions(self, name: str, versions: Iterable[int | str]) -> dict[int, VersionDetails]:
        """Several versions of a model in full, by number, in a bounded number of statements (for sensors, dashboards)."""
        return queries.show_versions(self.catalog, name, versions)

    def audit_events(
        self,
        name: str | None = None,
        *,
        version: int | str | None = None,
        limit: int = 100,
        after_seq: int | None = None,
        actions: Iterable[str | AuditAction] | None = None,
    ) -> list[AuditEntry]:
        """The newest ``limit`` audit events in order (or the first after ``after_seq``), of ``actions`` if given."""
        return queries.audit_events(
            self.catalog, name, version=version, limit=limit, after_seq=after_seq, actions=actions
        )

    # --- artifacts ----------------------------------------------------------------------

    def download(self, uri: str, dest: str | Path, *, progress: Progress | None = None) -> Path:
        """Write the artifact of the version ``uri`` points at to ``dest`` (a new path), verifying every byte.

        A directory artifact becomes a folder; anything else a file. On an
        integrity failure nothing is left at ``dest``.
        """
        version = self.resolve(uri)
        require_bytes(version, doing="download")
        return download_artifact(
            self.store, kind=version.artifact_kind, sha256=version.artifact_sha256,
            label=version.uri, dest=Path(dest), progress=progress,
        )

    def load_model(self, uri: str, *, contained: bool | Rehearsal = False) -> Any:
        """The model object of the version ``uri`` points at, deserialized only after its bytes verify.

        For versions registered from a live estimator, judged by the model's policy
        now (:class:`UntrustedType`, :class:`PickleNotAllowed`; see :mod:`.estimators`).
        Warns (:class:`ModelVersionWarning`) on another scikit-learn; ``contained``: tried in a child process first.
        A protected alias whose version no longer meets the gates is :class:`NotPermitted`, as in serving and MLflow.
        """
        alias = parse_model_uri(uri).alias
        if alias is not None:
            details = queries.show(self.catalog, uri)
            governance.require_alias_still_gated(details, alias)
            uri = details.version.uri  # the version just judged, even if the alias moves meanwhile
        version, policy = queries.resolve_with_policy(self.catalog, uri)
        require_bytes(version, doing="load")
        return load_artifact(
            self.store, kind=version.artifact_kind, sha256=version.artifact_sha256, label=version.uri,
            format=version.artifact_format, model=version.model, policy=policy, contained=contained,
            size=version.artifact_size,
        )

    def collect_garbage(self, *, delete: bool = False, min_age_seconds: float = 3600.0) -> GarbageReport:
        """Blobs no version references; with ``delete``, remove them (never a referenced or a fresh blob)."""
        return garbage.collect_garbage(self.catalog, self.store, delete=delete, min_age_seconds=min_age_seconds)

    # --- stage workflow -----------------------------------------------------------------

    def transition(
        self, name: str, version: int | str, stage: str | Stage, *, reason: str | None = None
    ) -> StageChange:
        """Move a version along the workflow; a move to Production is a :meth:`promote`."""
        return workflow.transition(self.catalog, self.actor, name, version, stage, reason=reason)

    def promote(self, name: str, version: int | str, *, reason: str | None = None) -> StageChange:
        """Move a Staging version to Production if every gate holds, archiving the previous one.

        Checks, approvals, both stage changes and their audit events are one
        transaction: either all of it happens or none of it does.
        """
        return workflow.promote(self.catalog, self.actor, name, version, reason=reason)

    def rollback(self, name: str, *, reason: str, to_version: int | str | None = None) -> StageChange:
        """Return an archived, formerly-Production version to Production, archiving the current one.

        Without ``to_version`` the version most recently taken out of Production
        is chosen. A reason is required; no new approval is.
        """
        return workflow.rollback(self.catalog, self.actor, name, reason=reason, to_version=to_version)

    def unmet_gates(self, name: str, version: int | str, stage: str | Stage) -> list[UnmetGate]:
        """What still stands between a version and ``stage`` (Staging or Production), as records."""
        return workflow.gates_before(self.catalog, name, version, stage)

    # --- governance ---------------------------------------------------------------------

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
        return governance.record_check(self.catalog, self.actor, name, version, check, passed=passed, details=details)

    # --- aliases, tags, descriptions ----------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> VersionInfo:
        """Point an alias at a version, creating or moving it.

        A protected alias may point only at a version that meets every gate
        before Production and is not Archived (:class:`GateUnmet` otherwise);
        its audit event records the approvals and checks it was gated on.
        """
        validate_alias(alias, new=True)
        number = validate_version_number(version)
        validate_name(name)
        return labels.set_alias(self.catalog, self.actor, name, alias, number)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        validate_alias(alias)
        validate_name(name)
        labels.delete_alias(self.catalog, self.actor, name, alias)

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
        validate_name(name)
        return labels.edit_tags(self.catalog, self.actor, name, number, set_=set_, delete_keys=delete)

    def set_description(self, name: str, description: str, *, version: int | str | None = None) -> None:
        """Change the description of a model or of one of its versions."""
        text = validate_description(description)
        number = validate_version_number(version) if version is not None else None
        validate_name(name)
        labels.set_description(self.catalog, self.actor, name, number, text)

    # --- webhooks (implemented in registry_core/webhooks/subscriptions.py) --------------

    def add_webhook(
        self, url: str, *, events: Iterable[str], secret: str, model: str | None = None
    ) -> _webhooks.WebhookInfo:
        """Subscribe an http(s) URL to event types (``all`` for every one), signed with ``secret``; audited."""
        return _webhooks.add_webhook(self.catalog, self.actor, url, events=events, secret=secret, model=model)

    def list_webhooks(self, *, include_removed: bool = False) -> list[_webhooks.WebhookInfo]:
        """Webhook subscriptions with their pending and delivered event counts (never their secrets)."""
        return _webhooks.list_webhooks(self.catalog, include_removed=include_removed)

    def remove_webhook(self, subscription_id: int | str) -> _webhooks.WebhookInfo:
        """Stop a webhook subscription; its undelivered events are dropped; audited."""
        return _webhooks.remove_webhook(self.catalog, self.actor, subscription_id)

    def webhook_deliveries(self, subscription_id: int | str, *, limit: int = 20) -> list[_webhooks.WebhookDeliveryRecord]:
        """A subscription's newest events, oldest first, with every delivery attempt."""
        return _webhooks.webhook_deliveries(self.catalog, subscription_id, limit=limit)
