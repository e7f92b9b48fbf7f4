"""The ``registry`` command line: every Registry operation, with ``--json`` output.

Exit codes: 0 success, 1 the registry refused (gate unmet, illegal transition,
not found, invalid input), 2 a usage error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from .artifacts import size_of
from .config import (
    ACTOR_ENV,
    ARTIFACT_ROOT_ENV,
    DATABASE_URL_ENV,
    default_actor,
    default_artifact_root,
    default_database_url,
)
from .database import Database
from .errors import InvalidInput, RegistryError
from .records import AuditEntry, StageChange, VersionDetails, VersionInfo, dumps
from .registry import Registry
from .uris import parse_model_uri
from .validation import parse_key_values, validate_json_object

F = TypeVar("F", bound=Callable[..., Any])


class _Context:
    def __init__(self, db: str, artifacts: str, actor: str, as_json: bool) -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor
        self.as_json = as_json
        self._registry: Registry | None = None

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.db, self.artifacts, actor=self.actor)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta["registry.json"] = True


def _set_global(attribute: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            setattr(ctx.find_root().obj, attribute, value)

    return callback


def common_options(func: F) -> F:
    """The global options, accepted after a subcommand too: ``registry approve m 1 --actor bob --json``."""
    for flag, attribute, metavar in (("--db", "db", "URL"), ("--artifacts", "artifacts", "ROOT"), ("--actor", "actor", "NAME")):
        func = click.option(
            flag, expose_value=False, metavar=metavar, callback=_set_global(attribute),
            help=f"Same as the global {flag}.", hidden=True,
        )(func)
    return click.option(
        "--json", "as_json", is_flag=True, expose_value=False, callback=_set_json,
        help="Print the result as JSON.",
    )(func)


def _wants_json(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.meta.get("registry.json"))


def _emit(ctx: click.Context, value: Any, human: Callable[[], Iterable[str]]) -> None:
    if _wants_json(ctx):
        click.echo(dumps(value))
    else:
        for line in human():
            click.echo(line)


def _fail(ctx: click.Context, error: RegistryError) -> NoReturn:
    if _wants_json(ctx):
        click.echo(json.dumps(error.to_dict(), sort_keys=True), err=True)
    else:
        click.echo(f"registry: error: {error.message}", err=True)
    ctx.exit(1)
    raise AssertionError("unreachable")


class _RegistryGroup(click.Group):
    """Turns the registry's typed errors into one stderr line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RegistryError as error:
            _fail(ctx, error)
        finally:
            state = ctx.obj
            if isinstance(state, _Context):
                state.close()


@click.group(cls=_RegistryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", "db", envvar=DATABASE_URL_ENV, default=default_database_url, show_default="sqlite:///.registry/registry.db",
    metavar="URL", help=f"Catalog database URL (sqlite:///PATH or postgresql://...). Env: {DATABASE_URL_ENV}.",
)
@click.option(
    "--artifacts", "artifacts", envvar=ARTIFACT_ROOT_ENV, default=default_artifact_root,
    show_default=".registry/artifacts", metavar="ROOT", help=f"Artifact store root. Env: {ARTIFACT_ROOT_ENV}.",
)
@click.option(
    "--actor", "actor", envvar=ACTOR_ENV, default=default_actor, show_default="the OS user", metavar="NAME",
    help=f"Who is acting; recorded in the audit log. Env: {ACTOR_ENV}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results (and errors, on stderr) as JSON.")
@click.version_option(package_name="dagster-model-registry", prog_name="registry")
@click.pass_context
def cli(ctx: click.Context, db: str, artifacts: str, actor: str, as_json: bool) -> None:
    """A governed model registry: versions, stages, gates, approvals, rollbacks and a tamper-evident audit log.

    Models are addressed by URI: models:/NAME/VERSION, models:/NAME/STAGE,
    models:/NAME@ALIAS or models:/NAME/latest.
    """
    if as_json:
        ctx.meta["registry.json"] = True
    ctx.obj = _Context(db, artifacts, actor, as_json)


