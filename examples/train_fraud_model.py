"""Train a small fraud classifier on synthetic, imbalanced transactions and save it.

Prints the registration arguments (metrics, params, dataset digest) as JSON so
that the lifecycle demo can hand them to ``registry register``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path, help="where to write the pickled model")
    parser.add_argument("--seed", type=int, default=7, help="data and model seed")
    parser.add_argument("--trees", type=int, default=50, help="number of trees")
    args = parser.parse_args()

    features, labels = make_classification(
        n_samples=4000, n_features=12, n_informative=6, weights=[0.97, 0.03],
        class_sep=1.2, random_state=args.seed,
    )
    dataset_digest = hashlib.sha256(
        np.ascontiguousarray(features).tobytes() + np.ascontiguousarray(labels).tobytes()
    ).hexdigest()
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.25, stratify=labels, random_state=args.seed
    )
    model = RandomForestClassifier(n_estimators=args.trees, max_depth=6, random_state=args.seed, n_jobs=1)
    model.fit(x_train, y_train)
    scores = model.predict_proba(x_test)[:, 1]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(pickle.dumps(model))
    print(json.dumps({
        "dataset_digest": f"sha256:{dataset_digest}",
        "params": {"n_estimators": args.trees, "max_depth": 6, "seed": args.seed},
        "metrics": {
            "roc_auc": round(float(roc_auc_score(y_test, scores)), 4),
            "average_precision": round(float(average_precision_score(y_test, scores)), 4),
            "fraud_rate": round(float(labels.mean()), 4),
        },
    }))


if __name__ == "__main__":
    main()
