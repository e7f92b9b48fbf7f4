"""Where a version came from, as Airflow knows it: the DAG, its run and the task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AirflowLineage"]


@dataclass(frozen=True)
class AirflowLineage:
    dag_id: str
    run_id: str
    task_id: str

    @classmethod
    def of(cls, context: Any) -> AirflowLineage:
        instance = context["ti"]
        return cls(dag_id=instance.dag_id, run_id=instance.run_id, task_id=instance.task_id)

    @property
    def tags(self) -> dict[str, str]:
        return {"airflow/dag_id": self.dag_id, "airflow/run_id": self.run_id, "airflow/task_id": self.task_id}

    def describe(self) -> str:
        return f"Airflow DAG {self.dag_id}, run {self.run_id}, task {self.task_id}"
