"""A new version whose bytes are identical to an earlier one's: said in the run and on the version.

Identical bytes are worth a word (a retrain that changed nothing), and a loud
one when the earlier version was rolled back out of Production: the same model
is on its way back. The finding is kept as version tags (audited like every
change), not as a registry check, so that it informs without blocking a gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_core import AuditAction, Registry, VersionInfo

__all__ = ["IDENTICAL_TAG", "ROLLED_BACK_TAG", "Identical", "find_identical", "identical_from_tags"]

IDENTICAL_TAG = "registry/identical_to"
ROLLED_BACK_TAG = "registry/identical_to_rolled_back"
_PAGE = 1000


@dataclass(frozen=True)
class Identical:
    """Earlier versions with the same artifact digest, and which of them were rolled back out of Production."""

    versions: tuple[int, ...]
    rolled_back: tuple[int, ...]

    @property
    def loud(self) -> bool:
        return bool(self.rolled_back)

    def message(self, version: int) -> str:
        if not self.versions:
            return f"version {version}'s artifact is not identical to any earlier version's"
        names = ", ".join(map(str, self.versions))
        text = f"version {version}'s artifact is byte-identical to version {names}"
        if self.rolled_back:
            text += (
                f"; version {', '.join(map(str, self.rolled_back))} was rolled back out of Production: "
                "this is the same model coming back"
            )
        return text

    def tags(self, run_id: str) -> dict[str, str]:
        """The version tags recording the finding, naming the run that made it."""
        return {
            IDENTICAL_TAG: ",".join(map(str, self.versions)) or "none",
            ROLLED_BACK_TAG: ",".join(map(str, self.rolled_back)) or "none",
            "registry/identical_checked_by": f"Dagster run {run_id}",
        }


def find_identical(catalog: Registry, version: VersionInfo) -> Identical:
    """Earlier versions of the model with ``version``'s artifact digest (newest first)."""
    same: list[int] = []
    before = version.version
    while before > 1:
        page = catalog.list_versions(version.model, limit=_PAGE, before=before)
        if not page:
            break
        same += [v.version for v in page if v.artifact_sha256 == version.artifact_sha256]
        before = page[-1].version
    if not same:
        return Identical((), ())
    details = catalog.show_versions(version.model, same)
    rolled_back = tuple(
        number for number in same
        if any(_rolled_back_out(entry.action, entry.after) for entry in details[number].stage_history)
    )
    return Identical(tuple(same), rolled_back)


def identical_from_tags(version: VersionInfo) -> Identical | None:
    """What the registration found, when the version was registered by the pipeline (else None)."""
    if IDENTICAL_TAG not in version.tags:
        return None

    def numbers(value: str | None) -> tuple[int, ...]:
        return tuple(int(n) for n in (value or "").split(",") if n.strip().isdigit())

    return Identical(numbers(version.tags.get(IDENTICAL_TAG)), numbers(version.tags.get(ROLLED_BACK_TAG)))


def _rolled_back_out(action: AuditAction, after: object) -> bool:
    reason = str((after or {}).get("reason") or "") if isinstance(after, dict) else ""
    return action is AuditAction.VERSION_TRANSITION and reason.startswith("rolled back to version")
