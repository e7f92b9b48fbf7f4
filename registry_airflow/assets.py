"""The Airflow asset each model's Production version is: updated on every promotion and rollback."""

from __future__ import annotations

import urllib.parse

from airflow.sdk import Asset

from registry_core.validation import validate_name

__all__ = ["ASSET_GROUP", "production_asset"]

ASSET_GROUP = "model_registry"


def production_asset(model: str) -> Asset:
    """The asset a redeploy DAG schedules on: its events carry the new Production version and the one it replaced."""
    validate_name(model)
    return Asset(
        name=f"{model}.production",
        uri=f"model-registry://models/{urllib.parse.quote(model, safe='')}/production",
        group=ASSET_GROUP,
    )
