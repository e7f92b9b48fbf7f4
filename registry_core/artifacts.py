"""The local artifact store: files kept by their sha256, published atomically, never overwritten."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import IntegrityFailure, InvalidInput, NotFound, RegistryError

__all__ = ["ArtifactStore", "LocalArtifactStore", "StoredArtifact"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredArtifact:
    """Where a blob lives and what it is."""

    uri: str
    sha256: str
    size: int


class ArtifactStore(Protocol):
    """Somewhere blobs are kept by their digest."""

    def put_file(self, path: Path) -> StoredArtifact:
        """Store a file's bytes; identical bytes are stored once."""
        ...

    def open_verified(self, sha256: str, *, label: str) -> bytes:
        """Read a blob whole and check it against its digest."""
        ...


class LocalArtifactStore:
    """Blobs under ``ROOT/sha256/ab/abcdef…``; a partial write is never visible."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def blob_path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def put_file(self, path: Path) -> StoredArtifact:
        source = Path(path).expanduser()
        if not source.exists():
            raise InvalidInput(f"artifact {str(path)!r} does not exist")
        if not source.is_file():
            raise InvalidInput(f"artifact {str(path)!r} is not a regular file")
        incoming = self.root / "incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            size = 0
            with source.open("rb") as reader, tempfile.NamedTemporaryFile(dir=incoming, delete=False) as writer:
                temp = Path(writer.name)
                try:
                    while chunk := reader.read(_CHUNK):
                        digest.update(chunk)
                        writer.write(chunk)
                        size += len(chunk)
                    writer.flush()
                    os.fsync(writer.fileno())
                except BaseException:
                    temp.unlink(missing_ok=True)
                    raise
            sha256 = digest.hexdigest()
            target = self.blob_path(sha256)
            if target.exists():
                temp.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(temp, 0o444)
                # link() refuses to replace an existing blob, unlike rename().
                with contextlib.suppress(FileExistsError):
                    os.link(temp, target)
                temp.unlink()
                _fsync_dir(target.parent)
        except PermissionError as exc:
            raise InvalidInput(f"cannot read or store artifact {str(path)!r}: {exc.strerror}") from None
        except OSError as exc:
            raise RegistryError(f"cannot store artifact {str(path)!r} under {self.root}: {exc.strerror}") from None
        return StoredArtifact(uri=target.as_uri(), sha256=sha256, size=size)

    def open_verified(self, sha256: str, *, label: str) -> bytes:
        target = self.blob_path(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the artifact of {label} (sha256 {sha256}) is missing from {self.root}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise IntegrityFailure(f"artifact of {label} is corrupt: expected sha256 {sha256}, found {actual}")
        return data


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
