"""The registry's methods that change what exists rather than its state: a reference's bytes, deletions.

A part of :class:`~registry_core.registry.Registry` (which inherits it): each
method validates its input and hands it to the module holding the change
(:mod:`.versions` for attaching bytes, :mod:`.deletion` for deleting).
"""

from __future__ import annotations

from pathlib import Path

from . import deletion, versions
from .artifacts import pack_artifact
from .blobstore import BlobStore, Progress
from .records import VersionInfo
from .unit_of_work import Catalog
from .validation import validate_name, validate_version_number

__all__ = ["VersionRecords"]


class VersionRecords:
    """Attach the bytes of a version registered as a reference; delete a version or a model (audited)."""

    catalog: Catalog
    actor: str
    store: BlobStore

    def attach(self, name: str, version: int | str, artifact: str | Path, *,
               progress: Progress | None = None) -> VersionInfo:
        """Store the bytes a reference version was registered without (a file or folder path); audited.

        Only a reference in stage None or Staging with no check result or decision yet: gates are never counted
        for bytes that did not exist when they were recorded. From then on it is a version like any other.
        """
        number = validate_version_number(version)
        validate_name(name)
        versions.check_attachable(self.catalog, name, number)  # checked again, locked, once the bytes are stored
        stored = pack_artifact(self.store, Path(artifact) if isinstance(artifact, str) else artifact,
                               progress=progress, model=name)
        return versions.attach_artifact(self.catalog, self.actor, name, number, stored)

    def delete_version(self, name: str, version: int | str) -> None:
        """Delete a version, as MLflow does; refused in Production or Staging or behind a protected alias.

        Its audit events stay, and so does its history; its blobs go at the next ``registry gc --delete``
        if no other version references them. Its number is never given out again.
        """
        number = validate_version_number(version)
        validate_name(name)
        deletion.delete_version(self.catalog, self.actor, name, number)

    def delete_model(self, name: str) -> None:
        """Delete a model and its versions (refused as :meth:`delete_version` is for any of them); audited.

        The name may be created again; its version numbers continue after the highest ever given out.
        """
        validate_name(name)
        deletion.delete_model(self.catalog, self.actor, name)
