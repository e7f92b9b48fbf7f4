"""Steps the MLflow tests share: train a small model, log and register it the way the seed does."""

from __future__ import annotations

from typing import Any

#: What a model logged by these tests needs; given, so that MLflow does not infer it in a subprocess per log_model.
PIP_REQUIREMENTS = ["scikit-learn", "cloudpickle"]


def train(data: tuple[Any, Any], seed: int) -> Any:
    """A small random forest: enough to tell two versions apart by their predictions."""
    from sklearn.ensemble import RandomForestClassifier

    features, target = data
    return RandomForestClassifier(n_estimators=5, max_depth=4, random_state=seed).fit(features, target)


def log_and_register(data: tuple[Any, Any], seed: int, name: str = "fraud-detector") -> Any:
    """The seed's log_model(registered_model_name=...), with MLflow 3.x's cloudpickle opt-in for a forest.

    The requirements are given: inferring them loads the model in a Python process of its own, seconds a call
    that test nothing of the registry's (the catalog stores the folder whatever its requirements say).
    """
    import mlflow.sklearn

    model = train(data, seed)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            sk_model=model, name="model", registered_model_name=name, serialization_format="cloudpickle",
            pip_requirements=PIP_REQUIREMENTS,
        )
    return model
