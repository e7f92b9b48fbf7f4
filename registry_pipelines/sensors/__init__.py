"""Sensors driven by the catalog's audit log, built by small factory functions."""

from .catalog_sensor import catalog_event_sensor, lifecycle_run, read_cursor
from .lifecycle import build_approval_sensor, build_candidate_sensor, build_production_sensor, build_staging_sensor
from .review_sensor import REVIEW_SENSOR, build_review_sensor
from .version_sensor import build_version_sensor

__all__ = [
    "REVIEW_SENSOR",
    "build_approval_sensor",
    "build_candidate_sensor",
    "build_production_sensor",
    "build_review_sensor",
    "build_staging_sensor",
    "build_version_sensor",
    "catalog_event_sensor",
    "lifecycle_run",
    "read_cursor",
]