def _registry(ctx: click.Context) -> Registry:
    state = ctx.find_root().obj
    assert isinstance(state, _Context)
    return state.registry()


# --- models and versions --------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--run-id", help="The training run that produced the artifact.")
@click.option("--dataset-digest", help="Digest of the data set the model was trained on.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A training parameter (repeatable).")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="An evaluation metric (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@click.option("--description", help="What this version is.")
@click.option("--signature", metavar="JSON", help="Input/output signature as a JSON object.")
@click.option("--model-card", "model_card_path", type=click.Path(dir_okay=False, path_type=str), help="File holding the model card text.")
@common_options
@click.pass_context
def register(
    ctx: click.Context, name: str, path: str, run_id: str | None, dataset_digest: str | None,
    params: tuple[str, ...], metrics: tuple[str, ...], tags: tuple[str, ...], description: str | None,
    signature: str | None, model_card_path: str | None,
) -> None:
    """Register the artifact at PATH as the next version of model NAME (stage None)."""
    model_card = _read_text(model_card_path, what="model card") if model_card_path else None
    registry = _registry(ctx)
    with _progress_bar(size_of(path), "hashing and storing") as progress:
        version = registry.register(
            name, path, run_id=run_id, dataset_digest=dataset_digest,
            params=parse_key_values(params, what="param"), metrics=parse_key_values(metrics, what="metric"),
            tags=parse_key_values(tags, what="tag"), description=description,
            signature=validate_json_object(signature, what="signature") if signature else None, model_card=model_card,
            progress=progress,
        )
    _emit(ctx, version, lambda: [
        f"Registered {version.uri} (stage {version.stage}, {version.artifact_kind}, "
        f"sha256 {version.artifact_sha256}, {version.artifact_size} bytes)"
    ])


@cli.command()
@click.argument("uri")
@click.argument("dest", type=click.Path(path_type=str))
@common_options
@click.pass_context
def download(ctx: click.Context, uri: str, dest: str) -> None:
    """Write the artifact of URI to DEST (a new path), verifying every byte against the catalog's digest."""
    registry = _registry(ctx)
    version = registry.resolve(uri)
    with _progress_bar(version.artifact_size, "downloading and verifying") as progress:
        written = registry.download(version.uri, dest, progress=progress)
    _emit(ctx, {"uri": version.uri, "path": str(written), "sha256": version.artifact_sha256,
                "kind": version.artifact_kind}, lambda: [
        f"Downloaded {version.uri} ({version.artifact_kind}, sha256 {version.artifact_sha256} verified) to {written}"
    ])


@cli.command()
@click.option("--delete", is_flag=True, help="Remove the unreferenced blobs (default: only list them).")
@click.option("--min-age", "min_age", type=click.FloatRange(0), default=3600.0, show_default=True, metavar="SECONDS",
              help="Leave blobs younger than this alone (a registration may be about to reference them).")
@common_options
@click.pass_context
def gc(ctx: click.Context, delete: bool, min_age: float) -> None:
    """List artifact blobs that no version references; --delete removes them. Referenced blobs are never touched."""
    report = _registry(ctx).collect_garbage(delete=delete, min_age_seconds=min_age)

    def human() -> Iterable[str]:
        verb = "deleted" if report.deleted else "unreferenced (dry run; --delete removes them)"
        lines = [f"{len(report.blobs)} blob(s), {report.bytes} bytes, {verb}"]
        lines.extend(f"  {sha256}" for sha256 in report.blobs)
        if report.skipped_recent:
            lines.append(f"{report.skipped_recent} unreferenced blob(s) younger than {min_age:g} s left alone")
        return lines

    _emit(ctx, report, human)


