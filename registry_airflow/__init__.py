"""registry_airflow: the model registry in Apache Airflow (3.1 or newer), built on registry_core.

A provider (``get_provider_info``, the ``model_registry`` connection type and
:class:`RegistryHook`), operators for each lifecycle step, deferrable sensors
on the catalog's audit log, a human-in-the-loop approval recorded under the
responding Airflow user's name, and an asset per model's Production version.
Needs the [airflow] extra; it imports no Dagster.
"""

from registry_core.extras import requiring_extra

with requiring_extra("airflow", "registry_airflow"):
    from .approval import RegistryApprovalOperator
    from .assets import production_asset
    from .evaluation import ShadowEvaluateOperator, ValidateCandidateOperator
    from .hook import RegistryHook
    from .operators import (
        Candidate,
        CheckOutcome,
        PromoteOperator,
        RecordCheckOperator,
        RegisterModelOperator,
        RollbackOperator,
    )
    from .sensors import CatalogEventSensor, DecisionSensor, ProductionChangeSensor
    from .triggers import CatalogEventTrigger

__all__ = [
    "Candidate",
    "CatalogEventSensor",
    "CatalogEventTrigger",
    "CheckOutcome",
    "DecisionSensor",
    "ProductionChangeSensor",
    "PromoteOperator",
    "RecordCheckOperator",
    "RegisterModelOperator",
    "RegistryApprovalOperator",
    "RegistryHook",
    "RollbackOperator",
    "ShadowEvaluateOperator",
    "ValidateCandidateOperator",
    "production_asset",
]
