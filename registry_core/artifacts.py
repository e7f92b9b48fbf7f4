"""What can be registered, and how it is packed into blobs and unpacked again.

Three kinds of artifact:

``file``
    one blob, the file's bytes.
``directory``
    one blob per file plus a manifest blob listing each file's relative path,
    digest and size; the version's digest is the manifest's, so unchanged
    files are shared between versions.
``sklearn``
    a live scikit-learn estimator or pipeline, serialized by the registry with
    skops (or, where the model's policy opts in, pickle: see
    :mod:`registry_core.estimators`), with the library versions recorded so
    that a mismatch on load warns. Registering or loading one needs the
    [sklearn] extra.

A ``file`` registered with a model format (``model_format="onnx"``, ``"lightgbm"``
or ``"xgboost"``, or a live ``onnx.ModelProto`` or booster), and a ``directory``
whose ``model_file`` is named with its format (an MLflow model folder), are
checked at registration and typed by their ``artifact_format`` (see
:mod:`registry_core.model_files`); they load without running registrant code.
Everything else only downloads.

Nothing is deserialized before every byte has been checked against the digest
the catalog recorded.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .blobstore import Blob, BlobStore, Progress, copy_verified, hash_file, read_verified
from .contained_load import Rehearsal
from .errors import ConflictError, InvalidInput
from .estimators import ModelVersionWarning, Serialization, load_estimator, parse_serialization, serialize_estimator
from .formats import MODEL_FORMATS, check_model_file, live_model_file
from .model_files import (
    FOLDER_MODEL_FORMATS,
    MAX_MODEL_FILE,
    FolderFiles,
    check_folder_model,
    load_file_model,
    load_folder_model,
    read_model_file,
)
from .policy import GatePolicy
from .regular_files import file_kind, open_regular
from .relative_paths import check_relative_path, check_tree, confined

__all__ = [
    "MANIFEST_FORMAT",
    "ModelVersionWarning",
    "PackedArtifact",
    "download_artifact",
    "load_artifact",
    "manifest_digests",
    "pack_artifact",
    "read_manifest",
    "size_of",
]

MANIFEST_FORMAT = "registry.directory-manifest/1"
_MAX_FILES = 100_000


@dataclass(frozen=True)
class PackedArtifact:
    """An artifact stored as blobs: what the catalog records about it."""

    kind: str
    sha256: str
    size: int
    location: str
    format: dict[str, Any] = field(default_factory=dict)
    #: Blobs written by this registration (zero when every byte was already stored).
    new_blobs: int = 0


def size_of(source: Any) -> int | None:
    """The number of bytes registering ``source`` will read, when known in advance (for progress bars)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(entry[1].st_size for entry in _walk(path))
    return None