@cli.command()
@common_options
@click.pass_context
def models(ctx: click.Context) -> None:
    """List registered models with their latest and Production versions."""
    found = _registry(ctx).list_models()

    def human() -> Iterable[str]:
        rows = [
            (m.name, str(m.latest_version), str(m.production_version or "-"),
             ",".join(f"{a}->{v}" for a, v in m.aliases.items()) or "-", m.description or "")
            for m in found
        ]
        return _table(("MODEL", "LATEST", "PRODUCTION", "ALIASES", "DESCRIPTION"), rows) if rows else ["no models registered"]

    _emit(ctx, found, human)


@cli.command()
@click.argument("name")
@click.option("--stage", help="Only versions in this stage (None/Candidate, Staging, Production, Archived).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most this many versions.")
@click.option("--before", type=click.IntRange(1), help="Only versions older than this number (to page back).")
@common_options
@click.pass_context
def versions(ctx: click.Context, name: str, stage: str | None, limit: int, before: int | None) -> None:
    """List versions of model NAME, newest first."""
    found = _registry(ctx).list_versions(name, stage=stage, limit=limit, before=before)

    def human() -> Iterable[str]:
        rows = [
            (str(v.version), v.stage.value, v.registered_by, _when(v.created_at), v.run_id or "-", v.artifact_sha256[:12])
            for v in found
        ]
        return _table(("VERSION", "STAGE", "REGISTERED_BY", "CREATED", "RUN_ID", "SHA256"), rows) if rows else ["no versions"]

    _emit(ctx, found, human)


@cli.command()
@click.argument("uri")
@common_options
@click.pass_context
def show(ctx: click.Context, uri: str) -> None:
    """Show a version (or, for models:/NAME, a model) with its lineage, checks, approvals and gates."""
    registry = _registry(ctx)
    ref = parse_model_uri(uri, allow_model=True)
    if ref.version is None and ref.stage is None and ref.alias is None and not ref.latest:
        model = registry.get_model(ref.name)
        _emit(ctx, model, lambda: _model_lines(model))
        return
    details = registry.show(uri)
    _emit(ctx, details, lambda: _details_lines(details))


# --- workflow ---------------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--reason", help="Why; recorded in the audit log.")
@common_options
@click.pass_context
def transition(ctx: click.Context, name: str, version: str, stage: str, reason: str | None) -> None:
    """Move VERSION of NAME to STAGE (None/Candidate, Staging, Production, Archived)."""
    change = _registry(ctx).transition(name, version, stage, reason=reason)
    _emit(ctx, change, lambda: _change_lines(change))


@cli.command()
@click.argument("name")
@click.argument("version")
@click.argument("check_name", metavar="CHECK")
@click.option("--passed/--failed", "passed", default=None, help="The check's result (one is required).")
@click.option("--details", metavar="JSON", help="Details as a JSON object.")
@common_options
@click.pass_context
def check(ctx: click.Context, name: str, version: str, check_name: str, passed: bool | None, details: str | None) -> None:
    """Record a result of CHECK on VERSION of NAME."""
    if passed is None:
        raise click.UsageError("say --passed or --failed")
    result = _registry(ctx).record_check(name, version, check_name, passed=passed, details=details)
    _emit(ctx, result, lambda: [
        f"Recorded check {result.name} on {name} version {result.version}: {'passed' if result.passed else 'FAILED'}"
    ])


@cli.command()
@click.argument("name")
@click.argument("version")
@click.option("--comment", help="A note for the record.")
@common_options
@click.pass_context
def approve(ctx: click.Context, name: str, version: str, comment: str | None) -> None:
    """Approve VERSION of NAME for Production, as --actor."""
    record = _registry(ctx).approve(name, version, comment=comment)
    _emit(ctx, record, lambda: [f"{record.approver} approved {name} version {record.version}"])


@cli.command()
@click.argument("name")
@click.argument("version")
@click.option("--comment", help="Why; shown to whoever tries to promote.")
@common_options
@click.pass_context
def reject(ctx: click.Context, name: str, version: str, comment: str | None) -> None:
    """Reject VERSION of NAME: it cannot be promoted until approved again."""
    record = _registry(ctx).reject(name, version, comment=comment)
    _emit(ctx, record, lambda: [f"{record.approver} rejected {name} version {record.version}"])


