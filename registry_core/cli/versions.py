"""Commands on models, versions and their artifacts: register, attach, delete, download, gc, models, versions, show."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import click

from ..errors import InvalidInput
from ..formats import MODEL_FORMATS
from ..records import to_jsonable
from ..uris import parse_model_uri
from ..validation import parse_key_values, validate_json_object
from . import render
from .context import common_options, emit, registry


@click.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--run-id", help="The training run that produced the artifact.")
@click.option("--dataset-digest", help="Digest of the data set the model was trained on.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A training parameter (repeatable).")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="An evaluation metric (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@click.option("--description", help="What this version is.")
@click.option("--signature", metavar="JSON", help="Input/output signature as a JSON object.")
@click.option("--format", "model_format", type=click.Choice(MODEL_FORMATS),
              help="Check the file as this model format so it can be loaded and served (default: an opaque file).")
@click.option("--model-card", "model_card_path", type=click.Path(dir_okay=False, path_type=str), help="File holding the model card text.")
@click.option("--reference", is_flag=True,
              help="PATH is a location the registry does not read (s3://…, runs:/…): record it as a version with no "
                   "bytes, never loaded, served or promoted until 'registry attach' stores them.")
@common_options
@click.pass_context
def register(
    ctx: click.Context, name: str, path: str, run_id: str | None, dataset_digest: str | None,
    params: tuple[str, ...], metrics: tuple[str, ...], tags: tuple[str, ...], description: str | None,
    signature: str | None, model_card_path: str | None, model_format: str | None, reference: bool,
) -> None:
    """Register the artifact at PATH as the next version of model NAME (stage None)."""
    from ..artifacts import size_of
    from ..references import ArtifactReference

    model_card = _read_text(model_card_path, what="model card") if model_card_path else None
    catalog = registry(ctx)
    with _progress_bar(None if reference else size_of(path), "hashing and storing") as progress:
        version = catalog.register(
            name, ArtifactReference(path) if reference else path, run_id=run_id, dataset_digest=dataset_digest,
            params=parse_key_values(params, what="param"), metrics=parse_key_values(metrics, what="metric"),
            tags=parse_key_values(tags, what="tag"), description=description,
            signature=validate_json_object(signature, what="signature") if signature else None, model_card=model_card,
            progress=progress, model_format=model_format,
        )
    emit(ctx, version, lambda: [render.registered(version)])


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("path", type=click.Path(path_type=str))
@common_options
@click.pass_context
def attach(ctx: click.Context, name: str, version: str, path: str) -> None:
    """Store the bytes of reference VERSION of model NAME from PATH (a file or folder); audited, once.

    Only a version registered as a reference, in stage None or Staging, with no check result or decision
    yet. The registry cannot tell whether PATH holds what the reference named: the audit log records who
    attached which digest.
    """
    from ..artifacts import size_of

    catalog = registry(ctx)
    with _progress_bar(size_of(path), "hashing and storing") as progress:
        attached = catalog.attach(name, version, path, progress=progress)
    emit(ctx, attached, lambda: [
        f"Attached {attached.artifact_kind} sha256 {attached.artifact_sha256} ({attached.artifact_size} bytes) "
        f"to {attached.uri}"
    ])


@click.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("--whole-model", is_flag=True, help="Delete model NAME and every version of it (no VERSION then).")
@common_options
@click.pass_context
def delete(ctx: click.Context, name: str, version: str | None, whole_model: bool) -> None:
    """Delete VERSION of model NAME, or with --whole-model the model itself, as MLflow does; audited.

    Refused for a version in Production or Staging or behind a protected alias (archive it or move the alias
    first). The audit log keeps the whole history; the blobs go at the next 'registry gc --delete' if no other
    version uses them. Version numbers are never given out again, even if the name is created anew.
    """
    if (version is None) != whole_model:
        raise click.UsageError("give a VERSION to delete, or --whole-model to delete the model (not both)")
    catalog = registry(ctx)
    if version is None:
        catalog.delete_model(name)
        emit(ctx, {"model": name, "deleted": True}, lambda: [f"Deleted model {name!r} and every version of it"])
    else:
        catalog.delete_version(name, version)
        emit(ctx, {"model": name, "version": int(version), "deleted": True},
             lambda: [f"Deleted version {version} of {name!r}"])


@click.command()
@click.argument("uri")
@click.argument("dest", type=click.Path(path_type=str))
@common_options
@click.pass_context
def download(ctx: click.Context, uri: str, dest: str) -> None:
    """Write the artifact of URI to DEST (a new path), verifying every byte against the catalog's digest."""
    catalog = registry(ctx, read_only=True)
    version = catalog.resolve(uri)
    with _progress_bar(version.artifact_size, "downloading and verifying") as progress:
        written = catalog.download(version.uri, dest, progress=progress)
    emit(ctx, {"uri": version.uri, "path": str(written), "sha256": version.artifact_sha256,
               "kind": version.artifact_kind}, lambda: [
        f"Downloaded {version.uri} ({version.artifact_kind}, sha256 {version.artifact_sha256} verified) to {written}"
    ])


