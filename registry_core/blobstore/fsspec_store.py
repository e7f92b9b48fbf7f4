"""Blob stores on any fsspec filesystem: S3 (with the [s3] extra), GCS, memory…"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InvalidInput, MissingExtra, NotFound, RegistryError, StoreUnavailable
from .protocol import Blob, BlobInfo, Progress, check_digest, is_digest
from .streams import copy_hashing

__all__ = ["FsspecBlobStore"]

#: URL schemes served by s3fs, which the [s3] extra installs.
_S3_PROTOCOLS = frozenset({"s3", "s3a"})


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
        except ImportError as exc:
            if self.url.partition("://")[0] in _S3_PROTOCOLS:
                raise MissingExtra(f"the artifact store {self.url}", "s3") from None
            raise InvalidInput(f"unsupported artifact store {url!r}: {exc}") from None
        except ValueError as exc:
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
                if is_digest(name):
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