def pack_artifact(
    store: BlobStore,
    source: Any,
    *,
    progress: Progress | None = None,
    model: str = "the model",
    policy: GatePolicy | None = None,
    serialization: str | Serialization | None = None,
    model_format: str | None = None,
    model_file: str | None = None,
) -> PackedArtifact:
    """Store a file, a directory or a scikit-learn estimator; bad input raises before anything is referenced.

    An estimator is serialized as ``serialization`` says (skops by default),
    within what ``policy`` (the model's) allows; an estimator the policy does
    not allow is refused before anything is stored. A file with a
    ``model_format`` (or an ``onnx.ModelProto``) is checked as that format first;
    a folder with a ``model_format`` has its ``model_file`` checked (see :mod:`.model_folders`).
    """
    allowed = FOLDER_MODEL_FORMATS if model_file is not None else MODEL_FORMATS
    if model_format is not None and model_format not in allowed:
        raise InvalidInput(f"unknown model format {model_format!r}; choose one of: {', '.join(allowed)}")
    if model_file is not None and model_format is None:
        raise InvalidInput("a model file is named only together with its model format")
    live = live_model_file(source)
    if live is not None:
        if serialization is not None:
            raise InvalidInput(f"a {live[0]} model is stored in its own format; a serialization is not chosen for it")
        return _pack_model_file(store, live[1], live[2], live[0], progress)
    if isinstance(source, (str, Path)):
        if serialization is not None:
            raise InvalidInput("a serialization is chosen only for a live estimator, not for a file or folder")
        path = Path(source).expanduser()
        try:
            info = path.stat()
        except FileNotFoundError:
            raise InvalidInput(f"artifact path {str(source)!r} does not exist") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read artifact path {str(source)!r}: {exc.strerror}") from None
        except ValueError:  # a NUL byte, or text the filesystem's encoding cannot hold
            raise InvalidInput(f"invalid artifact path {str(source)!r}") from None
        if stat.S_ISDIR(info.st_mode) and model_format is not None:
            if model_file is None:
                raise InvalidInput(f"{str(source)!r} is a folder: name the {model_format} file in it to load (model_file)")
            return _pack_model_folder(store, path, progress, model_format, model_file, model, policy)
        if stat.S_ISDIR(info.st_mode):
            return _pack_directory(store, path, progress)
        if model_file is not None:
            raise InvalidInput(f"a model file is named only for a folder; {str(source)!r} is not one")
        if stat.S_ISREG(info.st_mode) and model_format is not None:
            data = read_model_file(path, limit=policy.max_load_bytes if policy else MAX_MODEL_FILE, model=model)
            return _pack_model_file(store, data, path.name, model_format, progress)
        if model_format is not None:
            raise InvalidInput(f"a {model_format} model is one file; {str(source)!r} is not a regular file")
        if stat.S_ISREG(info.st_mode):
            blob = _store_file(store, path, progress)
            return PackedArtifact(
                kind="file", sha256=blob.sha256, size=blob.size, location=store.location(blob.sha256),
                format={"filename": path.name}, new_blobs=0 if blob.existed else 1,
            )
        raise InvalidInput(f"artifact path {str(source)!r} is neither a regular file nor a directory")
    return _pack_estimator(store, source, progress, model, policy, parse_serialization(serialization))


def download_artifact(
    store: BlobStore, *, kind: str, sha256: str, label: str, dest: Path, progress: Progress | None = None
) -> Path:
    """Write a version's artifact to ``dest`` (a new path), verified; nothing is left behind on failure."""
    dest = Path(dest).expanduser()
    try:
        encoded = os.fsencode(dest)
    except UnicodeEncodeError:
        encoded = b"\0"
    if b"\0" in encoded:  # a NUL byte, or text the filesystem's encoding cannot hold
        raise InvalidInput(f"invalid destination {str(dest)!r}")
    if dest.exists() or dest.is_symlink():
        raise ConflictError(f"{dest} already exists; choose a new destination")
    parent = dest.parent
    if not parent.is_dir():
        raise InvalidInput(f"cannot download to {dest}: folder {parent} does not exist")
    temp = parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        if kind == "directory":
            manifest = read_manifest(store, sha256, label)
            temp.mkdir()
            for entry in manifest:
                target = confined(temp, entry["path"], what=f"{label}'s manifest")
                target.parent.mkdir(parents=True, exist_ok=True)
                _download_blob(store, entry["sha256"], target, f"{label} file {entry['path']}", progress)
        else:
            _download_blob(store, sha256, temp, label, progress)
        _publish(temp, dest)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise
    return dest


def _publish(temp: Path, dest: Path) -> None:
    """Move a finished download into place without replacing anything that appeared meanwhile."""
    if temp.is_dir():
        if dest.exists():
            raise ConflictError(f"{dest} appeared during the download; choose a new destination")
        os.rename(temp, dest)
        return
    try:
        os.link(temp, dest)
    except FileExistsError:
        raise ConflictError(f"{dest} appeared during the download; choose a new destination") from None
    temp.unlink()


