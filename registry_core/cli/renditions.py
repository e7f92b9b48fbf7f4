"""The ``render`` command: an ONNX rendition of a scikit-learn version, measured on validation data from a file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from ..errors import InvalidInput
from .context import common_options, emit, registry

#: The largest validation file read (the records it may hold are bounded again once read).
MAX_DATA_BYTES = 256 * 1024 * 1024


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--onnx", "onnx", is_flag=True, help="Render as ONNX with skl2onnx (the one rendition there is; required).")
@click.option("--data", "data_path", required=True, metavar="FILE",
              help="Validation records (.csv with a header row, or .parquet) on which the parity is measured.")
@common_options
@click.pass_context
def render(ctx: click.Context, name: str, version: str, onnx: bool, data_path: str) -> None:
    """Record an ONNX rendition of VERSION of NAME (a scikit-learn estimator stored with skops), with its parity.

    The parity is the largest absolute difference between the estimator's own predict_proba (predict for a
    regressor) and the rendition's on the records of --data. The version itself is not changed. Serving uses
    the rendition only within the tolerance the policy sets (registry policy NAME --onnx-parity TOL).
    """
    if not onnx:
        raise click.UsageError("say --onnx: ONNX is the one rendition the registry makes")
    rendition = registry(ctx).render_onnx(name, version, read_validation_data(data_path))
    emit(ctx, rendition, lambda: [
        f"Rendered {name} version {rendition.version} as ONNX with {rendition.converter} {rendition.converter_version}"
        f" (sha256 {rendition.artifact_sha256}, {rendition.artifact_size} bytes)",
        f"parity: {rendition.parity:.3g} (largest difference of {rendition.parity_output} over "
        f"{rendition.validation_rows} validation records)",
    ])


def read_validation_data(path: str) -> Any:
    """The records of a .csv (with a header row) or .parquet file, as a data frame; bad files are one line."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInput(f"validation data {path!r} must be a .csv or .parquet file")
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read validation data {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"validation data {path!r} is not a regular file")
    if info.st_size > MAX_DATA_BYTES:
        raise InvalidInput(f"validation data {path!r} is over {MAX_DATA_BYTES // (1024 * 1024)} MiB; give a sample")
    import pandas as pd

    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except ImportError as exc:
        raise InvalidInput(f"reading {path!r} needs {exc.name or 'pyarrow'} (pip install pyarrow), or give a .csv") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot read validation data {path!r}: {first}") from None


COMMANDS = (render,)
