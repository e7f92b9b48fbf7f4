"""Content-addressed blob stores: a blob's key is its sha256.

A blob is written under a temporary name while it is hashed, then published
under its digest in one step that never replaces an existing blob, so a crash
never leaves a partial blob visible and a published blob is never overwritten.
The local filesystem is the default (:mod:`.local`); any fsspec URL
(``s3://…``, ``memory://…``) is a store for teams (:mod:`.fsspec_store`).
Every store implements :class:`BlobStore` (:mod:`.protocol`); :mod:`.streams`
copies and verifies their bytes.
"""

from __future__ import annotations

from pathlib import Path

from .fsspec_store import FsspecBlobStore
from .local import LocalBlobStore
from .protocol import Blob, BlobInfo, BlobStore, PartialUploads, Progress, check_digest
from .streams import copy_hashing, copy_verified, hash_file, read_verified

__all__ = [
    "Blob",
    "BlobInfo",
    "BlobStore",
    "FsspecBlobStore",
    "LocalBlobStore",
    "PartialUploads",
    "Progress",
    "check_digest",
    "copy_hashing",
    "copy_verified",
    "hash_file",
    "open_store",
    "read_verified",
]


def open_store(root: str | Path) -> BlobStore:
    """The store at ``root``: a local folder, or an fsspec URL such as ``s3://bucket/prefix``."""
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        return FsspecBlobStore(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return LocalBlobStore(text)
