"""Where a request is scored: a fast version's small request on the event loop, anything slower on a worker thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from test_serving import register_ready, serving, trust

from registry_core import Registry
from registry_core.serving.model_holder import INLINE_SECONDS

#: The thread each prediction ran on, newest last.
PREDICTED_ON: list[str] = []
WIDTH = 4
#: The thread BackgroundServer runs uvicorn's event loop on.
EVENT_LOOP = "uvicorn"


class ThreadNoting(ClassifierMixin, BaseEstimator):
    """A logistic regression on arrays that notes the thread each prediction runs on, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def fit(self, X: Any, y: Any) -> ThreadNoting:
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        self.n_features_in_ = self.inner_.n_features_in_
        return self

    def predict(self, X: Any) -> Any:
        PREDICTED_ON.append(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        return self.inner_.predict(X)


def served(registry: Registry, delay: float) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, WIDTH))
    trust(registry, ThreadNoting)
    register_ready(registry, ThreadNoting(delay).fit(features, (features[:, 0] > 0).astype(int)))
    registry.promote("fraud", 1)


def scored_on(client: Any, records: list[list[float]]) -> str:
    PREDICTED_ON.clear()
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(records)
    assert len(PREDICTED_ON) == 1
    return PREDICTED_ON[0]


def test_a_fast_version_scores_a_single_record_on_the_event_loop(registry: Registry):
    """A version scoring one record in microseconds answers on the server's own thread: no hop to a worker."""
    served(registry, delay=0.0)
    with serving(registry) as (_server, client):
        assert client.get("/version").json()["serving"]["record_seconds"] <= INLINE_SECONDS
        assert scored_on(client, [[0.1] * WIDTH]) == EVENT_LOOP


def test_a_fast_versions_large_batch_is_scored_on_a_worker_thread(registry: Registry):
    """Records that would hold the event loop past the budget go to a worker thread, even for a fast version."""
    served(registry, delay=0.0)
    with serving(registry) as (_server, client):
        assert scored_on(client, [[0.1] * WIDTH] * 5000) != EVENT_LOOP


def test_a_slow_version_scores_on_a_worker_thread(registry: Registry):
    """A version slower than the budget never scores on the event loop, so the loop answers others meanwhile."""
    served(registry, delay=0.005)
    with serving(registry) as (_server, client):
        assert client.get("/version").json()["serving"]["record_seconds"] > INLINE_SECONDS
        assert scored_on(client, [[0.1] * WIDTH]) != EVENT_LOOP
