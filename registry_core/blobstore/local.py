"""The default blob store: a folder on the local filesystem."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..errors import InvalidInput, NotFound, StoreUnavailable
from .protocol import Blob, BlobInfo, Progress, check_digest, is_digest
from .streams import copy_hashing

__all__ = ["LocalBlobStore"]

#: What :meth:`LocalBlobStore.put_stream` names its temporary files.
_PARTIAL_NAME = re.compile(r"[0-9a-f]{32}\.partial")


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
                if is_digest(path.name):
                    stat = path.stat()
                    yield BlobInfo(sha256=path.name, size=stat.st_size, modified=stat.st_mtime)

    def delete(self, sha256: str) -> None:
        path = self._path(check_digest(sha256))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def iter_partials(self) -> Iterator[BlobInfo]:
        """Temporary files under ``incoming/`` that a crash left behind (or a registration still writes)."""
        incoming = self.root / "incoming"
        if not incoming.is_dir():
            return
        for path in sorted(incoming.glob("*.partial")):
            if not _PARTIAL_NAME.fullmatch(path.name):
                continue  # not one of ours
            with contextlib.suppress(FileNotFoundError):  # finished meanwhile
                info = path.lstat()
                yield BlobInfo(sha256=path.name, size=info.st_size, modified=info.st_mtime)

    def delete_partial(self, name: str) -> None:
        if not _PARTIAL_NAME.fullmatch(name):
            raise InvalidInput(f"invalid temporary upload name {name!r}")
        with contextlib.suppress(FileNotFoundError):
            (self.root / "incoming" / name).unlink()


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
