"""The ``webhook`` commands: subscriptions, their deliveries, and the delivery worker."""

from __future__ import annotations

import signal
import threading

import click

from . import render
from .context import common_options, emit, log_to_stderr, registry

WEBHOOK_SECRET_ENV = "REGISTRY_WEBHOOK_SECRET"


@click.group()
def webhook() -> None:
    """Send registry events to receivers: subscriptions, and the delivery worker."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, metavar="TYPE",
              help="An event type (repeatable), or 'all': version_created, stage_changed, check_recorded, "
                   "approval_recorded, promoted, rolled_back, deployed, version_deleted, model_deleted, "
                   "artifact_attached.")
@click.option("--secret", envvar=WEBHOOK_SECRET_ENV, required=True, metavar="SECRET",
              help="Standard Webhooks signing secret: whsec_ + base64 of 24-64 random bytes "
                   f"(older secrets of 16-512 characters still work). Env: {WEBHOOK_SECRET_ENV}.")
@click.option("--model", help="Only this model's events (default: every model).")
@common_options
@click.pass_context
def webhook_add(ctx: click.Context, url: str, events: tuple[str, ...], secret: str, model: str | None) -> None:
    """Subscribe URL (http or https) to registry events."""
    info = registry(ctx).add_webhook(url, events=events, secret=secret, model=model)
    emit(ctx, info, lambda: [f"Added webhook {info.id}: {info.url} <- {', '.join(info.events)}"
                             + (f" (model {info.model})" if info.model else "")])


@webhook.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed subscriptions.")
@common_options
@click.pass_context
def webhook_list(ctx: click.Context, include_removed: bool) -> None:
    """List webhook subscriptions with their pending and delivered event counts."""
    found = registry(ctx, read_only=True).list_webhooks(include_removed=include_removed)
    emit(ctx, found, lambda: render.webhook_table(found))


@webhook.command("remove")
@click.argument("subscription_id", metavar="ID")
@common_options
@click.pass_context
def webhook_remove(ctx: click.Context, subscription_id: str) -> None:
    """Stop webhook ID; its undelivered events are dropped."""
    info = registry(ctx, read_only=True).remove_webhook(subscription_id)
    emit(ctx, info, lambda: [f"Removed webhook {info.id} ({info.url}); {info.pending} undelivered event(s) dropped"])


@webhook.command("deliveries")
@click.argument("subscription_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="The newest this many events.")
@common_options
@click.pass_context
def webhook_deliveries(ctx: click.Context, subscription_id: str, limit: int) -> None:
    """Show webhook ID's newest events and every delivery attempt."""
    found = registry(ctx, read_only=True).webhook_deliveries(subscription_id, limit=limit)
    emit(ctx, found, lambda: render.delivery_lines(found))


@webhook.command("deliver")
@click.option("--once", is_flag=True, help="Make one pass over the events due now, then exit.")
@click.option("--poll-interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True, metavar="SECONDS",
              help="How often to look for new events.")
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True, metavar="SECONDS",
              help="Total deadline of one attempt (name lookup, connect, TLS, send, the answer's head).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, metavar="N",
              help="Subscriptions delivered at once, each on its own; one slow receiver delays only its own queue.")
@click.option("--max-backoff", type=click.FloatRange(1, 86_400), default=60.0, show_default=True, metavar="SECONDS",
              help="Longest wait between retries of one event (delays double from 1 s up to this).")
@common_options
@click.pass_context
def webhook_deliver(
    ctx: click.Context, once: bool, poll_interval: float, timeout: float, concurrency: int, max_backoff: float
) -> None:
    """Deliver queued events to their subscribers: signed, retried with backoff, in order per subscriber."""
    from ..webhooks.delivery import RetryPolicy, WebhookDeliverer

    catalog = registry(ctx, read_only=True)
    log_to_stderr("info")
    deliverer = WebhookDeliverer(
        catalog, retry=RetryPolicy(max_delay=max_backoff), timeout=timeout, concurrency=concurrency
    )
    try:
        if once:
            result = deliverer.deliver_due()
            emit(ctx, result, lambda: [
                f"delivered {result.delivered}, failed {result.failed}"
                + (f"; next retry due {render.when(result.next_due)}" if result.next_due else "")
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


COMMANDS = (webhook,)
