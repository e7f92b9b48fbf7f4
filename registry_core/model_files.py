"""Model files of a checked format (ONNX, a booster, a skops file), alone or as one file of a folder version.

A ``file`` version registered with a model format is that model file. A folder registered with a ``model_format`` and a ``model_file`` (the MLflow
plugin does so for an MLflow model whose ``MLmodel`` names a flavor in a safe
serialization) is stored like any folder, file by file under a manifest, so
MLflow's clients still download it whole. Its ``artifact_format`` also names
the model file and its format. That file is checked as its format at
registration, before anything is stored (and the stored copy must be the
bytes checked), and again before every load; loading reads only that file (and, for ONNX, the external data it names
among the same folder's files). Nothing else in the folder is ever executed
or deserialized by the registry.

A file's recorded size is compared with the model's load limit
(``max_load_bytes`` in its policy) before any byte of it is read, as the
declared sizes of a skops file are.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .blobstore import BlobStore, read_verified
from .contained_load import Rehearsal, try_in_separate_process
from .errors import InvalidInput
from .formats import MODEL_FORMATS, check_model_file, load_model_file
from .formats.onnx_format import inlined_onnx
from .regular_files import open_regular
from .relative_paths import check_relative_path

if TYPE_CHECKING:
    from .policy import GatePolicy

__all__ = [
    "FOLDER_MODEL_FORMATS",
    "MAX_MODEL_FILE",
    "FolderFiles",
    "check_folder_model",
    "check_load_size",
    "load_file_model",
    "load_folder_model",
    "read_model_file",
]

#: What the model file of a folder version may be: a model format, or ``sklearn`` (a skops file).
FOLDER_MODEL_FORMATS: tuple[str, ...] = (*MODEL_FORMATS, "sklearn")
#: The most any model file may hold, whatever a policy allows (protocol buffers stop at 2 GiB).
MAX_MODEL_FILE = 2 * 1024 * 1024 * 1024


def read_model_file(path: Path, *, limit: int, model: str) -> bytes:
    """A model file's bytes at registration, refused before parsing when larger than the model may load."""
    limit = min(limit, MAX_MODEL_FILE)
    try:
        with open_regular(path, what="model file") as reader:
            data = reader.read(limit + 1)
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied") from None
    if len(data) > limit:
        raise InvalidInput(f"{path} is larger than {limit} bytes, the most a version of {model!r} may load; "
                           f"if the model really is that large: registry policy {model} --max-load-mib N")
    return data


def check_load_size(size: int, *, label: str, model: str, policy: GatePolicy) -> None:
    """Refuse, before reading it, a model file larger than the model's policy lets one version load."""
    if size > policy.max_load_bytes:
        raise InvalidInput(
            f"{label} is {size} bytes, over the limit of {policy.max_load_bytes} bytes that the policy of {model!r} "
            f"sets for loading one version; if the model really is that large: registry policy {model} --max-load-mib N"
        )


class FolderFiles:
    """A folder's files by relative path: their recorded sizes, and their bytes read (each at most once) on demand.

    Built from the folder on disk at registration (:meth:`on_disk`) or from a stored version's manifest at load
    (:meth:`in_store`, every file verified against its digest).
    """

    def __init__(self, sizes: dict[str, int], fetch: Callable[[str], bytes], label: str) -> None:
        self.sizes = sizes
        self._fetch = fetch
        self.label = label
        self._read: dict[str, bytes] = {}

    @classmethod
    def on_disk(cls, files: dict[str, tuple[int, Path]], label: str) -> FolderFiles:
        def fetch(path: str) -> bytes:
            size, local = files[path]
            with open_regular(local, what="model file") as reader:
                data = reader.read(size + 1)
            if len(data) != size:
                raise InvalidInput(f"{local} changed while it was being registered; register it again")
            return data

        return cls({path: size for path, (size, _) in files.items()}, fetch, label)

    @classmethod
    def in_store(cls, store: BlobStore, entries: list[dict[str, Any]], label: str) -> FolderFiles:
        by_path = {entry["path"]: entry for entry in entries}

        def fetch(path: str) -> bytes:
            entry = by_path[path]
            return read_verified(store, entry["sha256"], label=f"{label} file {path}", limit=int(entry["size"]))

        return cls({entry["path"]: int(entry["size"]) for entry in entries}, fetch, label)

    def size(self, path: str) -> int:
        return self.sizes[path]

    def read(self, path: str) -> bytes:
        if path not in self._read:
            self._read[path] = self._fetch(path)
        return self._read[path]

    def model_file(self, model_file: str) -> str:
        """``model_file`` checked as a safe relative path naming one of the files."""
        check_relative_path(model_file, what=f"{self.label}'s model file")
        if model_file not in self.sizes:
            raise InvalidInput(f"{self.label} has no file {model_file!r} to load as its model")
        return model_file


