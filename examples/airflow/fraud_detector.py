"""The fraud detector's lifecycle in Airflow: the same model, data, gates and catalog as the Dagster example.

Three DAGs:

* ``fraud_detector_lifecycle`` (daily): retrain and register -> validate (expectations, metric gates;
  Staging) -> shadow-evaluate against Production -> approval in Airflow's UI -> promote;
* ``fraud_detector_redeploy``: scheduled by the model's Production asset, which every promotion and
  rollback updates; it deploys the catalog's Production version (the events only say that it changed);
* ``fraud_detector_rollback`` (manual): back to the previous Production version, recorded as the user
  who triggered it.

The catalog comes from the ``model_registry_default`` connection. Nothing heavy is imported at parse
time: pandas, scikit-learn and Great Expectations load inside the tasks.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from registry_airflow import (
    Candidate,
    PromoteOperator,
    RegisterModelOperator,
    RegistryApprovalOperator,
    RollbackOperator,
    ShadowEvaluateOperator,
    ValidateCandidateOperator,
    production_asset,
)
from registry_lifecycle.metric_gates import DATA_QUALITY_CHECK, SHADOW_CHECK, MetricGate

MODEL = "fraud-detector"
#: The Dagster example's gates (registry_lifecycle.fraud.FRAUD_METRIC_GATES, which imports pandas at parse time).
METRIC_GATES = {"roc_auc": (">=", 0.85), "average_precision": (">=", 0.30)}
REGISTERED = "{{ ti.xcom_pull(task_ids='retrain') }}"


def train_candidate() -> Candidate:
    from registry_lifecycle.datasets import dataset_digest, features_and_target, holdout_split, signature
    from registry_lifecycle.evaluation import binary_classification_metrics
    from registry_lifecycle.fraud import FRAUD_PARAMS, FRAUD_TARGET, load_transactions, train_fraud_classifier

    data = load_transactions()
    train_rows, holdout_rows = holdout_split(data, FRAUD_TARGET, fraction=0.25, seed=0)
    features, target = features_and_target(train_rows, FRAUD_TARGET)
    estimator = train_fraud_classifier(features, target, FRAUD_PARAMS)
    return Candidate(
        estimator=estimator, dataset_digest=dataset_digest(data), params=FRAUD_PARAMS,
        metrics=binary_classification_metrics(estimator, *features_and_target(holdout_rows, FRAUD_TARGET)),
        signature=signature(features, target),
    )


def recent_transactions() -> Any:
    from registry_lifecycle.fraud import load_recent_transactions

    return load_recent_transactions()


def expectations() -> list[Any]:
    from registry_lifecycle.fraud import fraud_expectations

    return fraud_expectations()


with DAG("fraud_detector_lifecycle", schedule="0 3 * * *", catchup=False, tags=["model-registry"]) as lifecycle:
    retrain = RegisterModelOperator(
        task_id="retrain", model_name=MODEL, python_callable=train_candidate,
        staging_checks=(DATA_QUALITY_CHECK, *(MetricGate(metric, *gate).check_name for metric, gate in METRIC_GATES.items())),
        production_checks=(SHADOW_CHECK,),
        description="Flags card transactions likely to be fraudulent (synthetic example data).",
    )
    evaluation = {"model_name": MODEL, "version": REGISTERED, "load_evaluation_data": recent_transactions,
                  "target": "is_fraud", "metric_gates": METRIC_GATES}
    validate = ValidateCandidateOperator(task_id="validate", expectations=expectations, **evaluation)
    shadow = ShadowEvaluateOperator(task_id="shadow_evaluate", shadow_tolerance=0.02, **evaluation)
    approve = RegistryApprovalOperator(
        task_id="approve", model_name=MODEL, version=REGISTERED,
        body="Version {{ ti.xcom_pull(task_ids='retrain') }} passed validation and shadow evaluation. "
             "Its checks: `registry show models:/fraud-detector/{{ ti.xcom_pull(task_ids='retrain') }}`.",
    )
    promote = PromoteOperator(task_id="promote", model_name=MODEL, version=REGISTERED, reason="approved in Airflow")
    retrain >> validate >> shadow >> approve >> promote


with DAG("fraud_detector_redeploy", schedule=[production_asset(MODEL)], catchup=False,
         tags=["model-registry"]) as redeploy:

    @task
    def deploy_production(*, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Hand the catalog's Production version to the serving fleet (here: report it).

        The catalog, not the asset event, says what to deploy: promotions and rollbacks made while the
        DAG was paused or busy queue one run with all their events, and only the catalog knows which
        of them is current. A manual run (no events) redeploys what is in Production.
        """
        from registry_airflow import RegistryHook
        from registry_airflow.refusals import registry_refusals

        announced = [event.extra for event in (triggering_asset_events or {}).get(production_asset(MODEL), [])]
        with registry_refusals(), RegistryHook().registry() as registry:
            production = registry.resolve(f"models:/{MODEL}/Production")
        print(f"deploying {production.uri} ({len(announced)} change(s) announced: {announced})")
        return {"model": MODEL, "version": production.version, "uri": production.uri, "announced": announced}

    deploy_production()


with DAG("fraud_detector_rollback", schedule=None, catchup=False, tags=["model-registry"],
         params={"reason": Param("", type="string", minLength=1), "to_version": Param(None, type=["null", "integer"])},
         ) as rollback:
    RollbackOperator(task_id="rollback", model_name=MODEL, reason="{{ params.reason }}",
                     to_version="{{ params.to_version }}")