def load_artifact(
    store: BlobStore, *, kind: str, sha256: str, label: str, format: dict[str, Any] | None, model: str,
    policy: GatePolicy, contained: bool | Rehearsal = False, size: int | None = None,
) -> Any:
    """Deserialize a version's model after verifying every byte; only registry-serialized kinds and typed files load.

    What it may construct (or whether it may be unpickled) is judged against ``policy``, the model's policy now;
    a model file over its load limit (by ``size``, the catalog's record, or the manifest's) is refused unread.
    """
    model_format = (format or {}).get("model_format")
    if kind == "directory" and model_format is not None:
        return load_folder_model(store, read_manifest(store, sha256, label), format=format or {}, label=label,
                                 model=model, policy=policy, contained=contained)
    if kind == "file" and model_format in MODEL_FORMATS:
        return load_file_model(store, sha256=sha256, label=label, format=format or {}, model=model, policy=policy,
                               contained=contained, size=size)
    if kind != "sklearn":
        raise InvalidInput(
            f"{label} is a {kind} artifact that the registry did not serialize; use download to fetch it"
        )
    return load_estimator(store, sha256=sha256, label=label, format=format or {}, model=model, policy=policy,
                          contained=contained)


def manifest_digests(store: BlobStore, sha256: str, *, label: str) -> list[str]:
    """The blob digests a directory artifact's manifest references (whatever its paths: for keeping blobs)."""
    return [entry["sha256"] for entry in _manifest_entries(store, sha256, label)]


# --- packing ------------------------------------------------------------------------------


def _store_file(store: BlobStore, path: Path, progress: Progress | None) -> Blob:
    """Store one file; when a blob of the same size exists, hash first so a duplicate writes nothing."""
    try:
        size = path.stat().st_size
        expected: str | None = None
        if size and store.has_size(size):
            expected, _ = hash_file(path)
            if store.has(expected):
                store.touch(expected)
                if progress:
                    progress(size)
                return Blob(sha256=expected, size=size, existed=True)
        with open_regular(path, what="artifact file") as reader:
            blob = store.put_stream(reader, progress=progress)
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory") from None
    if expected is not None and blob.sha256 != expected:
        raise InvalidInput(f"{path} changed while it was being registered; register it again")
    return blob


def _pack_model_folder(store: BlobStore, path: Path, progress: Progress | None, model_format: str, model_file: str,
                       model: str, policy: GatePolicy | None) -> PackedArtifact:
    """Check a folder's model file before storing anything, then store the folder: its copy must be what was checked."""
    files = FolderFiles.on_disk({relative: (info.st_size, local) for relative, info, local in _walk(path)}, str(path))
    described, digest = check_folder_model(files, model_format=model_format, model_file=model_file, model=model,
                                           policy=policy or GatePolicy())
    packed = _pack_directory(store, path, progress)
    if {e["path"]: e["sha256"] for e in read_manifest(store, packed.sha256, str(path))}.get(model_file) != digest:
        raise InvalidInput(f"{path / model_file} changed while it was being registered; register it again")
    return replace(packed, format={**packed.format, **described})


def _pack_model_file(store: BlobStore, data: bytes, filename: str, model_format: str,
                     progress: Progress | None) -> PackedArtifact:
    """Check a model file as its format and store it as a typed ``file`` artifact."""
    described = check_model_file(model_format, data, label=filename)
    blob = store.put_stream(io.BytesIO(data), progress=progress)
    return PackedArtifact(
        kind="file", sha256=blob.sha256, size=blob.size, location=store.location(blob.sha256),
        format={"filename": filename, **described}, new_blobs=0 if blob.existed else 1,
    )


def _walk(root: Path) -> list[tuple[str, os.stat_result, Path]]:
    """Every regular file under ``root`` as (relative POSIX path, stat, path), refusing anything that escapes it."""
    resolved_root = root.resolve()
    found: list[tuple[str, os.stat_result, Path]] = []
    for current, dirnames, filenames in os.walk(root, followlinks=False, onerror=_refuse_unreadable):
        here = Path(current)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                raise InvalidInput(f"{here / name} is a link to a folder; links to folders are not registered")
        for name in sorted(filenames):
            path = here / name
            # stat first: a symlink loop fails here (ELOOP) rather than in resolve().
            try:
                info = path.stat()
            except OSError as exc:
                raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
            if path.is_symlink() and not path.resolve().is_relative_to(resolved_root):
                raise InvalidInput(f"{path} links outside {root}; artifacts may not escape their folder")
            if not stat.S_ISREG(info.st_mode):
                raise InvalidInput(f"{path} is {file_kind(info.st_mode)}, not a regular file")
            relative = path.relative_to(root).as_posix()
            # Refused here rather than at download: a name no download may write (a backslash, ``C:x``).
            check_relative_path(relative, what=f"the file {path}")
            found.append((relative, info, path))
            if len(found) > _MAX_FILES:
                raise InvalidInput(f"{root} holds more than {_MAX_FILES} files")
    found.sort(key=lambda entry: entry[0])
    return found


