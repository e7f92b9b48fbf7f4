"""The stage workflow as data: the stages and the transitions allowed between them."""

from __future__ import annotations

import enum

from .errors import InvalidInput, InvalidTransition

__all__ = ["ALLOWED_TRANSITIONS", "Stage", "check_transition", "parse_stage"]


class Stage(enum.StrEnum):
    """A version's place in the lifecycle."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


#: Every stage change the workflow allows. Archived -> Production is a rollback
#: and is further limited to versions that were in Production before.
ALLOWED_TRANSITIONS: frozenset[tuple[Stage, Stage]] = frozenset(
    {
        (Stage.NONE, Stage.STAGING),
        (Stage.NONE, Stage.ARCHIVED),
        (Stage.STAGING, Stage.PRODUCTION),
        (Stage.STAGING, Stage.ARCHIVED),
        (Stage.PRODUCTION, Stage.ARCHIVED),
        (Stage.ARCHIVED, Stage.PRODUCTION),
    }
)

_SYNONYMS = {"candidate": Stage.NONE}
_BY_NAME = {stage.value.lower(): stage for stage in Stage} | _SYNONYMS


def parse_stage(text: str | Stage) -> Stage:
    """Read a stage name, case-insensitively; ``Candidate`` means ``None``."""
    if isinstance(text, Stage):
        return text
    stage = _BY_NAME.get(str(text).strip().lower())
    if stage is None:
        raise InvalidInput(
            f"unknown stage {text!r}: expected one of None (or Candidate), Staging, Production, Archived"
        )
    return stage


def check_transition(current: Stage, target: Stage, *, label: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is in the table."""
    if current == target:
        raise InvalidTransition(f"{label} is already in {target}", current.value, target.value)
    if (current, target) not in ALLOWED_TRANSITIONS:
        allowed = sorted(t.value for c, t in ALLOWED_TRANSITIONS if c == current)
        hint = f"from {current} it may move to {', '.join(allowed)}" if allowed else f"{current} is final"
        raise InvalidTransition(
            f"{label} cannot move from {current} to {target}: {hint}", current.value, target.value
        )
