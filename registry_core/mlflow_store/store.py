"""The catalog as an MLflow model registry store: MLflow's calls, the registry's governance.

Every change goes through :class:`~registry_core.Registry`, so it is one
audited transaction with the same gates as the CLI: a move to Staging is a
transition with its checks, a move to Production a promotion (every gate and
approval; the previous Production version is always archived), Archived to
Production a rollback. The actor is the store process's ``$REGISTRY_ACTOR``
(else the OS user): MLflow's store interface carries no caller identity.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.validation import _validate_model_name, _validate_tag_name
from sqlalchemy import and_, select

from ..errors import ConflictError
from ..governance import require_alias_still_gated
from ..queries import show_versions_of
from ..records import ModelInfo, VersionInfo
from ..references import ArtifactReference, referenced_source, require_bytes
from ..registry import Registry
from ..rows import ALIASES, MODELS, VERSIONS, model_info, model_tags_json, version_info, version_tags_json
from ..stages import Stage, parse_stage
from ..uris import parse_model_uri
from ..validation import is_reserved_tag
from .artifacts import configured_root, download_uri
from .conversions import (
    MODEL_ID_TAG,
    RESERVED_PREFIX,
    ROLLBACK_REASON_TAG,
    RUN_LINK_TAG,
    SOURCE_TAG,
    model_entity,
    version_entity,
)
from .errors import IMMUTABLE, alias_not_found, already_exists, mlflow_errors, not_implemented, refused
from .flavors import OPAQUE_TAG, FlavorTyping, typed_flavor
from .refusals import PROMPTS_REFUSED, RefusedOperations
from .search import PROMPT_TAG, latest_versions_query, search_models_query, search_versions_query
from .sources import SourceUnreadable, fetch_source, logged_model_id
from .webhooks import WebhookOperations

__all__ = ["URI_PREFIX", "RegistryStore", "catalog_url"]

#: ``registry+`` followed by the catalog's SQLAlchemy URL.
URI_PREFIX = "registry+"
#: Set by ``mlflow server`` in its processes: its --backend-store-uri.
_SERVER_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"
#: The alias names MLflow's store accepts at all (``^[\w\-]*$``, non-empty, at most 255).
_MLFLOW_ALIAS = re.compile(r"[\w\-]{1,255}")


def catalog_url(store_uri: str) -> str:
    """The catalog's database URL inside a ``registry+…`` store URI."""
    if not store_uri.startswith(URI_PREFIX) or len(store_uri) == len(URI_PREFIX):
        raise MlflowException.invalid_parameter_value(
            f"not a registry store URI: {store_uri!r}; expected registry+sqlite:///PATH or registry+postgresql://…"
        )
    return store_uri[len(URI_PREFIX):]


def _writable_tags(pairs: Iterable[Any] | None) -> dict[str, str]:
    """MLflow tag entities as a dict, refusing the registry's reserved keys and the prompt marker."""
    tags: dict[str, str] = {}
    for tag in pairs or ():
        key, value = tag.key, "" if tag.value is None else str(tag.value)
        _check_writable(key)
        tags[key] = value
    return tags


def _check_name(name: Any) -> None:
    """MLflow's own name check and text (a missing name, ``/`` or ``:``) where its store makes it; the catalog's
    stricter rules follow. Only text goes to MLflow's check, which fails on anything else."""
    if name is None or isinstance(name, str):
        _validate_model_name(name)


def _check_writable(key: str) -> None:
    if not isinstance(key, str):  # MLflow's own text: "Missing value for required parameter 'key'"
        _validate_tag_name(None)
    if is_reserved_tag(key):
        raise refused(f"tag {key!r} is the registry's and read-only: keys starting with {RESERVED_PREFIX!r} (in any case) are reserved")
    if key == PROMPT_TAG:
        raise not_implemented("tagging a model as an MLflow prompt", PROMPTS_REFUSED)


