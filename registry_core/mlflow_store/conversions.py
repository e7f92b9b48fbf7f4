"""The registry's records in MLflow's vocabulary: models, versions, tags, aliases, timestamps.

MLflow has fields the catalog keeps as reserved version tags (the source URI
the client gave, the logged model, the run link); they are written at
registration under ``registry.mlflow.*`` and shown as MLflow's fields, not as
tags. Each version also shows what governs it as read-only tags:
``registry.unmet_gates`` (what still blocks its next stage) and
``registry.approved_by`` (the approvals that count). Every ``registry.*`` key
is the registry's; writing one through MLflow is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus

from ..identities import distinct_people
from ..policy import Decision
from ..records import ApprovalRecord, ModelInfo, VersionDetails, VersionInfo
from ..references import referenced_source
from ..search import SOURCE_TAG

__all__ = [
    "APPROVED_BY_TAG",
    "MODEL_ID_TAG",
    "RESERVED_PREFIX",
    "ROLLBACK_REASON_TAG",
    "RUN_LINK_TAG",
    "SOURCE_TAG",
    "UNMET_GATES_TAG",
    "approved_by",
    "millis",
    "model_entity",
    "version_entity",
]

#: Tag keys under this prefix belong to the registry: shown, never written through MLflow.
RESERVED_PREFIX = "registry."
MODEL_ID_TAG = "registry.mlflow.model_id"
RUN_LINK_TAG = "registry.mlflow.run_link"
UNMET_GATES_TAG = "registry.unmet_gates"
APPROVED_BY_TAG = "registry.approved_by"
#: A version tag a user may set before moving an Archived version back to Production: the rollback's reason.
ROLLBACK_REASON_TAG = "rollback_reason"
_HIDDEN = frozenset({SOURCE_TAG, MODEL_ID_TAG, RUN_LINK_TAG})
_READY = ModelVersionStatus.to_string(ModelVersionStatus.READY)


def millis(moment: datetime) -> int:
    """A timezone-aware datetime as MLflow's milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def approved_by(decisions: Iterable[ApprovalRecord]) -> list[str]:
    """Who approved since the latest rejection, each once, in order (what the promotion gate counts, before policy)."""
    names: list[str] = []
    for decision in decisions:
        names = [] if decision.decision is Decision.REJECT else [*names, decision.approver]
    return distinct_people(names)


def governance_tags(details: VersionDetails) -> dict[str, str]:
    """The read-only tags that show a version's unmet gates and approvals."""
    tags = {APPROVED_BY_TAG: ", ".join(approved_by(details.decisions))}
    if details.next_stage is not None:
        tags[UNMET_GATES_TAG] = "; ".join(gate.message for gate in details.unmet_gates) or "none"
    return tags


def version_entity(
    version: VersionInfo, *, aliases: Iterable[str] = (), details: VersionDetails | None = None
) -> ModelVersion:
    """An MLflow model version, always READY: its bytes were stored before the version existed, or it is a
    reference that will never change by itself (its status message says so)."""
    stored = version.tags
    visible = {k: v for k, v in stored.items() if k not in _HIDDEN}
    if details is not None:
        visible.update(governance_tags(details))
        aliases = details.aliases
    return ModelVersion(
        name=version.model,
        version=version.version,  # an int, as MLflow's SQL store gives it; the REST layer makes it text
        creation_timestamp=millis(version.created_at),
        last_updated_timestamp=millis(version.updated_at),
        description=version.description,
        user_id=version.registered_by,
        current_stage=version.stage.value,
        source=stored.get(SOURCE_TAG, version.artifact_uri),
        run_id=version.run_id or None,
        status=_READY,
        status_message=_reference_message(version),
        tags=[ModelVersionTag(k, v) for k, v in sorted(visible.items())],
        run_link=stored.get(RUN_LINK_TAG),
        aliases=sorted(aliases),
        model_id=stored.get(MODEL_ID_TAG),
    )


def _reference_message(version: VersionInfo) -> str | None:
    source = referenced_source(version)
    if source is None:
        return None
    return (f"references {source} with no bytes in the registry: not loadable, servable or promotable "
            "until they are attached (registry attach)")


def model_entity(model: ModelInfo, latest: Mapping[str, VersionInfo] | None = None) -> RegisteredModel:
    """An MLflow registered model with its tags, aliases and latest version per stage."""
    by_version: dict[int, list[str]] = {}
    for alias, number in model.aliases.items():
        by_version.setdefault(number, []).append(alias)
    latest_versions = [
        version_entity(v, aliases=by_version.get(v.version, ()))
        for v in sorted((latest or {}).values(), key=lambda v: v.version)
    ]
    return RegisteredModel(
        name=model.name,
        creation_timestamp=millis(model.created_at),
        last_updated_timestamp=millis(model.updated_at),
        description=model.description,
        latest_versions=latest_versions,
        tags=[RegisteredModelTag(k, v) for k, v in sorted(model.tags.items())],
        # int versions, as MLflow's SQL store gives them in-process; its REST layer makes them text for both
        aliases=[RegisteredModelAlias(alias, number) for alias, number in sorted(model.aliases.items())],
    )
