"""The ``serve`` command: an HTTP server for a model URI that follows every change of the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .context import common_options, log_to_stderr, registry

RELOAD_SECRET_ENV = "REGISTRY_RELOAD_SECRET"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.command("serve")
@click.argument("model_uri", metavar="MODEL_URI")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--reload-secret", envvar=RELOAD_SECRET_ENV, metavar="SECRET",
              help=f"Shared secret POST /reload must present as 'Authorization: Bearer SECRET' (16+ characters); without it /reload is disabled. Env: {RELOAD_SECRET_ENV}.")
@click.option("--poll-interval", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True, metavar="SECONDS",
              help="How often to read the catalog's event log for changes (the fallback when no /reload comes).")
@click.option("--shadow", "shadow_uri", metavar="URI", help="Also score every request with this version, logging (never returning) its answers; needs --prediction-log. Loaded in a separate process first, so one that crashes its loader is reported, not served.")
@click.option("--canary", "canary_uri", metavar="URI", help="Route --canary-percent of requests to this version (loaded in a separate process first, like --shadow).")
@click.option("--canary-percent", type=click.FloatRange(0, 100), default=0.0, metavar="N", help="Share of requests the canary answers.")
@click.option("--prediction-log", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Append every scored request (records, answer, shadow answer) to this JSONL file.")
@click.option("--follow-unprotected-alias", is_flag=True,
              help="Allow following an unprotected alias, 'latest', or the None or Archived stage, which anyone may move to "
                   "any version without a gate.")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True, help="Server log verbosity.")
@common_options
@click.pass_context
def serve_command(
    ctx: click.Context, model_uri: str, host: str, port: int, reload_secret: str | None, poll_interval: float,
    shadow_uri: str | None, canary_uri: str | None, canary_percent: float, prediction_log: Path | None, log_level: str,
    follow_unprotected_alias: bool,
) -> None:
    """Serve MODEL_URI (a stage or alias, e.g. models:/NAME/Production) over HTTP, following every change.

    It follows stages, fixed versions and protected aliases (a protected alias
    only while its version meets the gates); an unprotected alias, 'latest'
    or the None or Archived stage needs --follow-unprotected-alias.

    Endpoints: POST /predict, GET /health, GET /version, GET /metrics, POST /reload,
    and the Open Inference Protocol (KServe V2): GET /v2/health/ready,
    GET /v2/models/NAME, POST /v2/models/NAME/infer and the rest of /v2.
    A new version is loaded, verified and warmed up in the background, then
    swapped in atomically; one that fails is never served. Stops on Ctrl-C or SIGTERM.
    """
    from ..serving import ServingOptions
    from ..serving import serve as run_server

    options = ServingOptions(
        model_uri=model_uri, reload_secret=reload_secret or None, poll_interval=poll_interval,
        shadow_uri=shadow_uri, canary_uri=canary_uri, canary_percent=canary_percent, prediction_log=prediction_log,
        follow_unprotected_alias=follow_unprotected_alias,
    )
    catalog = registry(ctx, read_only=True)
    log_to_stderr(log_level)
    if follow_unprotected_alias:
        click.echo(
            "warning: --follow-unprotected-alias: an unprotected alias or 'latest' (or the None or Archived stage) may be "
            "moved to any version, "
            "approved or not, and this server will answer with it",
            err=True,
        )

    def ready(runtime: Any, address: Any) -> None:
        current = runtime.primary.current
        click.echo(
            f"serving {model_uri} (version {current.info.version}) on http://{address[0]}:{address[1]}"
            + ("" if options.reload_secret else "; POST /reload disabled (no --reload-secret)"),
            err=True,
        )

    run_server(catalog, options, host=host, port=port, log_level=log_level, on_ready=ready)


COMMANDS = (serve_command,)
