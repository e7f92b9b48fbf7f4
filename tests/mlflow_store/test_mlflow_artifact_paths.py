"""Attacks on the ``registry-artifacts:`` reader: the store it reads and where it writes are never the URI's to choose.

The store is the process's configured one (``$REGISTRY_ARTIFACT_ROOT``); every
path taken from the URI or a manifest is a relative, normalised path under the
destination MLflow chose, checked before anything is written.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
from mlflow.exceptions import MlflowException

from registry_core.artifacts import MANIFEST_FORMAT
from registry_core.blobstore import LocalBlobStore
from registry_core.mlflow_store import RegistryStore
from registry_core.mlflow_store.artifacts import RegistryArtifactRepository

SCHEME = "registry-artifacts"


def put(root: Path, content: bytes) -> str:
    return LocalBlobStore(root).put_stream(io.BytesIO(content)).sha256


def manifest(root: Path, files: dict[str, bytes]) -> str:
    """A directory manifest in the store at ``root`` listing ``files`` (paths taken as given, however hostile)."""
    entries = [{"path": path, "sha256": put(root, content), "size": len(content)} for path, content in files.items()]
    return put(root, json.dumps({"format": MANIFEST_FORMAT, "files": entries}).encode())


def uri(digest: str, **query: str) -> str:
    return f"{SCHEME}:/{digest}?{urlencode(query)}"


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's configured artifact store."""
    root = tmp_path / "registry-artifacts"
    monkeypatch.setenv("REGISTRY_ARTIFACT_ROOT", str(root))
    return root


def files_under(folder: Path) -> list[str]:
    """Every file (not folder) under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def stray_files(tmp_path: Path) -> list[str]:
    """Files written anywhere in the test's folder but in the store."""
    return [path for path in files_under(tmp_path) if not path.startswith("registry-artifacts/")]


def test_a_source_with_an_absolute_name_writes_nothing_on_the_host(
    database_url: str, store_root: Path, tmp_path: Path
):
    """The reported attack: create_model_version from a registry-artifacts source whose name is an absolute path."""
    other = tmp_path / "other-store"
    digest = put(other, b"import os  # would run at every Python start\n")
    target = tmp_path / "site-packages" / "evil.pth"
    target.parent.mkdir()
    store = RegistryStore(f"registry+{database_url}")
    store.create_registered_model("fraud")
    source = uri(digest, kind="file", root=str(other), name=str(target))
    with pytest.raises(MlflowException) as refused:
        store.create_model_version("fraud", source)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert refused.value.get_http_status_code() == 400
    assert source in refused.value.message
    assert not target.exists()
    assert store.search_model_versions("name = 'fraud'") == []


def test_a_root_naming_another_store_is_refused_and_nothing_is_read(store_root: Path, tmp_path: Path):
    """``root=`` cannot make the reader copy blobs out of another store the process can read."""
    other = tmp_path / "other-store"
    digest = put(other, b"secret weights")
    destination = tmp_path / "out"
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(uri(digest, kind="file", root=str(other), name="model.pkl")).download_artifacts(
            "", str(destination)
        )
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(other) in refused.value.message
    assert files_under(destination) == []


def test_the_configured_store_is_read_whatever_the_uri_omits(store_root: Path, tmp_path: Path):
    """A URI without a root reads this process's store, verified."""
    digest = put(store_root, b"weights")
    path = RegistryArtifactRepository(uri(digest, kind="file", name="model.pkl")).download_artifacts("", str(tmp_path / "out"))
    assert Path(path, "model.pkl").read_bytes() == b"weights"


@pytest.mark.parametrize(
    "name",
    ["{tmp}/evil.pth", "../evil.pth", "a/../../evil.pth", "C:evil.pth", "C:\\evil.pth", "..\\evil.pth",
     "evil\x00.pth", "dir/evil.pth", ".", ""],
    ids=["absolute", "dotdot", "nested-dotdot", "drive-relative", "drive-absolute", "backslash", "nul",
         "subfolder", "dot", "empty"],
)
def test_a_file_name_that_is_not_one_plain_name_is_refused(store_root: Path, tmp_path: Path, name: str):
    """A file artifact's ``name`` is one file name in the destination, nothing else; refused before any write."""
    digest = put(store_root, b"weights")
    destination = tmp_path / "dst" / "out"
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(uri(digest, kind="file", name=name.format(tmp=tmp_path))).download_artifacts(
            "", str(destination)
        )
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert stray_files(tmp_path) == []


