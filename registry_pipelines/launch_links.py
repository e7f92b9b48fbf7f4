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

from .model_pipeline import ModelPipeline

__all__ = ["decision_links", "launchpad_url"]


def launchpad_url(location: str, job: str, *, config_yaml: str, tags: dict[str, str]) -> str:
    query: dict[str, str] = {"config": config_yaml}
    for index, (key, value) in enumerate(tags.items()):
        query[f"tags[{index}][key]"] = key
        query[f"tags[{index}][value]"] = value
    return f"/locations/{urllib.parse.quote(location, safe='')}/jobs/{job}/playground/setup?{urllib.parse.urlencode(query)}"


def decision_links(context: OpExecutionContext, pipeline: ModelPipeline, version: int) -> dict[str, Any]:
    """``approve this version`` and ``reject this version``: the Launchpad with the version picked, only a name to type."""
    origin = getattr(context.dagster_run, "remote_job_origin", None)
    if origin is None:
        return {}
    location = origin.location_name
    links = {}
    for step in ("approve", "reject"):
        config = f"ops:\n  {pipeline.op_name(step)}:\n    config:\n      approver: ''\n      comment: ''\n"
        tags = {"dagster/partition": str(version), "registry/version": str(version)}
        url = launchpad_url(location, pipeline.job_name(step), config_yaml=config, tags=tags)
        links[f"{step} this version"] = MetadataValue.url(url)
    return links
