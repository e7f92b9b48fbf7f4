"""Content-addressed blob stores: a blob's key is its sha256.

A blob is written under a temporary name while it is hashed, then published
under its digest in one step that never replaces an existing blob, so a crash
never leaves a partial blob visible and a published blob is never overwritten.
The local filesystem is the default; any fsspec URL (``s3://…``,
``memory://…``) is a store for teams.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import os
import queue
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from .errors import IntegrityFailure, InvalidInput, NotFound, RegistryError, StoreUnavailable

__all__ = [
    "Blob",
    "BlobInfo",
    "BlobStore",
    "FsspecBlobStore",
    "LocalBlobStore",
    "copy_verified",
    "hash_file",
    "open_store",
    "read_verified",
]

CHUNK = 4 * 1024 * 1024
#: Bytes between starts of background writeback, so the final fsync has little left to do.
_SYNC_EVERY = 64 * 1024 * 1024
#: Buffers in flight between reading, writing and hashing.
_RING = 4
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


def open_store(root: str | Path) -> BlobStore:
    """The store at ``root``: a local folder, or an fsspec URL such as ``s3://bucket/prefix``."""
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        return FsspecBlobStore(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return LocalBlobStore(text)


def check_digest(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
        raise InvalidInput(f"invalid sha256 digest {sha256!r}")
    return sha256


def hash_file(path: Path, *, progress: Progress | None = None) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks into one reused buffer."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb", buffering=0) as reader:
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


class LocalBlobStore:
    """Blobs under ``ROOT/sha256/ab/<digest>``, read-only once published."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def _path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def _size_marker(self, size: int) -> Path:
        return self.root / "sizes" / str(size)

    def location(self, sha256: str) -> str:
        return self._path(check_digest(sha256)).as_uri()

    def has(self, sha256: str) -> bool:
        return self._path(check_digest(sha256)).is_file()

    def has_size(self, size: int) -> bool:
        return self._size_marker(size).exists()

    def touch(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(check_digest(sha256)))

    def put_stream(self, reader: IO[bytes], *, progress: Progress | None = None) -> Blob:
        incoming = self.root / "incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
            temp = incoming / f"{uuid.uuid4().hex}.partial"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write to the artifact store {self.root}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb", buffering=0) as writer:
                sha256, size = copy_hashing(
                    reader, writer.write, sync=_writeback_starter(writer.fileno()), progress=progress
                )
                os.fsync(writer.fileno())
            target = self._path(sha256)
            existed = target.exists()
            if not existed:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(temp, 0o444)
                # link() publishes atomically and, unlike rename(), never replaces a blob.
                try:
                    os.link(temp, target)
                except FileExistsError:
                    existed = True
                _fsync_dir(target.parent)
                marker = self._size_marker(size)
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch(exist_ok=True)
            else:
                self.touch(sha256)
            return Blob(sha256=sha256, size=size, existed=existed)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write to the artifact store {self.root}: {exc.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)

    def open(self, sha256: str) -> IO[bytes]:
        try:
            return self._path(check_digest(sha256)).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is missing from the artifact store {self.root}") from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read the artifact store {self.root}: {exc.strerror}") from None

    def iter_blobs(self) -> Iterator[BlobInfo]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            for path in sorted(shard.iterdir()):
                if len(path.name) == 64 and set(path.name) <= _SHA256_HEX:
                    stat = path.stat()
                    yield BlobInfo(sha256=path.name, size=stat.st_size, modified=stat.st_mtime)

    def delete(self, sha256: str) -> None:
        path = self._path(check_digest(sha256))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class FsspecBlobStore:
    """Blobs under ``URL/sha256/ab/<digest>`` on any fsspec filesystem (S3, GCS, memory…)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        try:
            import fsspec
            from fsspec.core import url_to_fs
        except ImportError:  # pragma: no cover - fsspec ships with the project
            raise InvalidInput("fsspec is needed for artifact store URLs") from None
        self.url = url.rstrip("/")
        try:
            self.fs, self.base = url_to_fs(self.url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(f"unsupported artifact store {url!r}: {exc}") from None
        self.base = self.base.rstrip("/")
        self._fsspec = fsspec

    def _key(self, sha256: str) -> str:
        return f"{self.base}/sha256/{sha256[:2]}/{sha256}"

    def _size_marker(self, size: int) -> str:
        return f"{self.base}/sizes/{size}"

    def location(self, sha256: str) -> str:
        return self.fs.unstrip_protocol(self._key(check_digest(sha256)))

    def has(self, sha256: str) -> bool:
        with self._errors("read"):
            return bool(self.fs.exists(self._key(check_digest(sha256))))

    def has_size(self, size: int) -> bool:
        with self._errors("read"):
            return bool(self.fs.exists(self._size_marker(size)))

    def touch(self, sha256: str) -> None:
        # Object stores cannot change a modification time without rewriting
        # the object; garbage collection's grace period relies on the catalog.
        return None

    def put_stream(self, reader: IO[bytes], *, progress: Progress | None = None) -> Blob:
        temp = f"{self.base}/incoming/{uuid.uuid4().hex}.partial"
        with self._errors("write"):
            try:
                with self.fs.open(temp, "wb") as writer:
                    sha256, size = copy_hashing(reader, writer.write, progress=progress)
                target = self._key(sha256)
                existed = bool(self.fs.exists(target))
                if not existed:
                    # Object stores make a copy visible whole or not at all.
                    self.fs.copy(temp, target)
                    self.fs.pipe(self._size_marker(size), b"")
                return Blob(sha256=sha256, size=size, existed=existed)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(temp)

    def open(self, sha256: str) -> IO[bytes]:
        key = self._key(check_digest(sha256))
        with self._errors("read"):
            try:
                return self.fs.open(key, "rb")
            except FileNotFoundError:
                raise NotFound(f"blob {sha256} is missing from the artifact store {self.url}") from None

    def iter_blobs(self) -> Iterator[BlobInfo]:
        with self._errors("read"):
            try:
                entries = self.fs.find(f"{self.base}/sha256", detail=True)
            except FileNotFoundError:
                return
            for path, info in sorted(entries.items()):
                name = path.rsplit("/", 1)[-1]
                if len(name) == 64 and set(name) <= _SHA256_HEX:
                    yield BlobInfo(sha256=name, size=int(info.get("size") or 0), modified=_modified(info))

    def delete(self, sha256: str) -> None:
        with self._errors("write"), contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._key(check_digest(sha256)))

    @contextlib.contextmanager
    def _errors(self, verb: str) -> Iterator[None]:
        try:
            yield
        except RegistryError:
            raise
        except FileNotFoundError:
            raise
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailable(f"cannot {verb} the artifact store {self.url}: {_reason(exc)}") from None
        except Exception as exc:  # fsspec backends raise their own error types (botocore, aiohttp)
            if type(exc).__module__.split(".")[0] in {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs"}:
                raise StoreUnavailable(f"cannot {verb} the artifact store {self.url}: {_reason(exc)}") from None
            raise


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


def _modified(info: dict[str, Any]) -> float:
    value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return 0.0


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _writeback_starter(fd: int) -> Callable[[], None] | None:
    """Start writing dirty pages to disk without waiting (Linux), so the final fsync is short.

    Elsewhere the copy simply relies on the final fsync.
    """
    sync_file_range = _sync_file_range()
    if sync_file_range is None:
        return None
    return lambda: sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