@pytest.mark.parametrize(
    "path",
    ["{tmp}/escaped.txt", "../escaped.txt", "a/../../escaped.txt", "C:escaped.txt", "a\\..\\..\\escaped.txt",
     "a\x00b", "./a.txt", "a//b.txt", "a/"],
    ids=["absolute", "dotdot", "nested-dotdot", "drive", "backslash", "nul", "dot", "empty-part", "trailing-slash"],
)
def test_a_manifest_path_outside_the_destination_is_refused(store_root: Path, tmp_path: Path, path: str):
    """A manifest (a tampered store or catalog) cannot name where its files go outside the destination."""
    digest = manifest(store_root, {"ok.txt": b"fine", path.format(tmp=tmp_path): b"hostile"})
    destination = tmp_path / "dst" / "out"
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(uri(digest, kind="directory")).download_artifacts("", str(destination))
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "unsafe" in refused.value.message
    assert stray_files(tmp_path) == []


def test_a_file_and_a_folder_of_the_same_name_are_refused(store_root: Path, tmp_path: Path):
    """``a`` and ``a/b`` in one manifest cannot both be written: refused with a clear error, not an OSError."""
    digest = manifest(store_root, {"a": b"file", "a/b": b"nested"})
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(uri(digest, kind="directory")).download_artifacts("", str(tmp_path / "out"))
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_link_in_the_destination_is_not_followed(store_root: Path, tmp_path: Path):
    """A folder in the destination that is a link elsewhere is refused, not written through."""
    digest = manifest(store_root, {"sub/model.pkl": b"weights"})
    destination = tmp_path / "out"
    destination.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, destination / "sub")
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(uri(digest, kind="directory")).download_artifacts("", str(destination))
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert files_under(elsewhere) == []


@pytest.mark.parametrize("prefix", ["..", "../..", "a/../../x", "C:x"])
def test_a_path_in_the_uri_cannot_leave_the_artifact(store_root: Path, tmp_path: Path, prefix: str):
    """The path after the digest names files of the artifact, never a place on disk."""
    digest = manifest(store_root, {"model.pkl": b"weights"})
    with pytest.raises(MlflowException) as refused:
        RegistryArtifactRepository(f"{SCHEME}:/{digest}/{prefix}?kind=directory").download_artifacts(
            "", str(tmp_path / "dst")
        )
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert stray_files(tmp_path) == []


def test_the_download_uri_names_a_digest_and_no_store(database_url: str, store_root: Path, tmp_path: Path):
    store = RegistryStore(f"registry+{database_url}")
    store.create_registered_model("fraud")
    (tmp_path / "model.pkl").write_bytes(b"weights")
    store.create_model_version("fraud", str(tmp_path / "model.pkl"))
    answered = store.get_model_version_download_uri("fraud", "1")
    assert "root=" not in answered and str(store_root) not in answered
    path = RegistryArtifactRepository(answered).download_artifacts("", str(tmp_path / "out"))
    assert Path(path, "model.pkl").read_bytes() == b"weights"


def test_a_root_naming_the_configured_store_is_still_read(store_root: Path, tmp_path: Path):
    """URIs answered before stores were left out of them keep working in a process configured with that store."""
    digest = put(store_root, b"weights")
    repository = RegistryArtifactRepository(uri(digest, kind="file", root=str(store_root), name="model.pkl"))
    assert Path(repository.download_artifacts("", str(tmp_path / "out")), "model.pkl").read_bytes() == b"weights"


def test_a_server_artifact_source_cannot_leave_the_destination(
    database_url: str, store_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Inside `mlflow server`, ``mlflow-artifacts:/..`` is not read from beside the artifact destination."""
    destination = tmp_path / "mlartifacts"
    destination.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"the server's secret")
    monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_DESTINATION", str(destination))
    store = RegistryStore(f"registry+{database_url}")
    store.create_registered_model("fraud")
    with pytest.raises(MlflowException) as refused:
        store.create_model_version("fraud", "mlflow-artifacts:/../secret.txt")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.search_model_versions("name = 'fraud'") == []
