"""The fitted HistGradientBoostingClassifier's trees as the attributes of one ONNX ``TreeEnsemble`` node.

The trees read the classifier's input matrix (the ColumnTransformer's output) in float64. Two things sklearn
does before and inside its trees are folded into the node attributes:

- the classifier re-encodes its categorical columns (categorical first, the encoder's codes to 0..n-1, unknown
  codes to missing): each split's feature index and category set are written in the outer matrix's terms;
- a categorical split sends a code in the split's left set left, another known code right, and a missing,
  negative or unseen code the missing-value way. A set-membership node can test only a finite set, so it tests
  the set whose complement contains every missing or unseen code: the right set when missing values go left,
  else the left set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_LEQ, _MEMBER = 0, 6  # TreeEnsemble nodes_modes
_SUM, _NONE = 1, 0  # aggregate_function, post_transform


def tree_ensemble_attributes(classifier: Any) -> dict[str, Any]:
    """Build the ``TreeEnsemble`` attributes of a fitted multiclass HistGradientBoostingClassifier.

    Args:
        classifier: The fitted classifier (with categorical features or without).

    Returns:
        Integer-list attributes by name, and under ``"tensors"`` the float64 and uint8 tensor attributes.
        The node's output is the raw score per class without the baseline.

    """
    order, outer_codes = _inner_to_outer(classifier)
    known, feature_map = classifier._bin_mapper.make_known_categories_bitsets()
    nodes: dict[str, list[Any]] = {
        key: [] for key in ("feature", "split", "mode", "true", "true_leaf", "false", "false_leaf", "missing_true")
    }
    leaves: dict[str, list[Any]] = {"target": [], "weight": []}
    members: list[float] = []
    roots: list[int] = []
    for iteration in classifier._predictors:
        for target, predictor in enumerate(iteration):
            roots.append(len(nodes["feature"]))
            _add_tree(predictor, target, nodes, leaves, members, order, outer_codes, (known, feature_map))
    tensors = {
        "nodes_splits": np.asarray(nodes["split"], dtype="float64"),
        "nodes_modes": np.asarray(nodes["mode"], dtype="uint8"),
        "leaf_weights": np.asarray(leaves["weight"], dtype="float64"),
    }
    if members:
        tensors["membership_values"] = np.asarray(members, dtype="float64")
    return {
        "n_targets": int(classifier.n_trees_per_iteration_),
        "aggregate_function": _SUM,
        "post_transform": _NONE,
        "tree_roots": roots,
        "nodes_featureids": nodes["feature"],
        "nodes_truenodeids": nodes["true"],
        "nodes_trueleafs": nodes["true_leaf"],
        "nodes_falsenodeids": nodes["false"],
        "nodes_falseleafs": nodes["false_leaf"],
        "nodes_missing_value_tracks_true": nodes["missing_true"],
        "leaf_targetids": leaves["target"],
        "tensors": tensors,
    }


def _inner_to_outer(classifier: Any) -> tuple[list[int], dict[int, np.ndarray]]:
    """Outer column of each inner feature, and the outer codes of each inner categorical feature's categories."""
    inner = getattr(classifier, "_preprocessor", None)
    if inner is None:  # no categorical features: the trees read the matrix as it is
        return list(range(classifier.n_features_in_)), {}
    used = [(step, mask) for _, step, mask in inner.transformers_ if not (isinstance(step, str) and step == "drop")]
    (encoder, categorical), (_, numerical) = used
    order = [int(index) for index in (*np.flatnonzero(categorical), *np.flatnonzero(numerical))]
    return order, {position: np.asarray(codes, dtype="float64") for position, codes in enumerate(encoder.categories_)}


def _add_tree(
    predictor: Any,
    target: int,
    nodes: dict[str, list[Any]],
    leaves: dict[str, list[Any]],
    members: list[float],
    order: list[int],
    outer_codes: dict[int, np.ndarray],
    known_bitsets: tuple[np.ndarray, np.ndarray],
) -> None:
    tree = predictor.nodes
    is_leaf = tree["is_leaf"].astype(bool)
    # Branch nodes and leaves are numbered apart: each sklearn node gets its index among its own kind.
    index = np.where(
        is_leaf, np.cumsum(is_leaf) - 1 + len(leaves["weight"]), np.cumsum(~is_leaf) - 1 + len(nodes["feature"])
    )
    leaves["target"].extend([target] * int(is_leaf.sum()))
    leaves["weight"].extend(tree["value"][is_leaf].tolist())
    if is_leaf[0]:  # a tree with no split: one branch whose both ways lead to its leaf
        _append(nodes, 0, 0.0, _LEQ, (int(index[0]), 1), (int(index[0]), 1), 0)
        return
    known, feature_map = known_bitsets
    for position in np.flatnonzero(~is_leaf):
        node = tree[position]
        left = (int(index[node["left"]]), int(is_leaf[node["left"]]))
        right = (int(index[node["right"]]), int(is_leaf[node["right"]]))
        feature = order[int(node["feature_idx"])]
        missing_left = bool(node["missing_go_to_left"])
        if not node["is_categorical"]:
            _append(nodes, feature, float(node["num_threshold"]), _LEQ, left, right, int(missing_left))
            continue
        codes = outer_codes[int(node["feature_idx"])]
        left_set = [
            code
            for inner, code in enumerate(codes)
            if _in_bitset(predictor.raw_left_cat_bitsets[node["bitset_idx"]], inner)
        ]
        right_set = [
            code
            for inner, code in enumerate(codes)
            if code not in left_set and _in_bitset(known[feature_map[node["feature_idx"]]], inner)
        ]
        tested, true, false = (right_set, right, left) if missing_left else (left_set, left, right)
        if not tested:  # nothing passes the test: "x <= -inf" is false for every code and for NaN
            _append(nodes, feature, -np.inf, _LEQ, true, false, 0)
            continue
        _append(nodes, feature, 0.0, _MEMBER, true, false, 0)  # missing or unseen: not a member, the false way
        members.extend([*tested, np.nan])


def _append(
    nodes: dict[str, list[Any]],
    feature: int,
    split: float,
    mode: int,
    true: tuple[int, int],
    false: tuple[int, int],
    missing_true: int,
) -> None:
    for key, value in (
        ("feature", feature),
        ("split", split),
        ("mode", mode),
        ("true", true[0]),
        ("true_leaf", true[1]),
        ("false", false[0]),
        ("false_leaf", false[1]),
        ("missing_true", missing_true),
    ):
        nodes[key].append(value)


def _in_bitset(bitset: np.ndarray, value: int) -> bool:
    return bool((int(bitset[value // 32]) >> (value % 32)) & 1)