@cli.command()
@click.argument("name")
@click.argument("version")
@click.option("--reason", help="Why; recorded in the audit log.")
@common_options
@click.pass_context
def promote(ctx: click.Context, name: str, version: str, reason: str | None) -> None:
    """Promote a Staging VERSION of NAME to Production if every gate holds; the previous one is archived."""
    change = _registry(ctx).promote(name, version, reason=reason)
    _emit(ctx, change, lambda: _change_lines(change))


@cli.command()
@click.argument("name")
@click.option("--to", "to_version", help="The archived version to return (default: the one most recently in Production).")
@click.option("--reason", required=True, help="Why; required, recorded in the audit log.")
@common_options
@click.pass_context
def rollback(ctx: click.Context, name: str, to_version: str | None, reason: str) -> None:
    """Return a formerly-Production version of NAME to Production, archiving the current one."""
    change = _registry(ctx).rollback(name, reason=reason, to_version=to_version)
    _emit(ctx, change, lambda: _change_lines(change))


@cli.command()
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead.")
@common_options
@click.pass_context
def alias(ctx: click.Context, name: str, alias_name: str, version: str | None, delete: bool) -> None:
    """Point ALIAS of NAME at VERSION (models:/NAME@ALIAS), or remove it with --delete."""
    registry = _registry(ctx)
    if delete:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        registry.delete_alias(name, alias_name)
        _emit(ctx, {"model": name, "alias": alias_name, "deleted": True}, lambda: [f"Removed alias {name}@{alias_name}"])
        return
    if version is None:
        raise click.UsageError("give the VERSION the alias should point at, or --delete")
    target = registry.set_alias(name, alias_name, version)
    _emit(ctx, target, lambda: [f"models:/{name}@{alias_name} -> version {target.version}"])


@cli.command()
@click.argument("name")
@click.option("--version", "version", help="Tag this version rather than the model.")
@click.option("--delete", "deletes", multiple=True, metavar="KEY", help="Remove this tag (repeatable).")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@common_options
@click.pass_context
def tag(ctx: click.Context, name: str, version: str | None, deletes: tuple[str, ...], pairs: tuple[str, ...]) -> None:
    """Set or remove tags on model NAME or one of its versions."""
    if not pairs and not deletes:
        raise click.UsageError("give KEY=VALUE pairs to set, or --delete KEY")
    if pairs and deletes:
        raise click.UsageError("set and delete tags in separate commands")
    registry = _registry(ctx)
    if pairs:
        tags = registry.set_tags(name, parse_key_values(pairs, what="tag"), version=version)
    else:
        tags = registry.delete_tags(name, deletes, version=version)
    _emit(ctx, tags, lambda: [f"{k}={v}" for k, v in tags.items()] or ["no tags"])


@cli.command()
@click.argument("name")
@click.argument("text")
@click.option("--version", "version", help="Describe this version rather than the model.")
@common_options
@click.pass_context
def describe(ctx: click.Context, name: str, text: str, version: str | None) -> None:
    """Set the description of model NAME or one of its versions to TEXT."""
    _registry(ctx).set_description(name, text, version=version)
    target = f"{name} version {version}" if version else name
    _emit(ctx, {"model": name, "version": version, "description": text}, lambda: [f"Described {target}"])