def _refuse_unreadable(error: OSError) -> None:
    raise InvalidInput(f"cannot read {error.filename}: {error.strerror}")


def _pack_directory(store: BlobStore, root: Path, progress: Progress | None) -> PackedArtifact:
    entries = _walk(root)
    if not entries:
        raise InvalidInput(f"{root} holds no files")
    files = []
    new_blobs = 0
    for relative, _info, path in entries:
        blob = _store_file(store, path, progress)
        new_blobs += 0 if blob.existed else 1
        files.append({"path": relative, "sha256": blob.sha256, "size": blob.size})
    manifest = json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True, separators=(",", ":")).encode()
    blob = store.put_stream(io.BytesIO(manifest))
    return PackedArtifact(
        kind="directory",
        sha256=blob.sha256,
        size=sum(entry["size"] for entry in files),
        location=store.location(blob.sha256),
        format={"files": len(files), "manifest": MANIFEST_FORMAT},
        new_blobs=new_blobs + (0 if blob.existed else 1),
    )


def _pack_estimator(
    store: BlobStore, estimator: Any, progress: Progress | None, model: str, policy: GatePolicy | None,
    serialization: Serialization,
) -> PackedArtifact:
    # An estimator's class is imported before it can be instantiated, so when
    # scikit-learn is not loaded yet, ``estimator`` cannot be one: refuse it
    # without importing scikit-learn (which may not even be installed).
    sklearn_base = sys.modules.get("sklearn.base")
    if sklearn_base is None or not isinstance(estimator, sklearn_base.BaseEstimator):
        raise InvalidInput(
            f"cannot register an object of type {type(estimator).__qualname__}: "
            "give a file path, a folder path or a scikit-learn estimator or pipeline"
        )
    data, format = serialize_estimator(estimator, model=model, policy=policy or GatePolicy(), serialization=serialization)
    blob = store.put_stream(io.BytesIO(data), progress=progress)
    return PackedArtifact(kind="sklearn", sha256=blob.sha256, size=blob.size, location=store.location(blob.sha256),
                          format=format, new_blobs=0 if blob.existed else 1)


# --- unpacking ----------------------------------------------------------------------------


def _download_blob(store: BlobStore, sha256: str, target: Path, label: str, progress: Progress | None) -> None:
    with target.open("xb") as writer:
        copy_verified(store, sha256, writer.write, label=label, progress=progress)
        writer.flush()
        os.fsync(writer.fileno())


def read_manifest(store: BlobStore, sha256: str, label: str) -> list[dict[str, Any]]:
    """A directory artifact's verified manifest: each file's safe relative path, sha256 and size."""
    entries = _manifest_entries(store, sha256, label)
    check_tree((entry.get("path") for entry in entries), what=f"{label}'s manifest")
    return entries


def _manifest_entries(store: BlobStore, sha256: str, label: str) -> list[dict[str, Any]]:
    raw = read_verified(store, sha256, label=f"{label} manifest")
    try:
        document = json.loads(raw)
    except ValueError:
        raise InvalidInput(f"{label}: the manifest is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise InvalidInput(f"{label}: unknown manifest format")
    entries = document.get("files")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise InvalidInput(f"{label}: the manifest lists no files")
    for entry in entries:
        sha = entry.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64:
            raise InvalidInput(f"{label}: the manifest entry for {entry.get('path')!r} has no sha256")
    return entries