@click.command()
@click.option("--delete", is_flag=True, help="Remove the unreferenced blobs (default: only list them).")
@click.option("--min-age", "min_age", type=click.FloatRange(0), default=3600.0, show_default=True, metavar="SECONDS",
              help="Leave blobs younger than this alone (a registration may be about to reference them).")
@common_options
@click.pass_context
def gc(ctx: click.Context, delete: bool, min_age: float) -> None:
    """List artifact blobs that no version references, and interrupted uploads; --delete removes them.

    Referenced blobs are never touched; anything younger than --min-age is left alone.
    """
    # Never on a missing catalog: every blob would look unreferenced.
    report = registry(ctx, read_only=True).collect_garbage(delete=delete, min_age_seconds=min_age)
    emit(ctx, report, lambda: render.garbage_lines(report, min_age))


@click.command()
@common_options
@click.pass_context
def models(ctx: click.Context) -> None:
    """List registered models with their latest and Production versions."""
    found = registry(ctx, read_only=True).list_models()
    emit(ctx, found, lambda: render.model_table(found))


@click.command()
@click.argument("name")
@click.option("--stage", help="Only versions in this stage (None/Candidate, Staging, Production, Archived).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most this many versions.")
@click.option("--before", type=click.IntRange(1), help="Only versions older than this number (to page back).")
@common_options
@click.pass_context
def versions(ctx: click.Context, name: str, stage: str | None, limit: int, before: int | None) -> None:
    """List versions of model NAME, newest first."""
    found = registry(ctx, read_only=True).list_versions(name, stage=stage, limit=limit, before=before)
    emit(ctx, found, lambda: render.version_table(found))


@click.command()
@click.argument("uri")
@common_options
@click.pass_context
def show(ctx: click.Context, uri: str) -> None:
    """Show a version (or, for models:/NAME, a model) with its lineage, checks, approvals, gates and renditions."""
    ref = parse_model_uri(uri, allow_model=True)
    catalog = registry(ctx, read_only=True)
    if ref.version is None and ref.stage is None and ref.alias is None and not ref.latest:
        model = catalog.get_model(ref.name)
        emit(ctx, model, lambda: render.model_lines(model))
        return
    details = catalog.show(uri)
    renditions = catalog.renditions(details.version.model, details.version.version)
    emit(ctx, {**to_jsonable(details), "renditions": to_jsonable(renditions)}, lambda: [
        *render.details_lines(details),
        *(f"ONNX rendition:     sha256 {r.artifact_sha256}, parity {r.parity:.3g} ({r.parity_output}, "
          f"{r.validation_rows} records), {r.converter} {r.converter_version}" for r in renditions),
    ])


COMMANDS = (register, attach, delete, download, gc, models, versions, show)


@contextlib.contextmanager
def _progress_bar(total: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and the work is large enough to watch."""
    if not total or total < 32 * 1024 * 1024 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
        yield bar.update


def _read_text(path: str, *, what: str) -> str:
    from ..regular_files import open_regular
    from ..validation import MAX_MODEL_CARD

    # A UTF-8 character is at most 4 bytes: anything longer is over the limit, however it decodes.
    most = 4 * MAX_MODEL_CARD
    try:
        with open_regular(path, what=what) as handle:
            data = handle.read(most + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if len(data) > most:
        raise InvalidInput(f"{what} {path!r} is longer than the limit of {MAX_MODEL_CARD} characters")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path!r} is not UTF-8 text") from None