@cli.command()
@click.argument("name")
@click.option("--staging-check", "staging_checks", multiple=True, metavar="CHECK", help="A check required before Staging (repeatable; replaces the list).")
@click.option("--production-check", "production_checks", multiple=True, metavar="CHECK", help="A check required before Production (repeatable; replaces the list).")
@click.option("--approvals", type=int, metavar="N", help="Approvals required before Production.")
@click.option("--approver", "approvers", multiple=True, metavar="NAME", help="An allowed approver (repeatable; replaces the list).")
@click.option("--clear-staging-checks", is_flag=True, help="Require no checks before Staging.")
@click.option("--clear-production-checks", is_flag=True, help="Require no checks before Production.")
@click.option("--clear-approvers", is_flag=True, help="Let anyone approve (subject to --self-approval).")
@click.option("--self-approval/--no-self-approval", "self_approval", default=None, help="Whether a registrant may approve their own version.")
@common_options
@click.pass_context
def policy(
    ctx: click.Context, name: str, staging_checks: tuple[str, ...], production_checks: tuple[str, ...],
    approvals: int | None, approvers: tuple[str, ...], clear_staging_checks: bool, clear_production_checks: bool,
    clear_approvers: bool, self_approval: bool | None,
) -> None:
    """Show the governance policy of NAME, or change the parts given."""
    registry = _registry(ctx)
    for flag, values, label in (
        (clear_staging_checks, staging_checks, "staging checks"),
        (clear_production_checks, production_checks, "production checks"),
        (clear_approvers, approvers, "approvers"),
    ):
        if flag and values:
            raise click.UsageError(f"give new {label} or clear them, not both")
    changes = {
        "staging_checks": () if clear_staging_checks else (staging_checks or None),
        "production_checks": () if clear_production_checks else (production_checks or None),
        "approvals_required": approvals,
        "approvers": () if clear_approvers else (approvers or None),
        "allow_self_approval": self_approval,
    }
    if all(value is None for value in changes.values()):
        current = registry.get_policy(name)
    else:
        current = registry.set_policy(name, **changes)
    _emit(ctx, current, lambda: [
        f"staging checks:     {', '.join(current.staging_checks) or '(none)'}",
        f"production checks:  {', '.join(current.production_checks) or '(none)'}",
        f"approvals required: {current.approvals_required}",
        f"approvers:          {', '.join(current.approvers) or '(anyone)'}",
        f"self-approval:      {'allowed' if current.allow_self_approval else 'not allowed'}",
    ])


# --- audit and database ---------------------------------------------------------------------


@cli.command()
@click.argument("name", required=False)
@click.option("--version", "version", help="Only events of this version (needs NAME).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="The newest this many events.")
@click.option("--verify", is_flag=True, help="Check the whole hash chain; exit 1 if it is broken.")
@common_options
@click.pass_context
def audit(ctx: click.Context, name: str | None, version: str | None, limit: int, verify: bool) -> None:
    """Show the audit log (all models, or NAME), or verify its hash chain with --verify."""
    registry = _registry(ctx)
    if verify:
        if name or version:
            raise click.UsageError("--verify checks the whole chain; it takes no NAME or --version")
        report = registry.verify_audit()
        _emit(ctx, report, lambda: [
            f"audit log intact: {report.events} events, head #{report.head_seq} {report.head_hash}"
            if report.intact else
            f"audit log BROKEN at event {report.first_bad_seq}: {report.problem}"
        ])
        if not report.intact:
            ctx.exit(1)
        return
    events = registry.audit_events(name, version=version, limit=limit)

    def human() -> Iterable[str]:
        if not events:
            return ["no audit events"]
        return [
            f"#{e.seq} {e.recorded_at} {e.actor} {e.action} "
            f"{e.model or ''}{' v' + str(e.version) if e.version is not None else ''} "
            f"{_compact(e.before)} -> {_compact(e.after)}"
            for e in events
        ]

    _emit(ctx, events, human)


@cli.group()
def db() -> None:
    """Manage the catalog database's schema."""


@db.command("upgrade")
@common_options
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the catalog schema to this registry's version, keeping all data."""
    state = ctx.find_root().obj
    database = Database(state.db)
    try:
        before = database.schema_status()
        after = database.upgrade()
    finally:
        database.dispose()
    _emit(ctx, {"from": before.current, "to": after.current, "head": after.head}, lambda: [
        f"schema already at {after.current}" if before.current == after.current
        else f"schema upgraded from {before.current or '(empty)'} to {after.current}"
    ])


@db.command("status")
@common_options
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the catalog schema's revision and whether it needs an upgrade."""
    state = ctx.find_root().obj
    database = Database(state.db)
    try:
        status = database.schema_status()
    finally:
        database.dispose()
    _emit(ctx, {"current": status.current, "head": status.head, "up_to_date": status.up_to_date}, lambda: [
        f"schema at {status.current or '(empty)'}, this registry needs {status.head}"
        + ("" if status.up_to_date else ": run 'registry db upgrade'")
    ])


# --- serving and webhooks ----------------------------------------------------------------------

RELOAD_SECRET_ENV = "REGISTRY_RELOAD_SECRET"
WEBHOOK_SECRET_ENV = "REGISTRY_WEBHOOK_SECRET"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@cli.command("serve")
@click.argument("model_uri", metavar="MODEL_URI")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--reload-secret", envvar=RELOAD_SECRET_ENV, metavar="SECRET",
              help=f"Shared secret POST /reload must present as 'Authorization: Bearer SECRET' (16+ characters); without it /reload is disabled. Env: {RELOAD_SECRET_ENV}.")
