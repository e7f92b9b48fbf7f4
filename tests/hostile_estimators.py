"""An estimator whose pickle runs code when loaded: what trusted loading must never deserialize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class CodeOnUnpickle(ClassifierMixin, BaseEstimator):
    """An estimator whose pickle, when loaded, creates the file ``marker``: code run by deserializing it."""

    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def fit(self, X: Any, y: Any) -> CodeOnUnpickle:
        if hasattr(X, "columns"):  # fitted on a frame, as a served model is: it knows its feature names
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.n_features_in_ = X.shape[1]
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.marker),))


class CrashOnRestore(ClassifierMixin, BaseEstimator):
    """An estimator whose restoring kills the process that restores it, as a native crash in a trusted type would."""

    def fit(self, X: Any, y: Any) -> CrashOnRestore:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)

    def __setstate__(self, state: dict[str, Any]) -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)


class GreedyOnRestore(CrashOnRestore):
    """An estimator whose restoring asks for 3 GiB of address space (never touched, so harmless where it is granted)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.buffer_ = np.empty(3 << 30, dtype=np.uint8)


class CrashOnPredict(CrashOnRestore):
    """An estimator that restores cleanly and kills its process when it predicts, as a forged native structure would."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def predict(self, X: Any) -> Any:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
