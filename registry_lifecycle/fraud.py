"""The shipped example's model, for every orchestrator: a fraud detector on synthetic, imbalanced card transactions.

About 3.5% of transactions are fraudulent. Features ``v1``–``v6`` stand for
anonymised signals (as in the well-known card-fraud data sets) and ``amount``
for the transaction amount; the label is ``is_fraud``. Training data and the
"recent" evaluation data are independent samples of the same process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # numpy and pandas are imported when data is made, not when a code location loads (each Dagster run loads it).
    import pandas as pd

__all__ = [
    "FRAUD_BOOSTER_DESCRIPTION",
    "FRAUD_BOOSTER_MODEL",
    "FRAUD_BOOSTER_PARAMS",
    "FRAUD_DESCRIPTION",
    "FRAUD_METRIC_GATES",
    "FRAUD_MODEL",
    "FRAUD_PARAMS",
    "FRAUD_SHADOW_TOLERANCE",
    "FRAUD_TARGET",
    "fraud_expectations",
    "load_recent_transactions",
    "load_transactions",
    "synthetic_transactions",
    "train_fraud_booster",
    "train_fraud_classifier",
]

FRAUD_MODEL = "fraud-detector"
SIGNALS = ("v1", "v2", "v3", "v4", "v5", "v6")
COLUMNS = (*SIGNALS, "amount", "is_fraud")
_WEIGHTS = (2.2, -1.8, 1.5, 0.0, 1.0, -0.8)
_AMOUNT_WEIGHT = 0.8
_BIAS = 10.0
#: The label column.
FRAUD_TARGET = "is_fraud"
FRAUD_DESCRIPTION = "Flags card transactions likely to be fraudulent (synthetic example data)."
#: Training parameters; a retrain may override them.
FRAUD_PARAMS = {"n_estimators": 40, "max_depth": 5, "min_samples_leaf": 3, "seed": 7}
#: Thresholds a candidate must meet on the recent transactions before Staging.
FRAUD_METRIC_GATES = {"roc_auc": (">=", 0.85), "average_precision": (">=", 0.30)}
#: How far a gated metric may fall behind Production's in shadow evaluation.
FRAUD_SHADOW_TOLERANCE = 0.02
#: The second example model: the same transactions and gates, gradient-boosted trees trained with LightGBM.
FRAUD_BOOSTER_MODEL = "fraud-detector-lightgbm"
FRAUD_BOOSTER_DESCRIPTION = (
    "Flags card transactions likely to be fraudulent with LightGBM's gradient-boosted trees (synthetic example data)."
)
FRAUD_BOOSTER_PARAMS = {"n_estimators": 60, "num_leaves": 15, "learning_rate": 0.05, "min_child_samples": 20, "seed": 7}


def synthetic_transactions(rows: int, *, seed: int) -> pd.DataFrame:
    """``rows`` transactions drawn from one fixed fraud process; ``seed`` picks the sample, not the process."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    signals = rng.normal(size=(rows, len(SIGNALS)))
    amount = rng.lognormal(mean=3.5, sigma=1.0, size=rows)
    logit = signals @ np.array(_WEIGHTS) + _AMOUNT_WEIGHT * np.log(amount) - _BIAS
    is_fraud = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    frame = pd.DataFrame(signals, columns=list(SIGNALS))
    frame["amount"] = amount.round(2)
    frame["is_fraud"] = is_fraud
    return frame


def load_transactions() -> pd.DataFrame:
    """The training data: 6,000 labelled transactions."""
    return synthetic_transactions(6000, seed=1)


def load_recent_transactions() -> pd.DataFrame:
    """Recent labelled transactions, for validation and shadow evaluation."""
    return synthetic_transactions(3000, seed=2)


def train_fraud_classifier(features: pd.DataFrame, target: pd.Series, params: Mapping[str, Any]) -> Any:
    """A random forest that weighs the rare fraud class up."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(
        n_estimators=int(params.get("n_estimators", 40)),
        max_depth=int(params.get("max_depth", 5)),
        min_samples_leaf=int(params.get("min_samples_leaf", 3)),
        class_weight="balanced_subsample",
        random_state=int(params.get("seed", 7)),
        n_jobs=1,
    )
    return model.fit(features, target)


def train_fraud_booster(features: pd.DataFrame, target: pd.Series, params: Mapping[str, Any]) -> Any:
    """LightGBM's scikit-learn wrapper, weighing the rare fraud class up; registered as LightGBM's own text model."""
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(
        n_estimators=int(params.get("n_estimators", 60)),
        num_leaves=int(params.get("num_leaves", 15)),
        learning_rate=float(params.get("learning_rate", 0.05)),
        min_child_samples=int(params.get("min_child_samples", 20)),
        class_weight="balanced",
        random_state=int(params.get("seed", 7)),
        n_jobs=1,
        verbose=-1,
    )
    return model.fit(features, target)


def fraud_expectations() -> list[Any]:
    """The transactions suite: shape, completeness, valid labels and amounts, a plausible fraud rate."""
    import great_expectations as gx

    expect = gx.expectations
    return [
        expect.ExpectTableColumnsToMatchSet(column_set=list(COLUMNS), exact_match=True),
        expect.ExpectTableRowCountToBeBetween(min_value=1000),
        *(expect.ExpectColumnValuesToNotBeNull(column=column) for column in COLUMNS),
        expect.ExpectColumnValuesToBeInSet(column="is_fraud", value_set=[0, 1]),
        expect.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=1_000_000),
        expect.ExpectColumnMeanToBeBetween(column="is_fraud", min_value=0.005, max_value=0.2),
    ]
