"""Artifacts: content-addressed, verified storage and loading, on the local store and on S3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine, func, select, text

from registry_core import (
    ConflictError,
    IntegrityFailure,
    InvalidInput,
    ModelVersionWarning,
    Registry,
    StoreUnavailable,
)
from registry_core.blobstore import FsspecBlobStore, LocalBlobStore
from registry_core.schema import ModelVersion

#: How many times a TracingEstimator was unpickled in this process.
UNPICKLED = {"count": 0}


class TracingEstimator(ClassifierMixin, BaseEstimator):
    """An estimator that counts its own deserializations, to prove none happened."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def fit(self, features, labels):
        self.classes_ = np.unique(labels)
        return self

    def predict(self, features):
        return (np.asarray(features)[:, 0] > self.threshold).astype(int)

    def __setstate__(self, state):
        UNPICKLED["count"] += 1
        self.__dict__.update(state)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def trust_tracing_estimator(registry: Registry) -> None:
    """TracingEstimator is not scikit-learn's own: the model's policy must trust it before it is stored with skops."""
    registry.create_model("fraud")
    registry.set_policy("fraud", trusted_types=[qualified_name(TracingEstimator)])


def trained_pipeline():
    features = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, [0, 0, 1, 1])


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def version_rows(registry: Registry) -> int:
    with registry.db.read() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion)) or 0


def blob_path(registry: Registry, sha256: str) -> Path:
    assert isinstance(registry.store, LocalBlobStore)
    return registry.store.root / "sha256" / sha256[:2] / sha256


def overwrite_blob(registry: Registry, sha256: str, content: bytes) -> None:
    """Tamper with a published blob the way someone with write access to the store could."""
    path = blob_path(registry, sha256)
    path.chmod(0o644)
    path.write_bytes(content)


# --- S3 on loopback -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto's server) on 127.0.0.1, with a bucket named 'models'."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="models")
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(params=["local", "s3"])
def store_registry(request, tmp_path: Path) -> Iterator[Registry]:
    """A SQLite catalog over the local store and over S3."""
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "artifacts")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        store = FsspecBlobStore(
            f"s3://models/{tmp_path.name}", client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True
        )
    with Registry(f"sqlite:///{tmp_path / 'catalog.db'}", store=store, actor="alice") as registry:
        yield registry


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path / "artifacts", actor="alice") as registry:
        yield registry


# --- round trips --------------------------------------------------------------------------


def test_file_round_trip(store_registry: Registry, tmp_path: Path):
    source = tmp_path / "model.onnx"
    source.write_bytes(os.urandom(300_000))
    version = store_registry.register("fraud", source)
    assert version.artifact_kind == "file" and version.artifact_size == 300_000
    dest = store_registry.download("models:/fraud/1", tmp_path / "out.onnx")
    assert dest.read_bytes() == source.read_bytes()


def test_directory_round_trip(store_registry: Registry, tmp_path: Path):
    files = {"MLmodel": b"flavors: {}", "model.pkl": os.urandom(10_000), "data/vocab.txt": b"a\nb\n"}
    folder = make_folder(tmp_path / "model", files)
    version = store_registry.register("fraud", folder)
    assert version.artifact_kind == "directory" and version.artifact_format["files"] == 3
    dest = store_registry.download("models:/fraud/1", tmp_path / "restored")
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files


def test_estimator_round_trip(store_registry: Registry):
    pipeline = trained_pipeline()
    version = store_registry.register("fraud", pipeline)
    assert version.artifact_kind == "sklearn"
    assert version.artifact_format["library"] == "scikit-learn"
    assert version.artifact_format["class"].endswith("Pipeline")
    loaded = store_registry.load_model("models:/fraud/1")
    probe = np.array([[0.5, 0.5], [2.5, 0.5]])
    assert (loaded.predict(probe) == pipeline.predict(probe)).all()


def test_digest_is_recorded_in_the_catalog(local_registry: Registry, tmp_path: Path):
    import hashlib

    source = tmp_path / "model.bin"
    source.write_bytes(b"abc" * 1000)
    version = local_registry.register("fraud", source)
    assert version.artifact_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert local_registry.get_version("fraud", 1).artifact_sha256 == version.artifact_sha256