@click.option("--poll-interval", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True, metavar="SECONDS",
              help="How often to read the catalog's event log for changes (the fallback when no /reload comes).")
@click.option("--shadow", "shadow_uri", metavar="URI", help="Also score every request with this version, logging (never returning) its answers; needs --prediction-log.")
@click.option("--canary", "canary_uri", metavar="URI", help="Route --canary-percent of requests to this version.")
@click.option("--canary-percent", type=click.FloatRange(0, 100), default=0.0, metavar="N", help="Share of requests the canary answers.")
@click.option("--prediction-log", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Append every scored request (records, answer, shadow answer) to this JSONL file.")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True, help="Server log verbosity.")
@common_options
@click.pass_context
def serve_command(
    ctx: click.Context, model_uri: str, host: str, port: int, reload_secret: str | None, poll_interval: float,
    shadow_uri: str | None, canary_uri: str | None, canary_percent: float, prediction_log: Path | None, log_level: str,
) -> None:
    """Serve MODEL_URI (a stage or alias, e.g. models:/NAME/Production) over HTTP, following every change.

    Endpoints: POST /predict, GET /health, GET /version, GET /metrics, POST /reload.
    A new version is loaded, verified and warmed up in the background, then
    swapped in atomically; one that fails is never served. Stops on Ctrl-C or SIGTERM.
    """
    from .serving import ServingOptions
    from .serving import serve as run_server

    options = ServingOptions(
        model_uri=model_uri, reload_secret=reload_secret or None, poll_interval=poll_interval,
        shadow_uri=shadow_uri, canary_uri=canary_uri, canary_percent=canary_percent, prediction_log=prediction_log,
    )
    registry = _registry(ctx)
    _log_to_stderr(log_level)

    def ready(runtime: Any, address: Any) -> None:
        current = runtime.primary.current
        click.echo(
            f"serving {model_uri} (version {current.info.version}) on http://{address[0]}:{address[1]}"
            + ("" if options.reload_secret else "; POST /reload disabled (no --reload-secret)"),
            err=True,
        )

    run_server(registry, options, host=host, port=port, log_level=log_level, on_ready=ready)


@cli.group()
def webhook() -> None:
    """Send registry events to receivers: subscriptions, and the delivery worker."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, metavar="TYPE",
              help="An event type (repeatable), or 'all': version_created, stage_changed, check_recorded, "
                   "approval_recorded, promoted, rolled_back, deployed.")
@click.option("--secret", envvar=WEBHOOK_SECRET_ENV, required=True, metavar="SECRET",
              help=f"Signs every delivery (HMAC-SHA256, 16+ characters). Env: {WEBHOOK_SECRET_ENV}.")
@click.option("--model", help="Only this model's events (default: every model).")
@common_options
@click.pass_context
def webhook_add(ctx: click.Context, url: str, events: tuple[str, ...], secret: str, model: str | None) -> None:
    """Subscribe URL (http or https) to registry events."""
    info = _registry(ctx).add_webhook(url, events=events, secret=secret, model=model)
    _emit(ctx, info, lambda: [f"Added webhook {info.id}: {info.url} <- {', '.join(info.events)}"
                              + (f" (model {info.model})" if info.model else "")])


@webhook.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed subscriptions.")
@common_options
@click.pass_context
def webhook_list(ctx: click.Context, include_removed: bool) -> None:
    """List webhook subscriptions with their pending and delivered event counts."""
    found = _registry(ctx).list_webhooks(include_removed=include_removed)

    def human() -> Iterable[str]:
        rows = [
            (str(w.id), w.url, ",".join(w.events), w.model or "*", str(w.pending), str(w.delivered),
             "removed" if w.removed_at else "active")
            for w in found
        ]
        return _table(("ID", "URL", "EVENTS", "MODEL", "PENDING", "DELIVERED", "STATE"), rows) if rows else ["no webhooks"]

    _emit(ctx, found, human)


@webhook.command("remove")
@click.argument("subscription_id", metavar="ID")
@common_options
@click.pass_context
def webhook_remove(ctx: click.Context, subscription_id: str) -> None:
    """Stop webhook ID; its undelivered events are dropped."""
    info = _registry(ctx).remove_webhook(subscription_id)
    _emit(ctx, info, lambda: [f"Removed webhook {info.id} ({info.url}); {info.pending} undelivered event(s) dropped"])


@webhook.command("deliveries")
@click.argument("subscription_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="The newest this many events.")
@common_options
@click.pass_context
def webhook_deliveries(ctx: click.Context, subscription_id: str, limit: int) -> None:
    """Show webhook ID's newest events and every delivery attempt."""
    found = _registry(ctx).webhook_deliveries(subscription_id, limit=limit)

    def human() -> Iterable[str]:
        if not found:
            return ["no events"]
        lines = []
        for d in found:
            state = f"delivered {_when(d.delivered_at)}" if d.delivered_at else f"pending, next try {_when(d.next_attempt_at)}"
            lines.append(f"{d.event_id} {d.event_type} (audit #{d.audit_seq}): {state}, {d.attempts} attempt(s)")
            lines.extend(
                f"  #{a.number} {_when(a.attempted_at)} "
                + (f"HTTP {a.status_code}" if a.status_code is not None else "no response")
                + f" in {a.duration_ms:.0f} ms" + (f": {a.error}" if a.error else "")
                for a in d.attempt_log
            )
        return lines

    _emit(ctx, found, human)


@webhook.command("deliver")
@click.option("--once", is_flag=True, help="Make one pass over the events due now, then exit.")
@click.option("--poll-interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True, metavar="SECONDS",
              help="How often to look for new events.")
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True, metavar="SECONDS",
              help="How long one attempt waits for the receiver.")
