"""``registry-artifacts:`` URIs: MLflow reads a version's bytes from the catalog's store, verified.

``get_model_version_download_uri`` answers with a URI of this scheme, naming
the artifact's digest and kind (and a file artifact's file name), nothing
else. MLflow opens it with :class:`RegistryArtifactRepository` (entry-point
group ``mlflow.artifact_repository``), which reads only the store this process
is configured with (``$REGISTRY_ARTIFACT_ROOT``) and copies every file into
the destination MLflow chose, each checked against its digest in the
version's manifest, itself checked against the digest the catalog recorded. A
mismatch raises :class:`~registry_core.errors.IntegrityFailure` and removes
what was written, so a corrupted blob makes the load fail; it never loads.

The URI may come from a client (``create_model_version(source=…)`` in
``mlflow server``), so it chooses neither the store nor where anything is
written: a ``root`` other than the configured store is refused, and every
path from the URI or a manifest is a relative path under the destination,
checked before the first write (:mod:`registry_core.relative_paths`).

Why not a local folder: MLflow writes a ``registered_model_meta`` file into the
folder a download URI names, and a folder in the catalog's store would be
written into and read unverified. Why not the source URI MLflow was given: it
may change or vanish after registration, and nothing would check its bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from ..artifacts import read_manifest
from ..blobstore import copy_verified, open_store
from ..blobstore.protocol import is_digest
from ..config import default_artifact_root
from ..errors import RegistryError
from ..records import VersionInfo
from ..relative_paths import check_relative_path, confined
from .errors import translated

__all__ = ["SCHEME", "RegistryArtifactRepository", "configured_root", "download_uri"]

SCHEME = "registry-artifacts"
_KINDS = frozenset({"file", "directory", "sklearn"})


def configured_root() -> str:
    """This process's artifact store: ``$REGISTRY_ARTIFACT_ROOT`` (a local folder made absolute, or a URL)."""
    root = default_artifact_root()
    return root if "://" in root else os.path.abspath(os.path.expanduser(root))


def download_uri(version: VersionInfo) -> str:
    """The ``registry-artifacts:`` URI of a version's bytes: its digest, kind and file name, never a store."""
    query = {"kind": version.artifact_kind, "version": version.uri}
    if version.artifact_kind != "directory":
        query["name"] = str(version.artifact_format.get("filename") or "model.pkl")
    return f"{SCHEME}:/{version.artifact_sha256}?{urlencode(query)}"


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    try:
        yield
    except RegistryError as error:
        raise translated(error) from error


def _same_store(named: str, configured: str) -> bool:
    if "://" in configured or ("://" in named and not named.startswith("file://")):
        return named.rstrip("/") == configured.rstrip("/")
    local = named[len("file://"):] if named.startswith("file://") else named
    return os.path.isabs(local) and os.path.normpath(local) == os.path.normpath(configured)


class RegistryArtifactRepository(ArtifactRepository):
    """A read-only MLflow artifact repository over one registry version's verified bytes."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        parsed = urlparse(artifact_uri)
        query = {key: values[-1] for key, values in parse_qs(parsed.query, keep_blank_values=True).items()}
        digest, _, prefix = parsed.path.lstrip("/").partition("/")
        if parsed.scheme != SCHEME or parsed.netloc or not is_digest(digest) or query.get("kind") not in _KINDS:
            raise _invalid(f"not a registry artifact URI: {artifact_uri!r}")
        self._label = query.get("version") or f"artifact {digest[:12]}"
        root = configured_root()
        if "root" in query and not _same_store(query["root"], root):
            raise _invalid(
                f"{artifact_uri!r} names the artifact store {query['root']!r}; this process reads only its own "
                f"store {root!r} (REGISTRY_ARTIFACT_ROOT)"
            )
        with _registry_errors():
            self._prefix = str(check_relative_path(prefix.strip("/"), what=artifact_uri)) if prefix.strip("/") else ""
            self._name = query.get("name", "model.pkl")
            if query["kind"] != "directory" and len(check_relative_path(self._name, what=artifact_uri).parts) != 1:
                raise _invalid(f"{artifact_uri!r} names the file {self._name!r}: expected one plain file name")
            self._store = open_store(root)
        self._sha256 = digest
        self._kind = query["kind"]
        self._files: list[dict[str, Any]] | None = None

    def _all_files(self) -> list[dict[str, Any]]:
        if self._files is None:
            if self._kind != "directory":
                self._files = [{"path": self._name, "sha256": self._sha256, "size": None}]
            else:
                with _registry_errors():
                    self._files = read_manifest(self._store, self._sha256, self._label)
        return self._files

    def _relative(self, path: str | None) -> str:
        joined = "/".join(part for part in (self._prefix, (path or "").strip("/")) if part)
        if joined in ("", "."):
            return ""
        with _registry_errors():
            return str(check_relative_path(joined, what=f"the artifact path of {self._label}"))

    def _under(self, path: str) -> list[dict[str, Any]]:
        if not path:
            return list(self._all_files())
        return [f for f in self._all_files() if f["path"] == path or f["path"].startswith(path + "/")]

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        base = self._relative(path)
        children: dict[str, FileInfo] = {}
        for entry in self._under(base):
            rest = entry["path"][len(base):].lstrip("/") if base else entry["path"]
            if not rest:
                continue  # ``path`` names a file: MLflow expects an empty listing
            head, sep, _ = rest.partition("/")
            shown = f"{path.strip('/')}/{head}" if path and path.strip("/") else head
            children[head] = FileInfo(shown, True, None) if sep else FileInfo(shown, False, entry.get("size"))
        return [children[key] for key in sorted(children)]

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Copy the files under ``artifact_path`` into ``dst_path``, each verified; nothing stays on a failure."""
        base = self._relative(artifact_path)
        files = self._under(base)
        if not files:
            raise MlflowException(f"{self._label} has no artifact {artifact_path!r}", INVALID_PARAMETER_VALUE)
        destination = Path(dst_path) if dst_path else Path(tempfile.mkdtemp())
        targets = [self._confined(destination, entry["path"]) for entry in files]  # before any write
        destination.mkdir(parents=True, exist_ok=True)
        # Everything is fetched into a hidden folder first and moved into place only when all of it verified.
        staging = destination / f".registry-download-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            for entry in files:
                self._fetch(entry, self._confined(staging, entry["path"]))
            for entry, target in zip(files, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                self._confined(destination, entry["path"])  # again, just before the move
                os.replace(self._confined(staging, entry["path"]), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(destination / base) if base else str(destination)

    def _confined(self, root: Path, path: str) -> Path:
        with _registry_errors():
            return confined(root, path, what=f"{self._label}'s files")

    def _fetch(self, entry: dict[str, Any], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as writer:
            copy_verified(self._store, entry["sha256"], writer.write, label=f"{self._label} file {entry['path']}")

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        path = self._relative(remote_file_path)
        matches = [f for f in self._all_files() if f["path"] == path]
        if not matches:
            raise MlflowException(f"{self._label} has no file {remote_file_path!r}", INVALID_PARAMETER_VALUE)
        temp = Path(f"{local_path}.{uuid.uuid4().hex[:8]}.partial")
        try:
            self._fetch(matches[0], temp)
            os.replace(temp, local_path)
        finally:
            temp.unlink(missing_ok=True)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        raise _read_only()

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        raise _read_only()

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise _read_only()


def _read_only() -> MlflowException:
    return MlflowException(
        "registry artifacts are read-only: versions are immutable; register a new version instead",
        INVALID_PARAMETER_VALUE,
    )
