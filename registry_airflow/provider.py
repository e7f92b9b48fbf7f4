"""What Airflow's providers manager reads through the ``apache_airflow_provider`` entry point.

Only data: Airflow calls this while it discovers providers, so it imports nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONNECTION_TYPE", "get_provider_info"]

#: The connection type of a catalog in Airflow's connections.
CONNECTION_TYPE = "model_registry"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "dagster-model-registry",
        "name": "Model registry",
        "description": "A governed model registry: versions, checks, approvals, promotion and rollback.",
        "versions": ["0.1.0"],
        "integrations": [
            {"integration-name": "Model registry", "external-doc-url": "https://pypi.org/project/dagster-model-registry/",
             "tags": ["software"]},
        ],
        "operators": [
            {"integration-name": "Model registry",
             "python-modules": ["registry_airflow.operators", "registry_airflow.approval"]},
        ],
        "sensors": [{"integration-name": "Model registry", "python-modules": ["registry_airflow.sensors"]}],
        "triggers": [{"integration-name": "Model registry", "python-modules": ["registry_airflow.triggers"]}],
        "hooks": [{"integration-name": "Model registry", "python-modules": ["registry_airflow.hook"]}],
        "connection-types": [
            {
                "hook-class-name": "registry_airflow.hook.RegistryHook",
                "hook-name": "Model registry",
                "connection-type": CONNECTION_TYPE,
                "conn-fields": {
                    "database_url": {
                        "label": "Catalog database URL",
                        "schema": {"type": ["string", "null"]},
                        "description": "sqlite:///… or postgresql+psycopg://user@host/db; the password goes in Password",
                    },
                    "artifact_root": {
                        "label": "Artifact root",
                        "schema": {"type": ["string", "null"]},
                        "description": "A folder or an s3:// prefix",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "port", "extra"],
                    "relabeling": {"login": "Registry actor"},
                    "placeholders": {"login": "airflow"},
                },
            }
        ],
    }
