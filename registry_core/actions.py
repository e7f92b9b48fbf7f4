"""The audit log's vocabulary: every action a catalog change records.

Sensors, the serving follower, the redeploy job and webhooks react to these
values; they are part of the catalog's contract and never change meaning.
"""

from __future__ import annotations

import enum

__all__ = ["STAGE_ACTIONS", "AuditAction"]


class AuditAction(enum.StrEnum):
    """What one audit event records."""

    MODEL_CREATE = "model.create"
    MODEL_TAGS = "model.tags"
    MODEL_DESCRIPTION = "model.description"
    #: A model and all its versions deleted (the rows; never their events).
    MODEL_DELETE = "model.delete"
    POLICY_SET = "policy.set"
    VERSION_REGISTER = "version.register"
    #: A reference version's bytes stored, once (see :mod:`registry_core.references`).
    VERSION_ATTACH = "version.attach"
    #: A version deleted (the row; never its events).
    VERSION_DELETE = "version.delete"
    VERSION_TRANSITION = "version.transition"
    VERSION_PROMOTE = "version.promote"
    VERSION_ROLLBACK = "version.rollback"
    VERSION_TAGS = "version.tags"
    VERSION_DESCRIPTION = "version.description"
    VERSION_RENDER = "version.render"
    CHECK_RECORD = "check.record"
    APPROVAL_RECORD = "approval.record"
    DEPLOYMENT_RECORD = "deployment.record"
    ALIAS_SET = "alias.set"
    ALIAS_DELETE = "alias.delete"
    WEBHOOK_ADD = "webhook.add"
    WEBHOOK_REMOVE = "webhook.remove"
    WEBHOOK_UPDATE = "webhook.update"
    IDENTITY_ENROL = "identity.enrol"
    IDENTITY_ROTATE = "identity.rotate"
    IDENTITY_REVOKE = "identity.revoke"


#: Actions that change a version's stage (registration puts it in None).
STAGE_ACTIONS: frozenset[AuditAction] = frozenset(
    {
        AuditAction.VERSION_REGISTER,
        AuditAction.VERSION_TRANSITION,
        AuditAction.VERSION_PROMOTE,
        AuditAction.VERSION_ROLLBACK,
    }
)
