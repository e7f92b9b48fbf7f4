"""Copying blobs while hashing them, and reading them back verified against their digest."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import IntegrityFailure, InvalidInput
from ..regular_files import open_regular
from .protocol import BlobStore, Progress

__all__ = ["CHUNK", "copy_hashing", "copy_verified", "hash_file", "read_verified"]

CHUNK = 4 * 1024 * 1024
#: Bytes between starts of background writeback, so the final fsync has little left to do.
_SYNC_EVERY = 64 * 1024 * 1024
#: Buffers in flight between reading, writing and hashing.
_RING = 4


def hash_file(path: Path, *, progress: Progress | None = None) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks into one reused buffer."""
    digest = hashlib.sha256()
    size = 0
    with open_regular(path, what="file") as reader:
        buffer = bytearray(max(1, min(CHUNK, os.fstat(reader.fileno()).st_size)))
        view = memoryview(buffer)
        while count := reader.readinto(buffer):
            digest.update(view[:count])
            size += count
            if progress:
                progress(count)
    return digest.hexdigest(), size


def copy_hashing(
    reader: IO[bytes], write: Callable[[memoryview], Any], *, sync: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Copy ``reader`` to ``write`` in chunks while hashing them; returns (sha256, size).

    Anything that fits in one chunk is copied inline. Larger streams overlap
    reading, hashing and writing (hashlib and file I/O release the GIL) over a
    small ring of reused buffers, which keeps memory bounded and spares the
    allocator: the copy costs little more than hashing alone.
    """
    first = reader.read(CHUNK)
    if len(first) < CHUNK:
        rest = reader.read(CHUNK) if first else b""
        if not rest:
            if first:
                write(memoryview(first))
                if progress:
                    progress(len(first))
            return hashlib.sha256(first).hexdigest(), len(first)
        first += rest
    return _copy_hashing_overlapped(reader, first, write, sync=sync, progress=progress)


def _copy_hashing_overlapped(
    reader: IO[bytes], first: bytes, write: Callable[[memoryview], Any], *,
    sync: Callable[[], None] | None, progress: Progress | None,
) -> tuple[str, int]:
    digest = hashlib.sha256()
    free: queue.Queue[bytearray] = queue.Queue()
    filled: queue.Queue[tuple[bytes | bytearray, int] | None] = queue.Queue()
    failure: list[BaseException] = []
    allocated = 0

    def hasher() -> None:
        try:
            while (item := filled.get()) is not None:
                buffer, count = item
                digest.update(memoryview(buffer)[:count])
                if isinstance(buffer, bytearray):
                    free.put(buffer)
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)
            while filled.get() is not None:  # drain so the producer never blocks
                pass

    thread = threading.Thread(target=hasher, name="registry-hash", daemon=True)
    thread.start()
    size = len(first)
    unsynced = len(first)
    try:
        write(memoryview(first))
        filled.put((first, len(first)))
        if progress:
            progress(len(first))
        while not failure:
            if free.empty() and allocated < _RING:
                buffer = bytearray(CHUNK)
                allocated += 1
            else:
                buffer = free.get()
            count = _fill(reader, buffer)
            if not count:
                break
            write(memoryview(buffer)[:count])
            filled.put((buffer, count))
            size += count
            unsynced += count
            if sync is not None and unsynced >= _SYNC_EVERY:
                sync()
                unsynced = 0
            if progress:
                progress(count)
    finally:
        filled.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return digest.hexdigest(), size


def _fill(reader: IO[bytes], buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the stream ends; returns the byte count."""
    readinto = getattr(reader, "readinto", None)
    if readinto is None:
        data = reader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
    view = memoryview(buffer)
    count = 0
    while count < len(buffer):
        got = readinto(view[count:])
        if not got:
            break
        count += got
    return count


def copy_verified(
    store: BlobStore, sha256: str, write: Callable[[bytes], Any], *, label: str, progress: Progress | None = None
) -> int:
    """Stream a blob to ``write`` and check it against ``sha256``; raises :class:`IntegrityFailure` on mismatch.

    The caller must treat what was written as untrusted until this returns.
    """
    with store.open(sha256) as reader:
        actual, size = copy_hashing(reader, write, progress=progress)
    if actual != sha256:
        raise IntegrityFailure(
            f"integrity check failed for {label}: expected sha256 {sha256}, the stored bytes hash to {actual}"
        )
    return size


def read_verified(store: BlobStore, sha256: str, *, label: str, limit: int = 256 * 1024 * 1024) -> bytes:
    """A small blob's bytes, checked against its digest (manifests, small models)."""
    buffer = bytearray()

    def collect(chunk: bytes) -> None:
        if len(buffer) + len(chunk) > limit:
            raise InvalidInput(f"{label} is larger than {limit} bytes; download it instead")
        buffer.extend(chunk)

    copy_verified(store, sha256, collect, label=label)
    return bytes(buffer)
