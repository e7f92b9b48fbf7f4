"""What a blob store is: the protocol every store implements, and what it stores and lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol, runtime_checkable

from ..errors import InvalidInput

__all__ = ["Blob", "BlobInfo", "BlobStore", "PartialUploads", "Progress", "check_digest", "is_digest"]

_SHA256_HEX = frozenset("0123456789abcdef")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Blob:
    """A stored blob: its digest, size, and whether it was already there."""

    sha256: str
    size: int
    existed: bool = False


@dataclass(frozen=True)
class BlobInfo:
    """A blob found in a store, for garbage collection."""

    sha256: str
    size: int
    modified: float


class BlobStore(Protocol):
    """Somewhere blobs are kept by their sha256."""

    url: str

    def has(self, sha256: str) -> bool:
        """Whether a blob with this digest is published."""
        ...

    def has_size(self, size: int) -> bool:
        """Whether any blob of exactly this size was published (advisory, for skipping duplicate writes)."""
        ...

    def touch(self, sha256: str) -> None:
        """Mark a blob as just used, so that garbage collection's grace period starts again."""
        ...

    def put_stream(self, reader: IO[bytes], *, progress: Progress | None = None) -> Blob:
        """Copy a stream into the store while hashing it; publish it under its digest."""
        ...

    def open(self, sha256: str) -> IO[bytes]:
        """The blob's bytes, unverified (see :func:`copy_verified`)."""
        ...

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every published blob."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove a published blob."""
        ...

    def location(self, sha256: str) -> str:
        """Where the blob lives, as a URL."""
        ...


@runtime_checkable
class PartialUploads(Protocol):
    """A store whose interrupted writes can leave temporary files behind (a crash mid-registration)."""

    def iter_partials(self) -> Iterator[BlobInfo]:
        """Every temporary upload still present; ``sha256`` holds its file name."""
        ...

    def delete_partial(self, name: str) -> None:
        """Remove one temporary upload, by the name :meth:`iter_partials` gave."""
        ...


def check_digest(sha256: str) -> str:
    if not is_digest(sha256):
        raise InvalidInput(f"invalid sha256 digest {sha256!r}")
    return sha256


def is_digest(name: str) -> bool:
    """Whether ``name`` looks like a sha256 hex digest (a published blob's file name)."""
    return len(name) == 64 and set(name) <= _SHA256_HEX