@click.option("--max-backoff", type=click.FloatRange(1, 86_400), default=60.0, show_default=True, metavar="SECONDS",
              help="Longest wait between retries of one event (delays double from 1 s up to this).")
@common_options
@click.pass_context
def webhook_deliver(ctx: click.Context, once: bool, poll_interval: float, timeout: float, max_backoff: float) -> None:
    """Deliver queued events to their subscribers: signed, retried with backoff, in order per subscriber."""
    from .webhooks.delivery import RetryPolicy, WebhookDeliverer

    registry = _registry(ctx)
    _log_to_stderr("info")
    deliverer = WebhookDeliverer(registry, retry=RetryPolicy(max_delay=max_backoff), timeout=timeout)
    try:
        if once:
            result = deliverer.deliver_due()
            _emit(ctx, result, lambda: [
                f"delivered {result.delivered}, failed {result.failed}"
                + (f"; next retry due {_when(result.next_due)}" if result.next_due else "")
            ])
            return
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"delivering webhook events (every {poll_interval:g} s; Ctrl-C or SIGTERM stops)", err=True)
        try:
            deliverer.run(stop, idle_interval=poll_interval)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        deliverer.close()


# --- formatting -------------------------------------------------------------------------------


@contextlib.contextmanager
def _progress_bar(total: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and the work is large enough to watch."""
    if not total or total < 32 * 1024 * 1024 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
        yield bar.update


def _read_text(path: str, *, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path!r} is not UTF-8 text") from None


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else "{}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _change_lines(change: StageChange) -> list[str]:
    v = change.version
    lines = [f"{v.model} version {v.version}: {change.previous_stage} -> {v.stage}"]
    if change.archived is not None:
        lines.append(f"{v.model} version {change.archived.version}: Production -> Archived")
    return lines


def _version_lines(v: VersionInfo) -> list[str]:
    lines = [
        f"{v.uri}",
        f"  stage:          {v.stage} (since {_when(v.stage_changed_at)})",
        f"  registered by:  {v.registered_by} at {_when(v.created_at)}",
        f"  artifact:       {v.artifact_kind} at {v.artifact_uri}",
        f"  sha256:         {v.artifact_sha256} ({v.artifact_size} bytes)",
        f"  run id:         {v.run_id or '-'}",
        f"  dataset digest: {v.dataset_digest or '-'}",
    ]
    if v.description:
        lines.append(f"  description:    {v.description}")
    for label, mapping in (("params", v.params), ("metrics", v.metrics), ("tags", v.tags)):
        if mapping:
            lines.append(f"  {label + ':':<15} " + ", ".join(f"{k}={val}" for k, val in sorted(mapping.items())))
    if v.signature:
        lines.append(f"  signature:      {_compact(v.signature)}")
    return lines


def _details_lines(d: VersionDetails) -> list[str]:
    lines = _version_lines(d.version)
    if d.aliases:
        lines.append(f"  aliases:        {', '.join(d.aliases)}")
    lines.append("  checks:" + ("" if d.checks else "         (none)"))
    lines.extend(
        f"    {c.name}: {'passed' if c.passed else 'FAILED'} by {c.recorded_by} at {_when(c.recorded_at)}"
        + (f" {_compact(c.details)}" if c.details else "")
        for c in d.checks
    )
    lines.append("  decisions:" + ("" if d.decisions else "      (none)"))
    lines.extend(
        f"    {a.decision}d by {a.approver} at {_when(a.recorded_at)}" + (f": {a.comment}" if a.comment else "")
        for a in d.decisions
    )
    lines.append("  stage history:")
    lines.extend(f"    #{e.seq} {e.recorded_at} {e.actor}: {_stage_change(e)}" for e in d.stage_history)
    if d.next_stage is not None:
        if d.unmet_gates:
            lines.append(f"  before {d.next_stage}:")
            lines.extend(f"    - {gate}" for gate in d.unmet_gates)
        else:
            lines.append(f"  before {d.next_stage}: every gate met")
    return lines


def _stage_change(event: AuditEntry) -> str:
    if event.action == "version.register":
        return f"registered in {event.after.get('stage')}"
    text = f"{event.before.get('stage')} -> {event.after.get('stage')}"
    if event.after.get("reason"):
        text += f" ({event.after['reason']})"
    if event.after.get("approved_by"):
        text += f", approved by {', '.join(event.after['approved_by'])}"
    return text


def _model_lines(m: Any) -> list[str]:
    return [
        f"models:/{m.name}",
        f"  description:   {m.description or '-'}",
        f"  latest:        {m.latest_version or '-'}",
        f"  production:    {m.production_version or '-'}",
        f"  aliases:       {', '.join(f'{a}->{v}' for a, v in m.aliases.items()) or '-'}",
        f"  tags:          {', '.join(f'{k}={v}' for k, v in m.tags.items()) or '-'}",
        f"  created by:    {m.created_by} at {_when(m.created_at)}",
        f"  policy:        {_compact(m.policy.to_dict())}",
    ]


def main() -> None:
    """Entry point of the ``registry`` console script."""
    cli(prog_name="registry")


if __name__ == "__main__":
    main()


