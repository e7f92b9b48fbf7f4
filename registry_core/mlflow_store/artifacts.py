"""``registry-artifacts:`` URIs: MLflow reads a version's bytes from the catalog's store, verified.

``get_model_version_download_uri`` answers with a URI of this scheme, naming
the artifact's digest, kind and the store's root. MLflow opens it with
:class:`RegistryArtifactRepository` (entry-point group
``mlflow.artifact_repository``), which copies every file into the destination
MLflow chose, each checked against its digest in the version's manifest,
itself checked against the digest the catalog recorded. A mismatch raises
:class:`~registry_core.errors.IntegrityFailure` and removes what was written,
so a corrupted blob makes the load fail; it never loads.

Why not a local folder: MLflow writes a ``registered_model_meta`` file into the
folder a download URI names, and a folder in the catalog's store would be
written into and read unverified. Why not the source URI MLflow was given: it
may change or vanish after registration, and nothing would check its bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from ..artifacts import MANIFEST_FORMAT
from ..blobstore import BlobStore, copy_verified, open_store, read_verified
from ..errors import IntegrityFailure
from ..records import VersionInfo

__all__ = ["SCHEME", "RegistryArtifactRepository", "download_uri"]

SCHEME = "registry-artifacts"


def download_uri(version: VersionInfo, artifact_root: str) -> str:
    """The ``registry-artifacts:`` URI of a version's bytes in the store at ``artifact_root`` (an absolute root)."""
    query = {"kind": version.artifact_kind, "root": artifact_root, "version": version.uri}
    if version.artifact_kind != "directory":
        query["name"] = str(version.artifact_format.get("filename") or "model.pkl")
    return f"{SCHEME}:/{version.artifact_sha256}?{urlencode(query)}"


def _entries(store: BlobStore, sha256: str, kind: str, name: str, label: str) -> list[dict[str, Any]]:
    """The files of an artifact: path, sha256 and size; a directory's from its verified manifest."""
    if kind != "directory":
        return [{"path": name, "sha256": sha256, "size": None}]
    document = json.loads(read_verified(store, sha256, label=f"{label} manifest"))
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise IntegrityFailure(f"{label}: the manifest is not a registry manifest")
    files = document.get("files") or []
    for entry in files:
        path = PurePosixPath(str(entry.get("path", "")))
        if path.is_absolute() or ".." in path.parts or not str(path):
            raise IntegrityFailure(f"{label}: the manifest names an unsafe path {entry.get('path')!r}")
    return files


class RegistryArtifactRepository(ArtifactRepository):
    """A read-only MLflow artifact repository over one registry version's verified bytes."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        parsed = urlparse(artifact_uri)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        digest, _, prefix = parsed.path.lstrip("/").partition("/")
        if parsed.scheme != SCHEME or len(digest) != 64 or "root" not in query or "kind" not in query:
            raise MlflowException(f"not a registry artifact URI: {artifact_uri!r}", INVALID_PARAMETER_VALUE)
        self._sha256 = digest
        self._prefix = prefix.strip("/")
        self._kind = query["kind"]
        self._name = query.get("name", "model.pkl")
        self._label = query.get("version", f"artifact {digest[:12]}")
        self._store = open_store(query["root"])
        self._files: list[dict[str, Any]] | None = None

    def _all_files(self) -> list[dict[str, Any]]:
        if self._files is None:
            self._files = _entries(self._store, self._sha256, self._kind, self._name, self._label)
        return self._files

    def _relative(self, path: str | None) -> str:
        joined = "/".join(part for part in (self._prefix, (path or "").strip("/")) if part)
        return "" if joined in ("", ".") else joined

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
        destination.mkdir(parents=True, exist_ok=True)
        # Everything is fetched into a hidden folder first and moved into place only when all of it verified.
        staging = destination / f".registry-download-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            for entry in files:
                self._fetch(entry, staging / entry["path"])
            for entry in files:
                target = destination / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / entry["path"], target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(destination / base) if base else str(destination)

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
