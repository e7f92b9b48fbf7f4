"""Garbage collection of the artifact store: blobs that no version or rendition references, and stale temporary uploads."""

from __future__ import annotations

import time

from sqlalchemy import literal, select

from .artifacts import manifest_digests
from .blobstore import BlobInfo, BlobStore, PartialUploads
from .errors import InvalidInput
from .records import GarbageReport
from .references import REFERENCE
from .rendition_table import Rendition
from .rows import VERSIONS
from .unit_of_work import Catalog

__all__ = ["collect_garbage"]

RENDITIONS = Rendition.__table__


def collect_garbage(catalog: Catalog, store: BlobStore, *, delete: bool, min_age_seconds: float) -> GarbageReport:
    """Blobs no version references, and temporary uploads a crash left; with ``delete``, remove them.

    Blobs younger than ``min_age_seconds`` are left alone, since a registration
    publishes its blob just before committing the version that references it.
    A referenced blob is never touched, and archived versions keep theirs.
    """
    if min_age_seconds < 0:
        raise InvalidInput("the minimum age cannot be negative")
    with catalog.read() as connection:
        rows = connection.execute(select(VERSIONS.c.artifact_sha256, VERSIONS.c.artifact_kind).distinct()).all()
        rows += connection.execute(select(RENDITIONS.c.artifact_sha256, literal("file")).distinct()).all()
    referenced: set[str] = set()
    for sha256, kind in rows:
        if kind == REFERENCE:  # no bytes of its own
            continue
        referenced.add(sha256)
        if kind == "directory":
            referenced.update(manifest_digests(store, sha256, label=f"manifest {sha256}"))
    cutoff = time.time() - min_age_seconds
    unreferenced: list[BlobInfo] = []
    recent = 0
    for blob in store.iter_blobs():
        if blob.sha256 in referenced:
            continue
        if blob.modified > cutoff:
            recent += 1
            continue
        unreferenced.append(blob)
    # A crash between writing and publishing a blob leaves its temporary file; the same grace period applies.
    partials: list[BlobInfo] = []
    recent_partials = 0
    if isinstance(store, PartialUploads):
        for partial in store.iter_partials():
            if partial.modified > cutoff:
                recent_partials += 1
            else:
                partials.append(partial)
    if delete:
        for blob in unreferenced:
            store.delete(blob.sha256)
        for partial in partials:
            store.delete_partial(partial.sha256)  # type: ignore[attr-defined]
    return GarbageReport(
        blobs=[blob.sha256 for blob in unreferenced],
        bytes=sum(blob.size for blob in unreferenced),
        deleted=delete,
        skipped_recent=recent,
        referenced=len(referenced),
        partials=[partial.sha256 for partial in partials],
        partial_bytes=sum(partial.size for partial in partials),
        skipped_recent_partials=recent_partials,
    )
