"""Where a version's bytes come from when MLflow registers one, and what trained it.

MLflow hands ``create_model_version`` a source URI: a logged model
(``models:/m-…``, what ``log_model(registered_model_name=...)`` sends, with no
run id), a run's artifacts (``runs:/RUN/path``), a folder, or any artifact URI
its repositories read. The registry copies those bytes into its own store at
registration, so a version never depends on the source staying put, and
records the training run and the logged model as lineage.

Inside ``mlflow server`` the tracking URI is the server's own backend store,
and sources under ``mlflow-artifacts:/`` are read from the server's artifact
destination directly rather than over HTTP from itself (never outside it).

A source that cannot be read (an object store without credentials here, a
run on another tracking server, a scheme no installed library serves, a
typo) is :class:`SourceUnreadable`: the store then registers the version as a
reference to it (:mod:`registry_core.references`), as MLflow records any
source string. A source that would read outside where it may (the server's
artifact destination, the download folder) stays a plain
:class:`InvalidInput` and registers nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ..errors import InvalidInput, RegistryError
from .artifacts import SCHEME as REGISTRY_SCHEME

__all__ = ["Fetched", "SourceUnreadable", "fetch_source", "logged_model_id"]

_LOGGED_MODEL = re.compile(r"^models:/(m-[0-9a-f]+)/?$")
#: Where ``mlflow server`` keeps proxied artifacts (its ``--artifacts-destination``); set in the server process.
_SERVER_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"


class SourceUnreadable(InvalidInput):
    """A model source this process cannot read now; it may still be a valid location elsewhere."""


@dataclass(frozen=True)
class Fetched:
    """A source's bytes in a local folder or file, and the run and logged model that produced them."""

    path: Path
    run_id: str | None
    model_id: str | None


def logged_model_id(source: str) -> str | None:
    """The logged model a ``models:/m-…`` URI names, else None."""
    match = _LOGGED_MODEL.match(source or "")
    return match.group(1) if match else None


def _localized(uri: str) -> str:
    """``mlflow-artifacts:/path`` as the server's own destination, when running inside ``mlflow server``."""
    destination = os.environ.get(_SERVER_DESTINATION_ENV)
    parsed = urlparse(uri)
    if parsed.scheme == "mlflow-artifacts" and destination:
        if "://" in destination:
            return destination.rstrip("/") + "/" + parsed.path.lstrip("/")
        root = Path(destination).resolve()
        local = (root / parsed.path.lstrip("/")).resolve()
        if not local.is_relative_to(root):
            raise InvalidInput(f"model source {uri!r} leaves the server's artifact destination")
        return str(local)
    return uri


@contextlib.contextmanager
def _readable(source: str) -> Iterator[None]:
    """Whatever reading ``source`` raises (MLflow's, boto's, a missing library's) as one SourceUnreadable naming it."""
    try:
        yield
    except RegistryError:
        raise
    except MlflowException as exc:
        raise SourceUnreadable(f"model source {source!r} cannot be read: {_first_line(exc.message)}") from exc
    except Exception as exc:  # any artifact repository's own errors: the source is unreadable from here
        reason = _first_line(str(exc)) or type(exc).__name__
        raise SourceUnreadable(f"model source {source!r} cannot be read: {reason}") from exc


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:300] if lines else ""


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" and uri:
        return Path(uri)
    return None


def _download(uri: str, workdir: Path, tracking_uri: str | None) -> Path:
    uri = _localized(uri)
    local = _local_path(uri)
    if local is not None:
        if not local.exists():
            raise SourceUnreadable(f"model source {uri!r} does not exist")
        return local
    fetched = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(workdir), tracking_uri=tracking_uri))
    if not fetched.resolve().is_relative_to(workdir.resolve()):
        raise InvalidInput(f"model source {uri!r} was downloaded outside its working folder")
    return fetched


def fetch_source(
    source: str,
    *,
    run_id: str | None,
    model_id: str | None,
    local_model_path: str | None,
    tracking_uri: str | None,
    workdir: Path,
) -> Fetched:
    """The bytes behind ``source`` in a local path (downloaded into ``workdir`` when needed), with their lineage.

    A ``registry-artifacts:`` source names the catalog's own store: one this process cannot read is
    forged or wrong, never a location elsewhere, so it stays a plain :class:`InvalidInput`.
    """
    try:
        with _readable(source):
            return _fetch(source, run_id=run_id, model_id=model_id, local_model_path=local_model_path,
                          tracking_uri=tracking_uri, workdir=workdir)
    except SourceUnreadable as unreadable:
        if urlparse(source).scheme == REGISTRY_SCHEME:
            raise InvalidInput(unreadable.message) from unreadable
        raise


def _fetch(
    source: str,
    *,
    run_id: str | None,
    model_id: str | None,
    local_model_path: str | None,
    tracking_uri: str | None,
    workdir: Path,
) -> Fetched:
    model_id = model_id or logged_model_id(source)
    location = source
    if model_id:
        try:
            logged = MlflowClient(tracking_uri=tracking_uri).get_logged_model(model_id)
        except MlflowException as exc:
            raise SourceUnreadable(f"logged model {model_id!r} of source {source!r} cannot be read: {exc.message}") from None
        run_id = run_id or logged.source_run_id
        if logged_model_id(source):
            location = logged.artifact_location
    elif urlparse(source).scheme == "runs":
        parsed = urlparse(source)
        source_run, _, artifact_path = parsed.path.lstrip("/").partition("/")
        run_id = run_id or source_run
        location = MlflowClient(tracking_uri=tracking_uri).get_run(source_run).info.artifact_uri.rstrip("/") + (f"/{artifact_path}" if artifact_path else "")
    if local_model_path and Path(local_model_path).exists():
        # log_model(registered_model_name=...) in this process: the folder it just wrote, no second download.
        return Fetched(Path(local_model_path), run_id or None, model_id)
    return Fetched(_download(location, workdir, tracking_uri), run_id or None, model_id)