class _Siblings:
    """The folder's files as seen from the model file's folder: what ONNX external data may name."""

    def __init__(self, files: FolderFiles, model_file: str, label: str) -> None:
        self._files = files
        self._base = PurePosixPath(model_file).parent
        self._label = label

    def _path(self, path: str) -> str:
        relative = check_relative_path(path, what=f"{self._label}: a file its model names")
        joined = str(self._base / relative) if str(self._base) != "." else str(relative)
        if joined not in self._files.sizes:
            raise InvalidInput(f"{self._label}: its model names the file {path!r}, which is not one of the version's files")
        return joined

    def size(self, path: str) -> int:
        return self._files.size(self._path(path))

    def read(self, path: str) -> bytes:
        return self._files.read(self._path(path))


def check_folder_model(
    files: FolderFiles, *, model_format: str, model_file: str, model: str, policy: GatePolicy,
) -> tuple[dict[str, Any], str]:
    """At registration: check a folder's model file as ``model_format``; the format entries and the file's digest."""
    if model_format not in FOLDER_MODEL_FORMATS:
        raise InvalidInput(f"unknown model format {model_format!r}; choose one of: {', '.join(FOLDER_MODEL_FORMATS)}")
    files.model_file(model_file)
    member = f"{files.label} file {model_file}"
    check_load_size(files.size(model_file), label=member, model=model, policy=policy)
    data = files.read(model_file)
    digest = hashlib.sha256(data).hexdigest()
    if model_format == "sklearn":
        described = _describe_skops(data, digest, label=member, model=model, policy=policy)
    else:
        described = check_model_file(model_format, data, label=member, siblings=_Siblings(files, model_file, member),
                                     max_bytes=policy.max_load_bytes)
    return {**described, "model_format": model_format, "model_file": model_file}, digest


def load_file_model(
    store: BlobStore, *, sha256: str, label: str, format: dict[str, Any], model: str, policy: GatePolicy,
    contained: bool | Rehearsal = False, size: int | None = None,
) -> Any:
    """A ``file`` version of a model format, its recorded ``size`` judged before a byte is read, then verified."""
    if size is not None:
        check_load_size(size, label=label, model=model, policy=policy)
    data = read_verified(store, sha256, label=label, limit=min(policy.max_load_bytes, MAX_MODEL_FILE))
    if contained:  # a candidate next to Production: its library's native parser runs in another process first
        try_in_separate_process(data, sha256=sha256, label=label, format=format, model=model, policy=policy,
                                rehearsal=contained)
    return load_model_file(format["model_format"], data, label=label)



def load_folder_model(
    store: BlobStore, entries: list[dict[str, Any]], *, format: dict[str, Any], label: str, model: str,
    policy: GatePolicy, contained: bool | Rehearsal = False,
) -> Any:
    """A folder version's model, loaded from its model file alone after every byte read verifies."""
    from .estimators import load_estimator

    model_format, model_file = format.get("model_format"), format.get("model_file")
    if model_format not in FOLDER_MODEL_FORMATS or not isinstance(model_file, str):
        raise InvalidInput(f"{label} is a folder with no model file of a format the registry loads; download it instead")
    files = FolderFiles.in_store(store, entries, label)
    files.model_file(model_file)
    member = f"{label} file {model_file}"
    check_load_size(files.size(model_file), label=member, model=model, policy=policy)
    if model_format == "sklearn":
        sha256 = next(entry["sha256"] for entry in entries if entry["path"] == model_file)
        return load_estimator(store, sha256=sha256, label=member, format=format, model=model, policy=policy,
                              contained=contained)
    data = files.read(model_file)
    if model_format == "onnx":  # external data copied inline from the version's files: one self-contained model
        data = inlined_onnx(data, label=member, siblings=_Siblings(files, model_file, member),
                            max_bytes=policy.max_load_bytes)
    if contained:
        try_in_separate_process(data, sha256=hashlib.sha256(data).hexdigest(), label=member,
                                format={"model_format": model_format}, model=model, policy=policy, rehearsal=contained)
    return load_model_file(model_format, data, label=member)


class _OneFile:
    """Checked bytes as the one blob of a store, so a skops file is judged before it is stored as it is at load."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def open(self, sha256: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def _describe_skops(data: bytes, digest: str, *, label: str, model: str, policy: GatePolicy) -> dict[str, Any]:
    """Load a skops model file as every load will (types judged by the policy, trees checked); its format record."""
    from .estimators import is_scikit_learn_class, load_estimator

    estimator = load_estimator(_OneFile(data), sha256=digest, label=label, format={"serializer": "skops"},  # type: ignore[arg-type]
                               model=model, policy=policy)
    import sklearn
    import skops
    import skops.io

    cls = type(estimator)
    return {
        "serializer": "skops",
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "library": "scikit-learn",
        "loaded_with": sklearn.__version__,
        "skops_version": skops.__version__,
        "trusted_types": sorted(n for n in skops.io.get_untrusted_types(data=data) if not is_scikit_learn_class(n)),
    }
