"""Per-model governance policy and the gates it puts before Staging and Production."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidInput, NotPermitted
from .gates import GateKind, UnmetGate
from .identities import distinct_people, same_person, shown_actor, validate_actor
from .validation import validate_alias, validate_name

__all__ = [
    "Decision",
    "GateKind",
    "GatePolicy",
    "RecordedDecision",
    "UnmetGate",
    "approval_gate",
    "check_gates",
    "counted_approvers",
    "distinct_people",
    "parse_onnx_parity",
    "same_person",
]

MAX_APPROVALS = 20
MAX_LISTED = 200
MAX_TYPE_NAME = 300
DEFAULT_MAX_LOAD_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_LOAD_OBJECTS = 200_000
#: The largest ONNX parity tolerance a policy may set (a difference of probabilities is at most 1).
MAX_ONNX_PARITY = 1e6
#: What :meth:`GatePolicy.updated` takes for ``onnx_parity`` to mean "no tolerance: never serve a rendition".
NO_TOLERANCE = "none"
#: A fully qualified Python name as skops writes it: ``module.path.ClassName``.
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


class Decision(enum.StrEnum):
    """A reviewer's verdict on a version: the one vocabulary of the API, the CLI and the pipelines."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class GatePolicy:
    """What a version needs before it may enter Staging and Production.

    The default asks for no checks, one approval, and forbids a registrant from
    approving their own version. It also says what loading the model's
    versions may run: ``trusted_types`` names (fully qualified) the types
    beyond scikit-learn's own that a skops-serialized version may construct,
    and ``allow_pickle`` opts the model into pickle, whose loading runs
    whatever code the pickle holds (see :mod:`registry_core.estimators`).
    ``protected_aliases`` are aliases that may point only at a version that
    meets every gate before Production (see :mod:`registry_core.labels`).
    """

    staging_checks: tuple[str, ...] = ()
    production_checks: tuple[str, ...] = ()
    approvals_required: int = 1
    approvers: tuple[str, ...] = ()
    allow_self_approval: bool = False
    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    protected_aliases: tuple[str, ...] = ()
    #: ``Class.param`` entries (see :mod:`registry_core.estimator_io`) that may make scikit-learn touch files.
    allow_io_parameters: tuple[str, ...] = ()
    #: The most bytes one version may inflate to when loaded, every member of its file together.
    max_load_bytes: int = DEFAULT_MAX_LOAD_BYTES
    #: The most objects loading one version may construct.
    max_load_objects: int = DEFAULT_MAX_LOAD_OBJECTS
    #: Decisions count only with a proof (an SSH signature or a TOTP code) from an enrolled identity.
    require_proof: bool = False
    #: Who may change a proof-requiring policy, each with a proof of their own.
    owners: tuple[str, ...] = ()
    #: The largest parity (see :mod:`registry_core.renditions`) at which serving answers with a version's ONNX
    #: rendition instead of its estimator; None: renditions are never served.
    onnx_parity: float | None = None

    def __post_init__(self) -> None:
        for name in (*self.staging_checks, *self.production_checks):
            validate_name(name, what="check name")
        for label, names in (("approver", self.approvers), ("owner", self.owners)):
            for person in names:
                if validate_actor(person) != person:
                    raise InvalidInput(f"invalid {label} {person!r}: surrounding spaces are not allowed")
        if not isinstance(self.require_proof, bool):
            raise InvalidInput("require proof must be true or false")
        if self.require_proof and not self.owners:
            raise InvalidInput("a policy that requires proof needs at least one owner (--owner NAME) to change it")
        if max(len(self.staging_checks), len(self.production_checks), len(self.approvers), len(self.owners)) > MAX_LISTED:
            raise InvalidInput(f"a policy lists at most {MAX_LISTED} checks or approvers each")
        if isinstance(self.approvals_required, bool) or not isinstance(self.approvals_required, int):
            raise InvalidInput("approvals required must be a whole number")
        if not 0 <= self.approvals_required <= MAX_APPROVALS:
            raise InvalidInput(f"approvals required must be between 0 and {MAX_APPROVALS}")
        for name in self.trusted_types:
            if not isinstance(name, str) or len(name) > MAX_TYPE_NAME or not _TYPE_NAME.fullmatch(name):
                raise InvalidInput(
                    f"invalid trusted type {name!r}: give a fully qualified name such as 'mypackage.models.MyEstimator'"
                )
        if len(self.trusted_types) > MAX_LISTED:
            raise InvalidInput(f"a policy trusts at most {MAX_LISTED} types")
        if not isinstance(self.allow_pickle, bool):
            raise InvalidInput("allow pickle must be true or false")
        for alias in self.protected_aliases:
            validate_alias(alias)
        from .estimator_io import KNOWN

        for key in self.allow_io_parameters:
            if key not in KNOWN:
                raise InvalidInput(
                    f"unknown I/O parameter {key!r}: a policy may allow {', '.join(sorted(KNOWN))}"
                )
        for label, value in (("max load bytes", self.max_load_bytes), ("max load objects", self.max_load_objects)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**50:
                raise InvalidInput(f"{label} must be a whole number between 1 and {2**50}")
        if self.onnx_parity is not None and (
            isinstance(self.onnx_parity, bool) or not isinstance(self.onnx_parity, (int, float))
            or not math.isfinite(self.onnx_parity) or not 0 <= self.onnx_parity <= MAX_ONNX_PARITY
        ):
            raise InvalidInput(f"the ONNX parity tolerance must be a number between 0 and {MAX_ONNX_PARITY:g}, or none")
        if len(self.protected_aliases) > MAX_LISTED:
            raise InvalidInput(f"a policy protects at most {MAX_LISTED} aliases")
        distinct = len(distinct_people(self.approvers))
        if self.approvers and self.approvals_required > distinct:
            raise InvalidInput(
                f"the policy requires {self.approvals_required} approvals but lists only {distinct} distinct approver(s)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "staging_checks": list(self.staging_checks),
            "production_checks": list(self.production_checks),
            "approvals_required": self.approvals_required,
            "approvers": list(self.approvers),
            "allow_self_approval": self.allow_self_approval,
            "trusted_types": list(self.trusted_types),
            "allow_pickle": self.allow_pickle,
            "protected_aliases": list(self.protected_aliases),
            "allow_io_parameters": list(self.allow_io_parameters),
            "max_load_bytes": self.max_load_bytes,
            "max_load_objects": self.max_load_objects,
            "require_proof": self.require_proof,
            "owners": list(self.owners),
            "onnx_parity": self.onnx_parity,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GatePolicy:
        data = data or {}
        return cls(
            staging_checks=tuple(data.get("staging_checks", ())),
            production_checks=tuple(data.get("production_checks", ())),
            approvals_required=int(data.get("approvals_required", 1)),
            approvers=tuple(data.get("approvers", ())),
            allow_self_approval=bool(data.get("allow_self_approval", False)),
            trusted_types=tuple(data.get("trusted_types", ())),
            allow_pickle=bool(data.get("allow_pickle", False)),
            protected_aliases=tuple(data.get("protected_aliases", ())),
            allow_io_parameters=tuple(data.get("allow_io_parameters", ())),
            max_load_bytes=data.get("max_load_bytes", DEFAULT_MAX_LOAD_BYTES),
            max_load_objects=data.get("max_load_objects", DEFAULT_MAX_LOAD_OBJECTS),
            require_proof=bool(data.get("require_proof", False)),
            owners=tuple(data.get("owners", ())),
            onnx_parity=data.get("onnx_parity"),
        )

    def updated(self, **changes: Any) -> GatePolicy:
        """A copy with the given fields replaced; ``None`` values leave a field as it is."""
        kept = {key: value for key, value in changes.items() if value is not None}
        if "onnx_parity" in kept:
            kept["onnx_parity"] = parse_onnx_parity(kept["onnx_parity"])
        for key in ("staging_checks", "production_checks", "approvers", "trusted_types", "protected_aliases",
                    "allow_io_parameters", "owners"):
            if key in kept:
                kept[key] = tuple(dict.fromkeys(kept[key]))
        for key in ("approvers", "owners"):
            if key in kept:
                # One entry per person: the first spelling given is the one kept for display.
                kept[key] = tuple(distinct_people(kept[key]))
        return replace(self, **kept)

    def protects(self, alias: str) -> bool:
        """Whether ``alias`` is protected: it may point only at a version that meets the Production gates."""
        return alias in self.protected_aliases

    def lists(self, actor: str) -> bool:
        """Whether ``actor`` is on the approvers list (compared by :func:`same_person`)."""
        return any(same_person(actor, approver) for approver in self.approvers)

    def owned_by(self, actor: str) -> bool:
        """Whether ``actor`` is one of the policy's owners (compared by :func:`same_person`)."""
        return any(same_person(actor, owner) for owner in self.owners)

    def check_may_decide(self, actor: str, *, registrant: str, decision: Decision, label: str) -> None:
        """Raise :class:`NotPermitted` unless ``actor`` may record ``decision`` on a version."""
        if self.approvers and not self.lists(actor):
            raise NotPermitted(
                f"{actor} is not an allowed approver of {label} (allowed: {', '.join(self.approvers)})"
            )
        if decision is Decision.APPROVE and same_person(actor, registrant) and not self.allow_self_approval:
            raise NotPermitted(
                f"{actor} registered {label} and may not approve it: the policy forbids self-approval"
            )


def parse_onnx_parity(value: Any) -> float | None:
    """An ONNX parity tolerance as given (a number, its text, or ``"none"``) as the policy holds it."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == NO_TOLERANCE:
            return None
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"invalid ONNX parity tolerance {value!r}: give a number such as 1e-5, or none") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


@dataclass(frozen=True)
class RecordedDecision:
    """One approval or rejection, in the order recorded."""

    approver: str
    decision: Decision
    comment: str | None
    #: Whether the decision was recorded with a proof (see :mod:`registry_core.proofs`).
    proven: bool = False


def check_gates(required: Sequence[str], latest: Mapping[str, bool], *, all_recorded: bool) -> list[UnmetGate]:
    """The unmet check gates: required checks missing or failing, and with ``all_recorded`` any failing check."""
    unmet = []
    for name in required:
        if name not in latest:
            unmet.append(UnmetGate(GateKind.CHECK_MISSING, name, f"required check '{name}' has not been recorded"))
        elif not latest[name]:
            unmet.append(UnmetGate(GateKind.CHECK_FAILED, name, f"required check '{name}' failed"))
    if all_recorded:
        for name, passed in sorted(latest.items()):
            if not passed and name not in required:
                unmet.append(UnmetGate(GateKind.CHECK_FAILED, name, f"check '{name}' failed"))
    return unmet


def counted_approvers(policy: GatePolicy, decisions: Sequence[RecordedDecision], *, registrant: str) -> list[str]:
    """The approvers whose approvals count, in the order they approved.

    Approvals count once per eligible approver and only when recorded after the
    most recent rejection: a rejection blocks promotion until later approvals.
    Under a policy that requires proof, only proven decisions count, rejections too.
    """
    counted: list[str] = []
    for decision in decisions:
        if policy.require_proof and not decision.proven:
            continue
        if decision.decision is Decision.REJECT:
            counted = []
        elif _eligible(policy, decision.approver, registrant):
            counted.append(decision.approver)
    return distinct_people(counted)


def approval_gate(policy: GatePolicy, decisions: Sequence[RecordedDecision], *, registrant: str) -> list[UnmetGate]:
    """The unmet approval gate, if any (see :func:`counted_approvers`)."""
    counted = counted_approvers(policy, decisions, registrant=registrant)
    if len(counted) >= policy.approvals_required:
        return []
    need = f"{policy.approvals_required} approval(s) required, {len(counted)} eligible"
    rejections = [
        d for d in decisions if d.decision is Decision.REJECT and (d.proven or not policy.require_proof)
    ]
    if rejections:
        last = rejections[-1]
        note = f" ({last.comment})" if last.comment else ""
        return [UnmetGate(GateKind.APPROVAL, "approvals", f"{need} since the rejection by {shown_actor(last.approver)}{note}")]
    proof = " with a proof" if policy.require_proof else ""
    return [UnmetGate(GateKind.APPROVAL, "approvals", need + proof + " recorded")]


def _eligible(policy: GatePolicy, approver: str, registrant: str) -> bool:
    if policy.approvers and not policy.lists(approver):
        return False
    return policy.allow_self_approval or not same_person(approver, registrant)
