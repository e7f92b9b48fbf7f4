"""The approval step in Airflow's UI: a human-in-the-loop task whose answer is recorded in the catalog.

The reviewer approves or rejects on Airflow's "Required Actions" page. The
decision is recorded under the name Airflow's auth manager gives the
responding user, with the DAG run and task in its comment, and the registry's
gates apply exactly as for the CLI and Dagster: self-approval, the approvers
list and the required number of approvals. A decision the registry refuses
fails the task with the registry's reason, which the reviewer sees on the
task; nothing is recorded then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param

from .hook import RegistryHook
from .lineage import AirflowLineage
from .refusals import RegistryRefusal, registry_refusals

__all__ = ["RegistryApprovalOperator", "reviewer_name"]


class RegistryApprovalOperator(ApprovalOperator):
    """Ask a reviewer in Airflow's UI to approve or reject a model version; record their answer as their decision."""

    template_fields: Sequence[str] = ("subject", "body", "version")

    def __init__(
        self, *, model_name: str, version: int | str, registry_conn_id: str = RegistryHook.default_conn_name,
        subject: str | None = None, **kwargs: Any,
    ) -> None:
        # Optional: a required field would keep the Approve button disabled until something is typed.
        kwargs.setdefault("params", {"comment": Param(None, type=["null", "string"],
                                                      title="Comment (recorded with the decision)")})
        super().__init__(subject=subject or f"Approve {model_name} version {version} for Production?", **kwargs)
        self.model_name = model_name
        self.version = version
        self.registry_conn_id = registry_conn_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context, event)
        reviewer = reviewer_name(answer.get("responded_by_user"))
        if not reviewer:
            # A default taken at a timeout is nobody's decision.
            raise RegistryRefusal(f"no reviewer answered for {self.model_name} version {self.version}: nothing recorded")
        approved = answer["chosen_options"] == [self.APPROVE]
        comment = " ".join(filter(None, [str((answer.get("params_input") or {}).get("comment") or "").strip(),
                                         f"({AirflowLineage.of(context).describe()})"]))
        with registry_refusals(), RegistryHook(self.registry_conn_id).registry(actor=reviewer) as registry:
            decide = registry.approve if approved else registry.reject
            record = decide(self.model_name, self.version, comment=comment)
        self.log.info("%s %s %s version %s", reviewer, "approved" if approved else "rejected",
                      self.model_name, record.version)
        return ApprovalOperator.execute_complete(self, context, event)


def reviewer_name(responder: dict[str, Any] | None) -> str | None:
    """The name a decision is recorded under: the auth manager's user name, never its id.

    Airflow records the responder as ``{"id": user.get_id(), "name": user.get_name()}``.
    The simple auth manager gives the username for both; FAB's ``get_name()`` is the
    username too, but its id is the row number (``"7"``), and Keycloak's is a UUID: an
    id would put a number where the registry's approvers list and self-approval
    check expect a login. A responder without a name is nobody's decision.
    """
    name = (responder or {}).get("name")
    return name if isinstance(name, str) and name else None
