"""Links into the Launchpad: the version picked and the config filled in, so a decision is one click away."""

from __future__ import annotations

import urllib.parse

from registry_pipelines.launch_links import launchpad_url


def test_launchpad_url_carries_config_and_partition_tag():
    """The Launchpad reads ``config`` and ``tags[i][key|value]`` from its URL; the location name is escaped."""
    url = launchpad_url(
        "registry_pipelines.definitions:defs", "fraud_detector_approve",
        config_yaml="ops:\n  x:\n    config:\n      approver: ''\n", tags={"dagster/partition": "3"},
    )
    path, _, query = url.partition("?")
    assert path == "/locations/registry_pipelines.definitions%3Adefs/jobs/fraud_detector_approve/playground/setup"
    fields = urllib.parse.parse_qs(query)
    assert fields["config"] == ["ops:\n  x:\n    config:\n      approver: ''\n"]
    assert (fields["tags[0][key]"], fields["tags[0][value]"]) == (["dagster/partition"], ["3"])


def test_runs_executed_in_process_make_no_links(lifecycle, pipeline, instance):
    """Without a code location to name (a run executed in process), the version's page has no decide links."""
    from .steps import to_staging
    from .test_pipeline_versions import latest

    to_staging(lifecycle, pipeline)
    assert "decide" not in latest(instance, "1").metadata
    assert latest(instance, "1").metadata["awaiting"].value == "a decision: approve or reject"
