"""DAGs the provider's tests run with ``dag.test()``: one step each, the version and reason given as params."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param

from registry_airflow import (
    DecisionSensor,
    ProductionChangeSensor,
    PromoteOperator,
    RecordCheckOperator,
    RegistryApprovalOperator,
)
from registry_airflow.hook import RegistryHook
from registry_airflow.operators import CheckOutcome

MODEL = "fraud-detector"
VERSION = {"version": Param(1, type="integer")}


def smoke_check(version: int) -> CheckOutcome:
    return CheckOutcome(passed=version != 13, details={"note": f"smoke-tested version {version}"})


with DAG("registry_record_check", schedule=None, params=VERSION) as record_check:
    RecordCheckOperator(task_id="smoke", model_name=MODEL, version="{{ params.version }}", check="smoke",
                        python_callable=smoke_check)

with DAG("registry_promote", schedule=None, params=VERSION) as promote:
    PromoteOperator(task_id="promote", model_name=MODEL, version="{{ params.version }}", reason="tested")

# Nobody answers within a second, and the default is Approve: the most tempting answer to record by mistake.
with DAG("registry_approval_timeout", schedule=None, params=VERSION) as approval_timeout:
    (RegistryApprovalOperator(task_id="approve", model_name=MODEL, version="{{ params.version }}",
                              response_timeout=timedelta(seconds=1), defaults=["Approve"])
     >> PromoteOperator(task_id="promote", model_name=MODEL, version="{{ params.version }}", reason="timed out"))



def meanwhile(change: str, version: int) -> None:
    """What someone else does in the catalog while a sensor waits: bob approves, or alice promotes."""
    def act() -> None:
        time.sleep(0.5)
        with RegistryHook().registry(actor="bob" if change == "approve" else "alice") as registry:
            if change == "approve":
                registry.approve(MODEL, version, comment="fine")
            else:
                registry.promote(MODEL, version, reason="meanwhile")

    threading.Thread(target=act, daemon=True).start()


class ChangedWhileDeferred:
    """A sensor that, once it has found nothing and defers, has the change it waits for made in the catalog."""

    change = ""

    def defer(self, **kwargs: Any) -> None:
        meanwhile(self.change, int(self.params["version"]))
        super().defer(**kwargs)


class DecisionMadeWhileDeferred(ChangedWhileDeferred, DecisionSensor):
    change = "approve"


class PromotedWhileDeferred(ChangedWhileDeferred, ProductionChangeSensor):
    change = "promote"


with DAG("registry_wait_for_decision", schedule=None, params=VERSION) as wait_for_decision:
    DecisionMadeWhileDeferred(task_id="decision", model_name=MODEL, version="{{ params.version }}", poll_interval=0.2)

with DAG("registry_wait_for_production_change", schedule=None, params=VERSION) as wait_for_production_change:
    PromotedWhileDeferred(task_id="production_change", model_name=MODEL, poll_interval=0.2)