# --- integrity ------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["corrupt", "truncate", "replace"])
def test_tampered_blob_is_never_deserialized(local_registry: Registry, tamper: str):
    """load_model raises the integrity error and nothing is deserialized."""
    trust_tracing_estimator(local_registry)
    version = local_registry.register("fraud", TracingEstimator().fit([[0], [1]], [0, 1]))
    before = UNPICKLED["count"]
    local_registry.load_model("models:/fraud/1")
    assert UNPICKLED["count"] == before + 1  # the control: a clean load does unpickle

    original = blob_path(local_registry, version.artifact_sha256).read_bytes()
    tampered = {
        "corrupt": original[:-10] + b"X" * 10,
        "truncate": original[: len(original) // 2],
        "replace": __import__("pickle").dumps(TracingEstimator(threshold=99.0)),
    }[tamper]
    overwrite_blob(local_registry, version.artifact_sha256, tampered)
    with pytest.raises(IntegrityFailure) as refused:
        local_registry.load_model("models:/fraud/1")
    assert "models:/fraud/1" in refused.value.message
    assert version.artifact_sha256 in refused.value.message
    assert UNPICKLED["count"] == before + 1


def test_tampered_blob_fails_download_and_leaves_nothing(local_registry: Registry, tmp_path: Path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    version = local_registry.register("fraud", source)
    overwrite_blob(local_registry, version.artifact_sha256, b"evil")
    with pytest.raises(IntegrityFailure):
        local_registry.download("models:/fraud/1", tmp_path / "out.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["artifacts", "catalog.db", "catalog.db-shm", "catalog.db-wal", "model.bin"])


def test_tampered_directory_file_fails_download(local_registry: Registry, tmp_path: Path):
    folder = make_folder(tmp_path / "model", {"a.txt": b"alpha", "b.txt": b"beta"})
    local_registry.register("fraud", folder)
    import hashlib

    overwrite_blob(local_registry, hashlib.sha256(b"beta").hexdigest(), b"BETA")
    with pytest.raises(IntegrityFailure) as refused:
        local_registry.download("models:/fraud/1", tmp_path / "out")
    assert "b.txt" in refused.value.message
    assert not (tmp_path / "out").exists()


def test_manifest_paths_cannot_escape_the_destination(local_registry: Registry, tmp_path: Path):
    """A manifest naming '../' paths (a tampered catalog row) is refused before anything is written."""
    import io
    import json

    local_registry.register("fraud", make_folder(tmp_path / "model", {"a.txt": b"alpha"}))
    evil = json.dumps({"format": "registry.directory-manifest/1", "files": [
        {"path": "../escaped.txt", "sha256": "0" * 64, "size": 1}]}).encode()
    blob = local_registry.store.put_stream(io.BytesIO(evil))
    engine = create_engine(local_registry.db.engine.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE model_versions SET artifact_sha256 = :d"), {"d": blob.sha256})
    engine.dispose()
    with pytest.raises(InvalidInput, match="unsafe"):
        local_registry.download("models:/fraud/1", tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def tamper_manifest(registry: Registry, paths: list[str]) -> None:
    """Point every version at a manifest (stored, so its digest verifies) that lists ``paths``."""
    import io
    import json

    files = [{"path": path, "sha256": registry.store.put_stream(io.BytesIO(path.encode())).sha256, "size": 1}
             for path in paths]
    blob = registry.store.put_stream(io.BytesIO(json.dumps(
        {"format": "registry.directory-manifest/1", "files": files}).encode()))
    engine = create_engine(registry.db.engine.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE model_versions SET artifact_sha256 = :d"), {"d": blob.sha256})
    engine.dispose()


@pytest.mark.parametrize(
    "paths",
    [["{tmp}/escaped.txt"], ["a/../../escaped.txt"], ["C:escaped.txt"], ["..\\escaped.txt"], ["a\x00b"],
     ["./a.txt"], ["a//b.txt"], ["a", "a/b"], ["a.txt", "a.txt"]],
    ids=["absolute", "nested-dotdot", "drive", "backslash", "nul", "dot", "empty-part", "file-and-folder",
         "repeated"],
)
def test_a_hostile_manifest_is_refused_before_anything_is_written(
    local_registry: Registry, tmp_path: Path, paths: list[str]
):
    """``registry download`` of a tampered manifest: one InvalidInput, no file outside, no partial left."""
    local_registry.register("fraud", make_folder(tmp_path / "model", {"a.txt": b"alpha"}))
    tamper_manifest(local_registry, [path.format(tmp=tmp_path) for path in paths])
    destination = tmp_path / "downloads" / "out"
    destination.parent.mkdir()
    with pytest.raises(InvalidInput, match="unsafe|both as a file and as a folder"):
        local_registry.download("models:/fraud/1", destination)
    assert list((tmp_path / "downloads").iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


def test_gc_keeps_the_files_of_a_manifest_that_download_refuses(local_registry: Registry, tmp_path: Path):
    """A manifest registered before its names were refused still keeps its files' blobs from garbage collection."""
    import hashlib

    local_registry.register("fraud", make_folder(tmp_path / "model", {"a.txt": b"alpha"}))
    tamper_manifest(local_registry, ["C:model.pkl"])
    collected = local_registry.collect_garbage(min_age_seconds=0)
    assert hashlib.sha256(b"C:model.pkl").hexdigest() not in collected.blobs


@pytest.mark.parametrize("name", ["C:model.pkl", "back\\slash.pkl"], ids=["drive", "backslash"])
def test_a_folder_holding_a_name_no_download_may_write_is_refused(local_registry: Registry, tmp_path: Path, name: str):
    """Registration refuses a file name that a download would refuse, so every registered folder downloads."""
    folder = make_folder(tmp_path / "model", {"MLmodel": b"x", name: b"weights"})
    with pytest.raises(InvalidInput, match="unsafe path"):
        local_registry.register("fraud", folder)
    assert version_rows(local_registry) == 0


def test_loading_with_another_sklearn_version_warns(local_registry: Registry):
    local_registry.register("fraud", trained_pipeline())
    engine = create_engine(local_registry.db.engine.url)
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE model_versions SET artifact_format = json_set(artifact_format, '$.library_version', '0.24.2')"
        ))
    engine.dispose()
    with pytest.warns(ModelVersionWarning, match="scikit-learn 0.24.2"):
        local_registry.load_model("models:/fraud/1")


def test_current_sklearn_version_loads_without_warning(local_registry: Registry):
    local_registry.register("fraud", trained_pipeline())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        local_registry.load_model("models:/fraud/1")


# --- deduplication, immutability, atomicity --------------------------------------------


def test_identical_content_shares_one_blob(local_registry: Registry, tmp_path: Path):
    first = tmp_path / "one.bin"
    second = tmp_path / "two.bin"
    first.write_bytes(b"same bytes" * 5000)
    second.write_bytes(b"same bytes" * 5000)
    a = local_registry.register("fraud", first)
    b = local_registry.register("other", second)
    assert a.artifact_sha256 == b.artifact_sha256
    assert len(list(local_registry.store.iter_blobs())) == 1


def test_unchanged_directory_files_are_shared_between_versions(local_registry: Registry, tmp_path: Path):
    folder = make_folder(tmp_path / "model", {"weights.bin": os.urandom(50_000), "MLmodel": b"v1"})
    local_registry.register("fraud", folder)
    (folder / "MLmodel").write_bytes(b"v2")
    local_registry.register("fraud", folder)
    # weights shared; two MLmodel files; two manifests
    assert len(list(local_registry.store.iter_blobs())) == 5


def test_published_blobs_are_read_only(local_registry: Registry, tmp_path: Path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"immutable")
    version = local_registry.register("fraud", source)
    assert blob_path(local_registry, version.artifact_sha256).stat().st_mode & 0o222 == 0


_KILLABLE_REGISTRATION = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from registry_core import Registry

    db, root, source, marker = sys.argv[1:5]
    done = 0

    def progress(n):
        global done
        done += n
        if done >= 8 * 1024 * 1024:
            Path(marker).write_text("halfway")
            time.sleep(120)

    Registry(db, root, actor="alice").register("fraud", source, progress=progress)
    """
)


def test_killed_registration_leaves_no_partial_blob_and_no_row(local_registry: Registry, tmp_path: Path):
    """SIGKILL half way through a registration: no visible blob, no catalog row, and the next one succeeds."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(24 * 1024 * 1024))
    marker = tmp_path / "halfway"
    store_root = local_registry.store.root
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE_REGISTRATION, str(local_registry.db.engine.url), str(store_root),
         str(source), str(marker)],
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the registration ended before reaching half way"
            assert time.monotonic() < deadline, "the registration never reached half way"
            time.sleep(0.05)
        assert list((store_root / "incoming").iterdir()), "the partial write should be in progress"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert list(local_registry.store.iter_blobs()) == []
    assert version_rows(local_registry) == 0
    version = local_registry.register("fraud", source)
    assert version.version == 1
    assert blob_path(local_registry, version.artifact_sha256).read_bytes() == source.read_bytes()


# --- garbage collection ----------------------------------------------------------------


def test_gc_lists_only_unreferenced_blobs_and_deletes_on_request(local_registry: Registry, tmp_path: Path):
    import io

    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"referenced")
    version = local_registry.register("fraud", kept)
    local_registry.register("fraud", make_folder(tmp_path / "dir", {"x": b"in a folder"}))
    orphan = local_registry.store.put_stream(io.BytesIO(b"nobody refers to me"))

    dry = local_registry.collect_garbage(min_age_seconds=0)
    assert dry.blobs == [orphan.sha256] and not dry.deleted
    assert local_registry.store.has(orphan.sha256)

    done = local_registry.collect_garbage(delete=True, min_age_seconds=0)
    assert done.blobs == [orphan.sha256] and done.deleted
    assert not local_registry.store.has(orphan.sha256)
    assert local_registry.store.has(version.artifact_sha256)
    assert local_registry.download("models:/fraud/2", tmp_path / "restored").joinpath("x").read_bytes() == b"in a folder"


def test_gc_spares_recent_blobs(local_registry: Registry):
    import io

    orphan = local_registry.store.put_stream(io.BytesIO(b"just written"))
    report = local_registry.collect_garbage(delete=True)
    assert report.blobs == [] and report.skipped_recent == 1
    assert local_registry.store.has(orphan.sha256)


def test_archived_versions_stay_retrievable(local_registry: Registry, tmp_path: Path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"old but kept")
    local_registry.register("fraud", source)
    local_registry.transition("fraud", 1, "Archived")
    local_registry.collect_garbage(delete=True, min_age_seconds=0)
    assert local_registry.download("models:/fraud/1", tmp_path / "out.bin").read_bytes() == b"old but kept"


# --- bad input ----------------------------------------------------------------------------


def assert_nothing_written(registry: Registry) -> None:
    assert version_rows(registry) == 0
    assert list(registry.store.iter_blobs()) == []


def test_missing_path_is_refused(local_registry: Registry, tmp_path: Path):
    with pytest.raises(InvalidInput, match="does not exist"):
        local_registry.register("fraud", tmp_path / "nope.bin")
    assert_nothing_written(local_registry)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_refused(local_registry: Registry, tmp_path: Path):
    source = tmp_path / "secret.bin"
    source.write_bytes(b"x")
    source.chmod(0)
    with pytest.raises(InvalidInput, match="permission"):
        local_registry.register("fraud", source)
    assert_nothing_written(local_registry)


def test_link_escaping_the_folder_is_refused(local_registry: Registry, tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not part of the model")
    folder = make_folder(tmp_path / "model", {"MLmodel": b"x"})
    (folder / "sneaky.txt").symlink_to(outside)
    with pytest.raises(InvalidInput, match="links outside"):
        local_registry.register("fraud", folder)
    assert version_rows(local_registry) == 0


def test_dotdot_link_escaping_the_folder_is_refused(local_registry: Registry, tmp_path: Path):
    folder = make_folder(tmp_path / "model", {"MLmodel": b"x"})
    (tmp_path / "secret").write_bytes(b"s")
    (folder / "up.txt").symlink_to(Path("..") / "secret")
    with pytest.raises(InvalidInput, match="links outside"):
        local_registry.register("fraud", folder)
    assert version_rows(local_registry) == 0


def test_empty_folder_is_refused(local_registry: Registry, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no files"):
        local_registry.register("fraud", tmp_path / "empty")
    assert_nothing_written(local_registry)


@pytest.mark.parametrize("thing", [object(), {"weights": [1, 2]}, lambda x: x])
def test_non_estimator_objects_are_refused(local_registry: Registry, thing):
    with pytest.raises(InvalidInput, match="cannot register"):
        local_registry.register("fraud", thing)
    assert_nothing_written(local_registry)


def test_unserializable_estimator_is_refused(local_registry: Registry):
    """An estimator that pickle cannot write is refused, with the model's policy allowing pickle."""
    trust_tracing_estimator(local_registry)
    local_registry.set_policy("fraud", allow_pickle=True)
    estimator = TracingEstimator()
    estimator.callback = lambda: None  # lambdas cannot be pickled
    with pytest.raises(InvalidInput, match="cannot serialize"):
        local_registry.register("fraud", estimator, serialization="pickle")
    assert version_rows(local_registry) == 0


def test_unreachable_store_is_a_clear_error(tmp_path: Path, model_file: Path):
    store = FsspecBlobStore(
        "s3://models/nowhere",
        client_kwargs={"endpoint_url": "http://127.0.0.1:9"},
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2},
        skip_instance_cache=True,
    )
    with Registry(f"sqlite:///{tmp_path / 'c.db'}", store=store, actor="alice") as registry:
        with pytest.raises(StoreUnavailable, match="cannot"):
            registry.register("fraud", model_file)
        assert version_rows(registry) == 0


def test_download_refuses_to_overwrite(local_registry: Registry, tmp_path: Path, model_file: Path):
    local_registry.register("fraud", model_file)
    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"keep me")
    with pytest.raises(ConflictError, match="already exists"):
        local_registry.download("models:/fraud/1", existing)
    assert existing.read_bytes() == b"keep me"


def test_plain_files_do_not_load_as_models(local_registry: Registry, model_file: Path):
    local_registry.register("fraud", model_file)
    with pytest.raises(InvalidInput, match="use download"):
        local_registry.load_model("models:/fraud/1")
