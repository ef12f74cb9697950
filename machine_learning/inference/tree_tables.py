"""The boosted trees of a fitted ``HistGradientBoostingClassifier`` as lookup tables, for scoring big batches.

scikit-learn walks every row down every tree in turn (about 60 ms per tree per million rows here). With at most
a few internal nodes per tree, numpy can instead evaluate every internal node of a tree for a block of rows at
once (a comparison with the threshold, or a lookup of the category code); the outcomes form a small integer per
row (bit j: node j goes left), and a table indexed by that integer holds the value of the leaf the row reaches.
Rows are processed in blocks that stay in the CPU cache.

The raw scores are accumulated exactly as scikit-learn does (baseline, then each tree's leaf value added in
order, in float64), so the probabilities are bit-for-bit those of ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK_ROWS = 32_768  # rows per block: a block's features, node outcomes and scores stay in the CPU cache
MAX_NODES = 8  # internal nodes per tree (the table index is one byte): up to 9 leaves


class UnsupportedTreesError(Exception):
    """The trees cannot be turned into tables (too many nodes per tree)."""


@dataclass(frozen=True)
class _Node:
    """One internal node: numeric ``value[feature] <= threshold`` or categorical ``left_codes[code[feature]]``."""

    feature: int
    threshold: float
    left_codes: np.ndarray | None


@dataclass(frozen=True)
class _Tree:
    """A tree's internal nodes (bit j of the table index is node j going left) and its leaf-value table."""

    output: int  # which class's raw score the tree adds to
    nodes: tuple[_Node, ...]
    table: np.ndarray


class TreeTables:
    """Raw scores of the classifier's trees on numeric feature values and categorical codes."""

    def __init__(
        self,
        predictors: list[list[Any]],
        baseline: np.ndarray,
        category_left: Mapping[int, np.ndarray],
    ) -> None:
        """Build the tables.

        Args:
            predictors: The classifier's ``_predictors`` (per iteration, one ``TreePredictor`` per class).
            baseline: The classifier's ``_baseline_prediction``, shape (1, classes).
            category_left: Per tree (in iteration-major, class-minor order), a (nodes, codes + 1) table of
                whether a categorical node sends code ``c - 1`` left (column 0: missing or unknown).

        Raises:
            UnsupportedTreesError: A tree has more than ``MAX_NODES`` internal nodes.

        """
        self.baseline = np.asarray(baseline, dtype="float64")
        flat = [(output, tree) for iteration in predictors for output, tree in enumerate(iteration)]
        self.trees = [
            _compile_tree(tree.nodes, output, category_left[index]) for index, (output, tree) in enumerate(flat)
        ]
        self.numeric_features = sorted(
            {node.feature for tree in self.trees for node in tree.nodes if node.left_codes is None}
        )

    def raw_predict(self, numeric: Mapping[int, np.ndarray], codes: Mapping[int, np.ndarray]) -> np.ndarray:
        """Raw scores, shape (rows, classes), Fortran order like scikit-learn's.

        Args:
            numeric: Float64 values per feature position in :attr:`numeric_features`. No NaN: missing values
                have their own routing, which the tables do not reproduce.
            codes: Per categorical feature position, uint8 ``code + 1`` (0: missing or unknown category).

        Returns:
            The baseline plus every tree's leaf value, added in the classifier's order.

        """
        rows = len(next(iter([*numeric.values(), *codes.values()])))
        raw = np.zeros((rows, self.baseline.shape[1]), dtype="float64", order="F")
        raw += self.baseline
        for start in range(0, rows, BLOCK_ROWS):
            block = slice(start, min(start + BLOCK_ROWS, rows))
            columns = {feature: values[block] for feature, values in [*numeric.items(), *codes.items()]}
            self._add_trees(raw[block], columns)
        return raw

    def _add_trees(self, raw: np.ndarray, columns: dict[int, np.ndarray]) -> None:
        size = len(raw)
        index, shifted = np.empty(size, dtype=np.uint8), np.empty(size, dtype=np.uint8)
        went_left, leaf_values = np.empty(size, dtype=bool), np.empty(size, dtype="float64")
        for tree in self.trees:
            index.fill(0)
            for bit, node in enumerate(tree.nodes):
                if node.left_codes is None:
                    np.less_equal(columns[node.feature], node.threshold, out=went_left)
                else:  # mode="clip" skips the bounds check (and is ten times faster): codes are always in range
                    np.take(node.left_codes, columns[node.feature], out=went_left, mode="clip")
                np.left_shift(went_left.view(np.uint8), bit, out=shifted)
                np.bitwise_or(index, shifted, out=index)
            np.take(tree.table, index, out=leaf_values, mode="clip")
            column = raw[:, tree.output]
            np.add(column, leaf_values, out=column)


def _compile_tree(nodes: np.ndarray, output: int, category_left: np.ndarray) -> _Tree:
    leaf = nodes["is_leaf"].astype(bool)
    internal = np.flatnonzero(~leaf)
    if len(internal) > MAX_NODES:
        raise UnsupportedTreesError(f"a tree has {len(internal)} internal nodes, more than {MAX_NODES}")
    compiled = [
        _Node(
            feature=int(nodes["feature_idx"][index]),
            threshold=float(nodes["num_threshold"][index]),
            left_codes=category_left[index].astype(bool) if nodes["is_categorical"][index] else None,
        )
        for index in internal
    ]
    # Walk every combination of node outcomes down the tree at once: bit j set means internal node j goes left.
    bit_of = np.zeros(len(nodes), dtype=np.intp)
    bit_of[internal] = np.arange(len(internal))
    patterns = np.arange(2 ** len(internal))
    node = np.zeros(len(patterns), dtype=np.intp)
    for _ in range(int(nodes["depth"].max()) + 1):
        going_left = (patterns >> bit_of[node]) & 1 == 1
        stepped = np.where(going_left, nodes["left"][node], nodes["right"][node]).astype(np.intp)
        node = np.where(leaf[node], node, stepped)
    return _Tree(output, tuple(compiled), np.ascontiguousarray(nodes["value"][node], dtype="float64"))
