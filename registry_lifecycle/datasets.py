"""Data sets as the lifecycle sees them: a digest for lineage, a reproducible holdout, a signature."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # pandas is imported where a frame is handled, not when a code location loads (each Dagster run loads it).
    import pandas as pd

__all__ = ["dataset_digest", "features_and_target", "holdout_split", "signature"]


def dataset_digest(frame: pd.DataFrame) -> str:
    """``sha256:…`` of the frame's column names, dtypes and values (row order matters, the index does not)."""
    import pandas as pd

    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise ValueError(f"the data has no target column {target!r} (columns: {', '.join(map(str, frame.columns))})")
    return frame.drop(columns=[target]), frame[target]


def holdout_split(frame: pd.DataFrame, target: str, *, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout rows): seeded, and stratified on the target when every class can be."""
    from sklearn.model_selection import train_test_split

    labels = frame[target]
    counts = labels.value_counts()
    stratify = labels if len(counts) > 1 and counts.min() >= 2 else None
    train, holdout = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    return train, holdout


def signature(features: pd.DataFrame, target: pd.Series, *, classes: Sequence[Any] | None = None) -> dict[str, Any]:
    """The model's input columns and output, as the registry records them.

    ``classes`` are a classifier's labels in the order of its probability
    columns: a booster stored in its own format keeps only their indices.
    """
    output: dict[str, Any] = {"name": str(target.name), "type": str(target.dtype)}
    if classes is not None:
        output["classes"] = [value.item() if hasattr(value, "item") else value for value in classes]
    return {
        "inputs": [{"name": str(name), "type": str(dtype)} for name, dtype in features.dtypes.items()],
        "output": output,
    }
