"""Garbage collection of the artifact store: blobs that no version references."""

from __future__ import annotations

import time

from sqlalchemy import select

from .artifacts import manifest_digests
from .blobstore import BlobInfo, BlobStore
from .errors import InvalidInput
from .records import GarbageReport
from .rows import VERSIONS
from .unit_of_work import Catalog

__all__ = ["collect_garbage"]


def collect_garbage(catalog: Catalog, store: BlobStore, *, delete: bool, min_age_seconds: float) -> GarbageReport:
    """Blobs no version references; with ``delete``, remove them.

    Blobs younger than ``min_age_seconds`` are left alone, since a registration
    publishes its blob just before committing the version that references it.
    A referenced blob is never touched, and archived versions keep theirs.
    """
    if min_age_seconds < 0:
        raise InvalidInput("the minimum age cannot be negative")
    with catalog.read() as connection:
        rows = connection.execute(select(VERSIONS.c.artifact_sha256, VERSIONS.c.artifact_kind).distinct()).all()
    referenced: set[str] = set()
    for sha256, kind in rows:
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
    if delete:
        for blob in unreferenced:
            store.delete(blob.sha256)
    return GarbageReport(
        blobs=[blob.sha256 for blob in unreferenced],
        bytes=sum(blob.size for blob in unreferenced),
        deleted=delete,
        skipped_recent=recent,
        referenced=len(referenced),
    )