class RegistryStore(WebhookOperations, RefusedOperations, AbstractStore):
    """An MLflow ``AbstractStore`` over a registry catalog (``registry+<database URL>``)."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.store_uri = store_uri
        # Inside `mlflow server` the server's own backend store is the tracking store, whatever
        # tracking URI this worker process resolved when it built the registry store first.
        self.tracking_uri = os.environ.get(_SERVER_BACKEND_ENV) or tracking_uri
        self.artifact_root = configured_root()
        with mlflow_errors():
            self.registry = Registry(catalog_url(store_uri), self.artifact_root)

    # --- registered models --------------------------------------------------------------

    def create_registered_model(self, name: str, tags: Any = None, description: Any = None,
                                deployment_job_id: Any = None) -> RegisteredModel:
        _check_name(name)
        clean = _writable_tags(tags)
        with mlflow_errors():
            try:
                info = self.registry.create_model(name, description=description, tags=clean)
            except ConflictError as exc:
                raise already_exists(name) from exc
        return model_entity(info)

    def update_registered_model(self, name: str, description: Any, deployment_job_id: Any = None) -> RegisteredModel:
        _check_name(name)
        with mlflow_errors():
            self.registry.set_description(name, description)
        return self.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        raise not_implemented("renaming a registered model", f"names are part of every audit event; {IMMUTABLE}")

    def delete_registered_model(self, name: str) -> None:
        """Delete the model and its versions (audited; refused while one is in service: PERMISSION_DENIED)."""
        with mlflow_errors():
            self.registry.delete_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        _check_name(name)
        with mlflow_errors():
            info = self.registry.get_model(name)
            latest = self._latest_versions([name]).get(name, {})
        return model_entity(info, latest)

    def search_registered_models(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                                 page_token: Any = None) -> PagedList:
        page = search_models_query(filter_string, max_results, order_by, page_token, self.registry.catalog.dialect)
        with mlflow_errors(), self.registry.catalog.read() as connection:
            rows = connection.execute(page.statement).all()
        names = [row.name for row in rows[: page.max_results]]
        with mlflow_errors():
            latest = self._latest_versions(names)
            infos = self._model_infos(names, latest)
        return PagedList([model_entity(infos[name], latest.get(name, {})) for name in names], page.next_token(len(rows)))

    def get_latest_versions(self, name: str, stages: Any = None) -> list[ModelVersion]:
        _check_name(name)
        with mlflow_errors():
            wanted = {parse_stage(stage) for stage in stages} if stages else set(Stage)
            self.registry.get_model(name)
            latest = self._latest_versions([name]).get(name, {})
            chosen = sorted((v.version for stage, v in latest.items() if Stage(stage) in wanted))
            details = self.registry.show_versions(name, chosen)
        return [version_entity(details[n].version, details=details[n]) for n in chosen]

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        _check_name(name)
        (key, value), = _writable_tags([tag]).items()
        with mlflow_errors():
            self.registry.set_tags(name, {key: value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        _check_name(name)
        _check_writable(key)
        with mlflow_errors():
            if key in self.registry.get_model(name).tags:  # a missing tag is not an error in MLflow
                self.registry.delete_tags(name, [key])

    # --- model versions -----------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: Any = None, tags: Any = None, run_link: Any = None,
                             description: Any = None, local_model_path: Any = None,
                             model_id: str | None = None) -> ModelVersion:
        """Copy the source's bytes into the catalog's store as the next version (READY); a source this process cannot
        read becomes a reference with no bytes (:mod:`registry_core.references`), never loaded or promoted until attached."""
        _check_name(name)
        clean = _writable_tags(tags)
        with mlflow_errors(), tempfile.TemporaryDirectory(prefix="registry-mlflow-") as workdir:
            self.registry.get_model(name)  # MLflow refuses versions of a model that was never created
            artifact: Path | ArtifactReference
            if source.startswith("models:/") and not logged_model_id(source):
                origin = self.registry.resolve(source)
                referenced = referenced_source(origin)
                if referenced is not None:  # a copy of a reference refers to the same bytes
                    artifact = ArtifactReference(referenced)
                else:
                    artifact = self.registry.download(origin.uri, Path(workdir) / "model")
                run_id = run_id or origin.run_id
                model_id = model_id or origin.tags.get(MODEL_ID_TAG)
            else:
                try:
                    fetched = fetch_source(
                        source, run_id=run_id or None, model_id=model_id or None, local_model_path=local_model_path,
                        tracking_uri=self.tracking_uri, workdir=Path(workdir),
                    )
                    artifact, run_id, model_id = fetched.path, fetched.run_id, fetched.model_id
                except SourceUnreadable:
                    artifact = ArtifactReference(source)
            # typed when MLflow's loading, as ours, reads one model file in a safe format (a reference has none)
            typing = typed_flavor(artifact) if isinstance(artifact, Path) else FlavorTyping()
            lineage = {SOURCE_TAG: source, MODEL_ID_TAG: model_id, RUN_LINK_TAG: run_link, OPAQUE_TAG: typing.opaque_reason}
            info = self.registry.register(name, artifact, run_id=run_id or None, tags=clean,
                                          description=description,
                                          mlflow_lineage={k: v for k, v in lineage.items() if v},
                                          model_format=typing.model_format, model_file=typing.model_file)
        return self._version_entity(info)

    def update_model_version(self, name: str, version: Any, description: Any) -> ModelVersion:
        _check_name(name)
        with mlflow_errors():
            self.registry.set_description(name, description, version=version)
        return self.get_model_version(name, version)

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Our workflow in MLflow's words; ``archive_existing_versions`` is ignored (Production always archives),
        but refused with MLflow's text for a stage that is not active, as MLflow refuses it (as a client's mistake)."""
        _check_name(name)
        with mlflow_errors():
            target = parse_stage(stage)
            if archive_existing_versions and target not in (Stage.STAGING, Stage.PRODUCTION):
                raise MlflowException.invalid_parameter_value(
                    f"Model version transition cannot archive existing model versions because '{stage}' is not an "
                    "Active stage. Valid stages are ['Staging', 'Production']"
                )
            current = self.registry.get_version(name, version)
            if target is Stage.PRODUCTION and current.stage is Stage.ARCHIVED:
                reason = current.tags.get(ROLLBACK_REASON_TAG) or "rolled back through MLflow"
                self.registry.rollback(name, reason=reason, to_version=version)
            elif target is Stage.PRODUCTION:
                self.registry.promote(name, version, reason="promoted through MLflow")
            else:
                self.registry.transition(name, version, target, reason="through MLflow")
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: Any) -> None:
        """Delete the version (audited; refused in Production, Staging or behind a protected alias)."""
        with mlflow_errors():
            self.registry.delete_version(name, version)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        _check_name(name)
        with mlflow_errors():
            number = self.registry.get_version(name, version).version
            details = self.registry.show_versions(name, [number])[number]
        return version_entity(details.version, details=details)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        _check_name(name)
        with mlflow_errors():
            found = self.registry.get_version(name, version)
            require_bytes(found, doing="download")
            return download_uri(found)

    def search_model_versions(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                              page_token: Any = None) -> PagedList:
        page = search_versions_query(filter_string, max_results, order_by, page_token, self.registry.catalog.dialect)
        with mlflow_errors(), self.registry.catalog.read() as connection:
            rows = connection.execute(page.statement).all()
        kept = rows[: page.max_results]
        by_model: dict[str, list[int]] = {}
        for row in kept:
            by_model.setdefault(row.name, []).append(row.version)
        with mlflow_errors():
            details = show_versions_of(self.registry.catalog, by_model)
        versions = [version_entity(details[r.name][r.version].version, details=details[r.name][r.version]) for r in kept]
        return PagedList(versions, page.next_token(len(rows)))

    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        _check_name(name)
        (key, value), = _writable_tags([tag]).items()
        with mlflow_errors():
            self.registry.set_tags(name, {key: value}, version=version)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        _check_name(name)
        _check_writable(key)
        with mlflow_errors():
            if key in self.registry.get_version(name, version).tags:
                self.registry.delete_tags(name, [key], version=version)

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        _check_name(name)
        with mlflow_errors():
            self.registry.set_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove ``alias``; as in MLflow, an alias the model does not have is no error (the model must exist)."""
        _check_name(name)
        if not isinstance(alias, str) or not _MLFLOW_ALIAS.fullmatch(alias):
            raise refused(f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, underscores (_), and dashes (-).")
        with mlflow_errors():
            if alias in self.registry.get_model(name).aliases:
                self.registry.delete_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; a protected alias only while that version meets the gates, as serving
        follows it (MLflow deploys by alias), so PERMISSION_DENIED names what it misses now."""
        _check_name(name)
        with mlflow_errors():
            if isinstance(alias, str) and alias.lower() == "latest":  # MLflow's reserved alias: the highest version
                details = self.registry.show(f"models:/{name}/latest")
                return version_entity(details.version, details=details)
            if alias not in self.registry.get_model(name).aliases:
                raise alias_not_found(alias)
            details = self.registry.show(str(parse_model_uri(f"models:/{name}@{alias}")))
            require_alias_still_gated(details, alias)
        return version_entity(details.version, details=details)

    def copy_model_version(self, src_mv: ModelVersion, dst_name: str) -> ModelVersion:
        """A new version of ``dst_name`` (created when missing) holding the same verified bytes as ``src_mv``."""
        try:
            self.create_registered_model(dst_name)
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        tags = [tag for tag in _tag_entities(src_mv.tags) if not is_reserved_tag(tag.key)]
        return self.create_model_version(
            dst_name, f"models:/{src_mv.name}/{src_mv.version}", run_id=src_mv.run_id, tags=tags,
            run_link=src_mv.run_link, description=src_mv.description, model_id=src_mv.model_id,
        )

    def _await_model_version_creation(self, mv: ModelVersion, await_creation_for: Any) -> None:
        """Nothing to wait for: a version exists only once its bytes are stored (always READY)."""

    # --- helpers ------------------------------------------------------------------------

    def _version_entity(self, info: VersionInfo) -> ModelVersion:
        details = self.registry.show_versions(info.model, [info.version])[info.version]
        return version_entity(details.version, details=details)

    def _model_infos(self, names: list[str], latest: dict[str, dict[str, VersionInfo]]) -> dict[str, ModelInfo]:
        """Several models with their tags and aliases in two statements, however many (a page of a search)."""
        if not names:
            return {}
        catalog = self.registry.catalog
        with catalog.read() as connection:
            rows = connection.execute(
                select(*MODELS.c, model_tags_json(catalog.dialect)).where(MODELS.c.name.in_(names))
            ).all()
            aliases: dict[str, dict[str, int]] = {name: {} for name in names}
            for name, alias, number in connection.execute(
                select(MODELS.c.name, ALIASES.c.alias, VERSIONS.c.version)
                .select_from(ALIASES.join(MODELS, MODELS.c.id == ALIASES.c.model_id)
                             .join(VERSIONS, VERSIONS.c.id == ALIASES.c.version_id))
                .where(MODELS.c.name.in_(names))
            ):
                aliases[name][alias] = number
        return {
            row.name: model_info(row, aliases=aliases[row.name], production=(
                latest.get(row.name, {}).get(Stage.PRODUCTION.value).version
                if Stage.PRODUCTION.value in latest.get(row.name, {}) else None
            ))
            for row in rows
        }

    def _latest_versions(self, names: list[str]) -> dict[str, dict[str, VersionInfo]]:
        """The highest version in each stage of each named model, in two indexed statements."""
        if not names:
            return {}
        catalog = self.registry.catalog
        latest = latest_versions_query(names).subquery()
        statement = (
            select(*VERSIONS.c, version_tags_json(catalog.dialect), MODELS.c.name.label("model_name"))
            .select_from(
                VERSIONS.join(latest, and_(VERSIONS.c.model_id == latest.c.model_id,
                                           VERSIONS.c.version == latest.c.version))
                .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
            )
        )
        result: dict[str, dict[str, VersionInfo]] = {}
        with catalog.read() as connection:
            for row in connection.execute(statement):
                result.setdefault(row.model_name, {})[row.stage.value] = version_info(row.model_name, row)
        return result


def _tag_entities(tags: Any) -> list[Any]:
    from mlflow.entities.model_registry import ModelVersionTag

    if isinstance(tags, dict):
        return [ModelVersionTag(k, v) for k, v in tags.items()]
    return list(tags or [])


def registry_store(store_uri: str, tracking_uri: str | None = None) -> RegistryStore:
    """The store MLflow builds for ``registry+…`` URIs (entry-point group ``mlflow.model_registry_store``)."""
    return RegistryStore(store_uri, tracking_uri)
