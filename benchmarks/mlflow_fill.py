"""Fill MLflow's own SQL model registry with the same N versions ``catalog_fill`` gives the catalog.

MLflow's store is created once through ``SqlAlchemyStore(uri)``, so its own
migrations build the schema; the model is created through the store's API;
the versions and their tags are then bulk-inserted into MLflow's tables (its
ORM's ``Table`` objects) with the values MLflow writes itself for a version
registered by ``log_model(registered_model_name=...)`` and later moved
through stages: a ``models:/m-…`` source, the logged model's artifact folder
as storage location, a 32-character run id, status ``READY``, no user, times
in milliseconds, ``last_updated_time`` moved by each transition.

Each version ends in the stage ``catalog_fill.seed_versions`` leaves the
same-numbered version of the catalog in (:func:`filled_stages`), so both
registries hold the same model with the same history of stages.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog_fill import MODEL, plan_fates
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag, SqlRegisteredModel
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME
from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url

__all__ = ["FilledModel", "fill_mlflow", "filled_stages", "postgres_database"]

#: The seed ``catalog_fill.seed_versions`` plans its fates with (its default).
FILL_SEED = 1
_CHUNK = 5_000


@dataclass(frozen=True)
class FilledModel:
    """The stage each filled version ends in (index 0 is version 1) and the one in Production."""

    stages: list[str]

    @property
    def production(self) -> int:
        return self.stages.index("Production") + 1

    def latest(self) -> dict[str, int]:
        """The highest version in each stage: what ``get_latest_versions(name)`` answers."""
        return {stage: number for number, stage in enumerate(self.stages, start=1)}

    def in_stage(self, stage: str) -> list[int]:
        return [number for number, current in enumerate(self.stages, start=1) if current == stage]


def filled_stages(size: int) -> FilledModel:
    """The stages ``catalog_fill.seed_versions(registry, size)`` leaves the versions in."""
    fates = plan_fates(size, random.Random(FILL_SEED))
    last_production = max(i + 1 for i, fate in enumerate(fates) if fate == "production")
    named = {"staging": "Staging", "archived": "Archived", "none": "None"}
    stages = [
        ("Production" if number == last_production else "Archived") if fate == "production" else named[fate]
        for number, fate in enumerate(fates, start=1)
    ]
    return FilledModel(stages)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _version_row(number: int, stage: str, registered: datetime, artifacts: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"filler {number}".encode()).hexdigest()
    model_id = f"m-{digest[:32]}"
    # Versions that left None did so a few milliseconds to a minute after registration, as in catalog_fill.
    changed = registered if stage == "None" else registered + timedelta(milliseconds=5 + number % 50)
    return {
        "workspace": DEFAULT_WORKSPACE_NAME, "name": MODEL, "version": number,
        "creation_time": _millis(registered), "last_updated_time": _millis(changed),
        "description": None, "user_id": None, "current_stage": stage,
        "source": f"models:/{model_id}",
        "storage_location": f"{artifacts}/1/models/{model_id}/artifacts",
        "run_id": hashlib.md5(f"run {number}".encode()).hexdigest(),
        "run_link": None, "status": ModelVersionStatus.to_string(ModelVersionStatus.READY), "status_message": None,
    }


def fill_mlflow(store: SqlAlchemyStore, filled: FilledModel, artifact_root: Path) -> None:
    """Create ``MODEL`` in MLflow's store and give it the versions of ``filled``, with catalog_fill's tags."""
    store.create_registered_model(MODEL, description=None)
    size = len(filled.stages)
    start = datetime.now(UTC) - timedelta(minutes=size + 10)
    artifacts = artifact_root.as_uri()
    versions = SqlModelVersion.__table__
    tags = SqlModelVersionTag.__table__
    with store.engine.begin() as connection:
        for first in range(1, size + 1, _CHUNK):
            numbers = range(first, min(first + _CHUNK, size + 1))
            connection.execute(insert(versions), [
                _version_row(n, filled.stages[n - 1], start + timedelta(minutes=n), artifacts) for n in numbers
            ])
            tag_rows = [
                {"workspace": DEFAULT_WORKSPACE_NAME, "name": MODEL, "version": n, "key": key, "value": value}
                for n in numbers if n % 5 == 0
                for key, value in (("git_sha", hashlib.sha256(f"filler {n}".encode()).hexdigest()[:12]),
                                   ("team", "fraud"))
            ]
            if tag_rows:
                connection.execute(insert(tags), tag_rows)
        models = SqlRegisteredModel.__table__
        connection.execute(
            update(models).where(models.c.workspace == DEFAULT_WORKSPACE_NAME, models.c.name == MODEL)
            .values(last_updated_time=_millis(datetime.now(UTC)))
        )
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # What autovacuum would have done to tables that grew to this size.
            connection.exec_driver_sql("VACUUM ANALYZE registered_models, model_versions, model_version_tags")


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    name = f"mlflow_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
