"""Which artifact answers for a served version: its ONNX rendition when the catalog allows and it verifies, else its own.

The catalog decides whether a rendition may answer
(:func:`~registry_core.renditions.serving_choice`: a policy tolerance, a
parity within it, a row that agrees with its audit event); loading decides
whether its bytes verify. A refused rendition is logged, and the version's
own artifact answers as it would without one.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ..contained_load import Rehearsal
from ..errors import RegistryError
from ..records import VersionInfo
from ..renditions import RenditionChoice, RenditionInfo

__all__ = ["chosen_digest", "load_answering"]

log = logging.getLogger("registry.serving")


class _Loader(Protocol):
    """What of a :class:`~registry_core.serving.model_holder.ModelLoader` choosing an artifact needs."""

    def load(self, version: VersionInfo, *, contained: bool | Rehearsal = False) -> Any: ...

    def choose(self, version: VersionInfo) -> RenditionChoice: ...

    def load_rendition(self, rendition: RenditionInfo) -> Any: ...


def chosen_digest(choice: RenditionChoice) -> str | None:
    """The digest of the rendition the catalog chose, None when the version's own artifact is to answer."""
    return choice.rendition.artifact_sha256 if choice.rendition is not None else None


def load_answering(
    loader: _Loader, version: VersionInfo, *, contained: bool | Rehearsal, slot: str
) -> tuple[Any, dict[str, Any], str | None]:
    """The model that answers for ``version``, what ``/version`` says of it (``answered_by``), and the chosen digest."""
    choice = loader.choose(version)
    rendition, reason = choice.rendition, choice.reason
    if rendition is not None:
        try:
            model = loader.load_rendition(rendition)
        except RegistryError as error:
            log.error("%s: the ONNX rendition of version %d of %s is refused, its own artifact answers: %s",
                      slot, version.version, version.model, error.message)
            reason = f"its rendition is refused: {error.message}"
        else:
            return model, {"artifact": "onnx_rendition", "sha256": rendition.artifact_sha256, "parity": rendition.parity,
                           "converter": f"{rendition.converter} {rendition.converter_version}", "reason": reason}, (
                chosen_digest(choice))
    model = loader.load(version, contained=contained)
    return model, {"artifact": version.artifact_kind, "sha256": version.artifact_sha256, "reason": reason}, (
        chosen_digest(choice))
