"""Fitted models of scikit-learn's own classes whose tree structures were forged after fitting.

Each one restores without complaint, and scikit-learn's compiled predict
follows its nodes out of bounds or in a loop. ``python forged_trees.py CASE``
builds one and predicts with it, unchecked: what a server without the checks
would do with such a version.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

FEATURES = 4


def data(width: int = FEATURES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, width))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def forge_tree(owner: Any, mutate: Callable[[np.ndarray], None]) -> None:
    """Replace ``owner.tree_`` by the same tree with its node records changed by ``mutate``."""
    tree = owner.tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    mutate(nodes)
    forged = Tree(tree.n_features, np.asarray(tree.n_classes), tree.n_outputs)
    forged.__setstate__({**state, "nodes": nodes})
    owner.tree_ = forged


def tree_child_out_of_range() -> DecisionTreeClassifier:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(*data())
    forge_tree(model, lambda nodes: nodes["left_child"].__setitem__(0, 10**8))
    return model


def tree_feature_out_of_range() -> DecisionTreeClassifier:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(*data())
    forge_tree(model, lambda nodes: nodes["feature"].__setitem__(0, 10**8))
    return model


def tree_loop() -> DecisionTreeClassifier:
    """Node 0's right child is node 0 itself."""
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(*data())
    forge_tree(model, lambda nodes: nodes["right_child"].__setitem__(0, 0))
    return model


def forest_member(feature: int) -> RandomForestClassifier:
    """A forest whose first member's tree splits every node on ``feature``, while the member says it takes 4."""
    model = RandomForestClassifier(n_estimators=3, max_depth=8, random_state=0).fit(*data())
    wide = DecisionTreeClassifier(random_state=0).fit(*data(40))
    forge_tree(wide, lambda nodes: nodes["feature"].__setitem__(slice(None), np.where(nodes["feature"] >= 0, feature, -2)))
    wide.n_features_in_ = FEATURES
    model.estimators_[0] = wide
    return model


def boosting_more_trees_per_stage_than_outputs() -> GradientBoostingClassifier:
    """A binary boosting (one tree per stage) given three trees per stage: prediction writes past its output."""
    model = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(*data())
    model.estimators_ = np.repeat(model.estimators_, 3, axis=1)
    return model


def hist_boosting_child_out_of_range() -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(*data())
    predictor = model._predictors[0][0]
    nodes = predictor.nodes.copy()
    nodes["left"][0] = 10**8
    predictor.nodes = nodes
    return model


def kd_tree_index_out_of_range() -> KNeighborsClassifier:
    model = KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree").fit(*data())
    state = list(model._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][:] = 10**8  # every point's index, the nearest included
    forged = pickle.loads(pickle.dumps(model._tree))
    forged.__setstate__(tuple(state))
    model._tree = forged
    return model


CASES: dict[str, Callable[[], Any]] = {
    "tree-child-out-of-range": tree_child_out_of_range,
    "tree-feature-out-of-range": tree_feature_out_of_range,
    "tree-loop": tree_loop,  # loops for ever
    "forest-member-feature-out-of-range": lambda: forest_member(10**7),
    "forest-member-wider-than-forest": lambda: forest_member(39),
    "boosting-more-trees-per-stage-than-outputs": boosting_more_trees_per_stage_than_outputs,
    "hist-boosting-child-out-of-range": hist_boosting_child_out_of_range,
    "kd-tree-index-out-of-range": kd_tree_index_out_of_range,
}

if __name__ == "__main__":
    CASES[sys.argv[1]]().predict(data()[0][:20])
    print("predicted")
