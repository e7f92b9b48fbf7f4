"""Links into the Launchpad with the version and config already filled in: a decision one click away.

The Launchpad reads ``config`` and ``tags`` from its URL; a ``dagster/partition``
tag selects the partition. Links are relative to the webserver and name the
code location of the run that makes them, so they exist only in runs launched
by a Dagster deployment (not in runs executed in process).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from dagster import MetadataValue, OpExecutionContext

from .model_pipeline import ModelPipeline, dagster_prefix

__all__ = ["decision_links", "decision_urls", "launchpad_url", "rollback_links"]


def launchpad_url(location: str, job: str, *, config_yaml: str, tags: dict[str, str]) -> str:
    query: dict[str, str] = {"config": config_yaml}
    for index, (key, value) in enumerate(tags.items()):
        query[f"tags[{index}][key]"] = key
        query[f"tags[{index}][value]"] = value
    return f"/locations/{urllib.parse.quote(location, safe='')}/jobs/{job}/playground/setup?{urllib.parse.urlencode(query)}"


def decision_urls(location: str, model: str, version: int) -> dict[str, str]:
    """``approve`` and ``reject`` → the Launchpad of that job with ``version`` picked and only the approver to type."""
    prefix = dagster_prefix(model)
    urls = {}
    for step in ("approve", "reject"):
        config = f"ops:\n  {prefix}__{step}:\n    config:\n      approver: ''\n      comment: ''\n      totp: ''\n"
        tags = {"dagster/partition": str(version), "registry/version": str(version)}
        urls[step] = launchpad_url(location, f"{prefix}_{step}", config_yaml=config, tags=tags)
    return urls


def decision_links(context: OpExecutionContext, pipeline: ModelPipeline, version: int) -> dict[str, Any]:
    """A ``decide`` entry linking to the approve and reject Launchpads with the version picked: only a name to type."""
    origin = getattr(context.dagster_run, "remote_job_origin", None)
    if origin is None:
        return {}
    urls = decision_urls(origin.location_name, pipeline.name, version)
    links = [f"[{step.capitalize()} version {version}]({url})" for step, url in urls.items()]
    return {"decide": MetadataValue.md(" · ".join(links))}


def rollback_links(context: OpExecutionContext, pipeline: ModelPipeline, versions: list[int]) -> dict[str, Any]:
    """A ``roll back`` entry linking to the rollback Launchpad for each formerly-Production version, newest first."""
    origin = getattr(context.dagster_run, "remote_job_origin", None)
    if origin is None or not versions:
        return {}
    links = []
    for version in versions:
        config = f"ops:\n  {pipeline.op_name('roll_back')}:\n    config:\n      requested_by: ''\n      reason: ''\n"
        tags = {"dagster/partition": str(version), "registry/version": str(version)}
        url = launchpad_url(origin.location_name, pipeline.job_name("rollback"), config_yaml=config, tags=tags)
        links.append(f"[Roll back to version {version}]({url})")
    return {"roll back": MetadataValue.md(" · ".join(links) + " — opens the Launchpad; nothing changes until you launch")}
