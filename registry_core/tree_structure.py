"""Trees that scikit-learn's compiled code walks without bounds checks, checked before anything walks them.

A fitted tree is arrays of node records: children, features, thresholds.
scikit-learn's compiled predict follows them as they are (it is built without
bounds checks), and restoring a tree checks only the arrays' types and
shapes. So a version made of scikit-learn's own classes alone can hold a
tree whose child index points outside its nodes or back at an ancestor, or a
split on a feature the input does not have: predicting then reads or writes
outside the arrays (a crash of the serving process, at best) or never
returns. These checks run at registration and after every load, before
anything predicts, on:

- ``sklearn.tree._tree.Tree``: every decision and extra tree, and so every
  forest, gradient boosting, bagging of trees and isolation forest;
- the estimators that hand those trees input they validated themselves
  (ensembles call their trees without checks): the trees' width must be theirs;
- histogram gradient boosting's predictors (node records and category bitsets);
- the KD and ball trees of the neighbours estimators and kernel density.

Every child must come after its parent, as scikit-learn builds them; that
also rules out loops. A distance metric's own parameters (a Mahalanobis
matrix, Minkowski weights) are not checked here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput
from .object_graph import walk

if TYPE_CHECKING:
    import numpy as np

__all__ = ["InvalidTree", "check_tree_structures"]

_TREE_LEAF = -1


class InvalidTree(InvalidInput):
    """A fitted tree whose structure scikit-learn's compiled code would follow out of bounds or in a loop."""

    kind = "invalid_tree"


def check_tree_structures(root: Any, *, subject: str) -> None:
    """Raise :class:`InvalidTree` naming the first tree in ``root`` that is not a well-formed tree."""
    tree_module = sys.modules.get("sklearn.tree._tree")
    if tree_module is None:
        return  # nothing here could hold one: restoring a tree imports that module
    base = sys.modules["sklearn.base"]
    for value in walk(root):
        where = f"{subject}: {type(value).__name__}"
        if isinstance(value, tree_module.Tree):
            _check_tree(value, where)
        elif isinstance(value, base.BaseEstimator):
            _check_widths(value, tree_module, where)
            _check_hist_predictors(value, where)
        elif type(value).__module__ in ("sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree"):
            _check_binary_tree(value, where)


def _check_tree(tree: Any, where: str) -> None:
    import numpy as np

    count, width = int(tree.node_count), int(tree.n_features)
    if count < 1 or width < 1:
        raise InvalidTree(f"{where} has {count} nodes over {width} features")
    # Restoring clamps node_count to the arrays it was given, so these reads stay inside them.
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    value_shape = np.asarray(tree.value).shape
    if value_shape != (count, int(tree.n_outputs), int(tree.max_n_classes)):
        raise InvalidTree(f"{where} holds values of shape {value_shape} for {count} nodes")
    _check_children(left, right, left == _TREE_LEAF, where)
    split = left != _TREE_LEAF
    if split.any() and (feature[split].min() < 0 or feature[split].max() >= width):
        raise InvalidTree(f"{where} splits on a feature outside its {width} features")


def _check_children(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, where: str) -> None:
    """Leaves have no children; every other node has two, each after it and inside the arrays."""
    import numpy as np

    count = len(left)
    index = np.arange(count)
    if (leaf & (right != left)).any():
        raise InvalidTree(f"{where} has a leaf with one child")
    inner = ~leaf
    for side, children in (("left", left), ("right", right)):
        bad = inner & ((children <= index) | (children >= count))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise InvalidTree(
                f"{where}: node {node}'s {side} child {int(children[node])} is not a later node of its {count}"
            )


def _check_widths(estimator: Any, tree_module: Any, where: str) -> None:
    """A tree gets input its owner checked against the owner's width, so the tree's width must be that."""
    import numpy as np

    width = getattr(estimator, "n_features_in_", None)
    if width is None:
        return
    tree = estimator.__dict__.get("tree_")
    if isinstance(tree, tree_module.Tree) and int(tree.n_features) != int(width):
        raise InvalidTree(f"{where} takes {width} features but its tree splits over {tree.n_features}")
    members = estimator.__dict__.get("estimators_")
    if members is None:
        return
    grid = np.asarray(members, dtype=object)
    per_iteration = getattr(estimator, "n_trees_per_iteration_", None)
    if per_iteration is not None and grid.ndim == 2 and grid.shape[1] != int(per_iteration):
        raise InvalidTree(f"{where} holds {grid.shape[1]} trees per stage for {per_iteration} outputs")
    subsets = estimator.__dict__.get("estimators_features_")
    for position, member in enumerate(grid.ravel()):
        owned = getattr(member, "tree_", None)
        if not isinstance(owned, tree_module.Tree):
            continue
        expected = width if subsets is None else len(subsets[position])
        if int(owned.n_features) != int(expected) or getattr(member, "n_features_in_", expected) != expected:
            raise InvalidTree(
                f"{where}: member {position} splits over {owned.n_features} features where it is given {expected}"
            )


def _check_hist_predictors(estimator: Any, where: str) -> None:
    import numpy as np

    predictors = estimator.__dict__.get("_predictors")
    if predictors is None:
        return
    width = int(estimator.n_features_in_)
    categorical = np.asarray(getattr(estimator.__dict__.get("_bin_mapper"), "is_categorical_", np.zeros(0)), dtype=bool)
    for stage in predictors:
        for predictor in stage:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            _check_children(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), leaf, where)
            split = ~leaf
            features = nodes["feature_idx"][split]
            if features.size and (features.min() < 0 or features.max() >= width):
                raise InvalidTree(f"{where} splits on a feature outside its {width} features")
            on_categories = split & nodes["is_categorical"].astype(bool)
            if not on_categories.any():
                continue
            bitsets = predictor.raw_left_cat_bitsets
            cat_features = nodes["feature_idx"][on_categories]
            if (
                bitsets.ndim != 2 or bitsets.shape[1] != 8
                or nodes["bitset_idx"][on_categories].max() >= bitsets.shape[0]
                or cat_features.max() >= categorical.size or not categorical[cat_features].all()
            ):
                raise InvalidTree(f"{where} splits on categories it holds no bitset for")


def _check_binary_tree(tree: Any, where: str) -> None:
    import numpy as np

    state = tree.__getstate__()
    data, idx, nodes, bounds = (np.asarray(state[i]) for i in range(4))
    n_levels, n_nodes, weights = int(state[5]), int(state[6]), state[12]
    if data.ndim != 2 or idx.ndim != 1 or nodes.ndim != 1:
        raise InvalidTree(f"{where} holds arrays of the wrong dimensions")
    samples = data.shape[0]
    if len(idx) != samples or (samples and (idx.min() < 0 or idx.max() >= samples)):
        raise InvalidTree(f"{where} indexes points outside its {samples}")
    if n_nodes != len(nodes) or n_nodes != 2 ** n_levels - 1 or bounds.ndim != 3 or bounds.shape[1:] != (
        n_nodes, data.shape[1]
    ):
        raise InvalidTree(f"{where} declares {n_nodes} nodes over {n_levels} levels but holds {len(nodes)}")
    start, end = nodes["idx_start"], nodes["idx_end"]
    if (start < 0).any() or (end < start).any() or (end > samples).any():
        raise InvalidTree(f"{where} has a node whose points lie outside its {samples}")
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if inner.size and 2 * inner.max() + 2 >= n_nodes:
        raise InvalidTree(f"{where} has an inner node without children")
    if weights is not None and np.asarray(weights).shape != (samples,):
        raise InvalidTree(f"{where} holds {np.asarray(weights).shape} weights for {samples} points")
