"""A fast predictor compiled from the fitted Pipeline, for online serving and batch scoring.

``Pipeline.predict_proba`` on one row costs 5-15 ms here, nearly all of it per-call overhead (pandas, input
validation, 150 small OpenMP regions, one per tree). The compiled predictor does the same arithmetic on plain
numpy arrays: categories are mapped with dicts taken from the fitted ``OrdinalEncoder``, the engineered features
use the training formula, and the trees of the ``HistGradientBoostingClassifier`` are flattened into arrays and
walked for all trees at once. Large batches use the trees as lookup tables
(:mod:`machine_learning.inference.tree_tables`), about ten times faster than the classifier's own code.

Whatever the path, the probabilities must equal ``pipeline.predict_proba``: :func:`compile_predictor` checks
this on probe rows and falls back to the pipeline itself if the structure is unexpected or a check fails.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
from threadpoolctl import ThreadpoolController

from machine_learning.data.schema import CATEGORY_COLUMNS, FEATURE_COLUMNS, NUMERIC_COLUMNS
from machine_learning.inference.tree_tables import TreeTables, UnsupportedTreesError
from machine_learning.training.model import LEVEL_ACHIEVEMENT_WEIGHT, add_engineered_features

logger = logging.getLogger(__name__)

Columns = Mapping[str, Sequence[Any] | np.ndarray]
# Up to this many rows, walking the flattened trees in numpy beats the classifier's per-tree Cython calls.
TREE_WALK_MAX_ROWS = 128
PROBE_ROWS = 512
UNKNOWN_CODE = -1.0  # what the pipeline's OrdinalEncoder gives an unknown category
UNKNOWN_KEY = "\x00unknown"  # key of the unknown category's code in a layout's dicts (never a real category)


class Predictor(Protocol):
    """Turns raw feature columns into class probabilities (columns in the order of ``classes``)."""

    classes: list[str]
    kind: str

    def predict_proba(self, columns: Columns) -> np.ndarray:
        """Probabilities of shape (rows, classes) for raw feature columns of equal length."""


class UnsupportedPipelineError(Exception):
    """The pipeline's structure is not the one the compiled predictor knows how to reproduce."""


@dataclass
class PipelinePredictor:
    """The fallback: the fitted pipeline itself, on a DataFrame built from the columns."""

    pipeline: Any
    classes: list[str]
    kind: str = "pipeline"

    def predict_proba(self, columns: Columns) -> np.ndarray:
        """Probabilities from ``pipeline.predict_proba`` with one OpenMP thread."""
        frame = pd.DataFrame({name: _plain(columns[name]) for name in FEATURE_COLUMNS})
        with _threads().limit(limits=1, user_api="openmp"):
            return np.asarray(self.pipeline.predict_proba(frame), dtype="float64")


@dataclass(frozen=True)
class _Trees:
    """Every tree's nodes in flat arrays; leaves point at themselves so a fixed number of steps ends on them."""

    roots: np.ndarray  # (trees,) index of each tree's root; trees ordered iteration-major, class-minor
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_categorical: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    category_left: np.ndarray  # (nodes, codes + 1): column 0 is a missing/negative code, column c + 1 is code c
    depth: int


class CompiledPredictor:
    """The pipeline's arithmetic on numpy arrays (see the module docstring); ``kind`` is ``"numpy"``."""

    kind = "numpy"

    def __init__(self, pipeline: Any) -> None:
        preprocess, classifier = _check_structure(pipeline)
        self.classes = [str(label) for label in classifier.classes_]
        self._classifier = classifier
        # "outer": what the ColumnTransformer outputs; "inner": what the trees see after the classifier's own
        # re-encoding of its categorical features (categorical columns first, codes 0..n-1, unknown -> NaN).
        self._outer = _output_columns(preprocess)
        self._inner = _inner_columns(classifier, self._outer)
        self._categorical_positions = [i for i, name in enumerate(self._inner.names) if name in self._inner.codes]
        width = max(len(codes) for codes in self._inner.codes.values())
        self._trees = _flatten_trees(classifier, width)
        self._forest = _tree_tables(classifier, self._trees)

    def predict_proba(self, columns: Columns) -> np.ndarray:
        """Probabilities equal to ``pipeline.predict_proba`` on the same raw rows."""
        values = _engineered(columns)
        if len(values["Age"]) <= TREE_WALK_MAX_ROWS:
            raw = self._classifier._baseline_prediction + self._walk(_matrix(columns, values, self._inner))
        elif self._forest is not None and all(np.isfinite(values[name]).all() for name in values):
            raw = self._forest.raw_predict(
                {position: values[self._inner.names[position]] for position in self._forest.numeric_features},
                {position: self._category_codes(columns, position) for position in self._categorical_positions},
            )
        else:  # missing values, or trees too big for tables: the classifier's own code
            with _threads().limit(limits=1, user_api="openmp"):
                proba = self._classifier.predict_proba(_matrix(columns, values, self._outer))
            return np.asarray(proba, dtype="float64")
        return np.asarray(self._classifier._loss.predict_proba(raw), dtype="float64")

    def outer_matrix(self, columns: Columns) -> np.ndarray:
        """Build the ColumnTransformer's output for raw rows (what the classifier and compiled trees read).

        The engineered features are computed on the matrix's own float64 columns, the same arithmetic as
        :func:`add_engineered_features`.

        Args:
            columns: Raw feature columns of equal length.

        Returns:
            A C-ordered float64 matrix, one row per player, unknown categories coded as the encoder does (-1).

        """
        names, codes = self._outer.names, self._outer.codes
        rows = len(columns["Age"])
        # Filled column by column (contiguous writes), then turned row-major in one copy: several times faster
        # than writing each column into a row-major matrix with a stride.
        by_column = np.empty((len(names), rows), dtype="float64")
        for position, name in enumerate(names):
            if name in codes:
                by_column[position] = _encode(columns[name], codes[name], small=rows <= TREE_WALK_MAX_ROWS)
            elif name in columns:
                by_column[position] = columns[name]
        view = {name: by_column[position] for position, name in enumerate(names)}
        weekly = view["SessionsPerWeek"] * view["AvgSessionDurationMinutes"]
        progress = view["PlayerLevel"] * view["AchievementsUnlocked"]
        for name, values in (
            ("WeeklyPlayMinutes", weekly),
            ("LevelTimesAchievements", progress),
            ("EngagementScore", weekly + LEVEL_ACHIEVEMENT_WEIGHT * progress),
        ):
            if name in view:
                view[name][:] = values
        return np.ascontiguousarray(by_column.T)

    def _category_codes(self, columns: Columns, position: int) -> np.ndarray:
        """``code + 1`` of each row's category as the trees see it (0: missing or unknown), vectorised."""
        name = self._inner.names[position]
        mapping = self._inner.codes[name]
        known = [category for category in mapping if category != UNKNOWN_KEY]
        limit = self._trees.category_left.shape[1] - 1
        shifted = [mapping.get(UNKNOWN_KEY, np.nan), *(mapping[category] for category in known)]
        lookup = np.array([code + 1 if 0 <= code < limit else 0 for code in shifted], dtype=np.uint8)
        values = columns[name]
        if isinstance(values, pd.Categorical):  # by its codes (-1: missing -> lookup's last entry, unknown)
            found = pd.Index(known, dtype=object).get_indexer(values.categories.astype(str))
            return np.append(lookup[found + 1], lookup[0])[values.codes]
        found = pd.Index(known, dtype=object).get_indexer(np.asarray(values, dtype=object))
        return lookup[found + 1]

    def _walk(self, features: np.ndarray) -> np.ndarray:
        trees, (rows, width) = self._trees, features.shape
        flat = features.ravel()
        codes = np.zeros_like(features, dtype=np.intp)
        categorical = features[:, self._categorical_positions]
        limit = trees.category_left.shape[1] - 1
        missing = np.isnan(categorical) | (categorical < 0) | (categorical >= limit)
        safe = np.where(missing, -1, categorical)
        codes[:, self._categorical_positions] = safe.astype(np.intp) + 1
        flat_codes = codes.ravel()
        offsets = (np.arange(rows, dtype=np.intp) * width)[:, None]
        node = np.broadcast_to(trees.roots, (rows, len(trees.roots))).copy()
        any_nan = bool(np.isnan(features).any())
        for _ in range(trees.depth):
            cell = offsets + trees.feature[node]
            value = flat[cell]
            go_left = value <= trees.threshold[node]
            if any_nan:
                go_left = np.where(np.isnan(value), trees.missing_left[node], go_left)
            categorical_left = trees.category_left[node, flat_codes[cell]]
            go_left = np.where(trees.is_categorical[node], categorical_left, go_left)
            node = np.where(go_left, trees.left[node], trees.right[node])
        per_tree = trees.value[node].reshape(rows, -1, self._classifier.n_trees_per_iteration_)
        return np.asarray(per_tree.sum(axis=1))


def compile_predictor(pipeline: Any) -> Predictor:
    """Compile the fast predictor, or fall back to the pipeline when that is not safe.

    Args:
        pipeline: A fitted pipeline from :func:`machine_learning.training.model.build_pipeline`.

    Returns:
        A :class:`CompiledPredictor` verified against ``pipeline.predict_proba`` on probe rows, else a
        :class:`PipelinePredictor` (logged as a warning: the answers are the same, only slower).

    """
    classes = [str(label) for label in getattr(pipeline, "classes_", [])]
    try:
        compiled = CompiledPredictor(pipeline)
        verify_predictor(compiled, pipeline, probe_columns(PROBE_ROWS))
    except (UnsupportedPipelineError, AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        logger.warning("serving with the plain pipeline (slower): %s: %s", type(error).__name__, error)
        return PipelinePredictor(pipeline, classes)
    return compiled


def verify_predictor(predictor: Predictor, pipeline: Any, columns: Columns) -> None:
    """Check that a predictor gives the pipeline's probabilities on these rows, by both of its paths.

    Args:
        predictor: The predictor under test.
        pipeline: The reference pipeline.
        columns: Raw feature columns.

    Raises:
        ValueError: The probabilities differ.

    """
    frame = pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS})
    with _threads().limit(limits=1, user_api="openmp"):
        expected = pipeline.predict_proba(frame)
    small = {name: list(frame[name].iloc[:TREE_WALK_MAX_ROWS]) for name in FEATURE_COLUMNS}
    checks = (
        (predictor.predict_proba(columns), expected),
        (predictor.predict_proba(small), expected[: len(small["Age"])]),
    )
    for got, want in checks:
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            raise ValueError(f"compiled probabilities differ from the pipeline's (max {np.abs(got - want).max():.2e})")


def probe_columns(rows: int, seed: int = 0) -> dict[str, list[Any]]:
    """Random raw rows over the schema's categories and ranges (mostly at plausible, small magnitudes).

    Args:
        rows: How many rows.
        seed: Random seed.

    Returns:
        Raw feature columns.

    """
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for spec in NUMERIC_COLUMNS:
        # A quarter over the full range, the rest over its first 1 % where real players are.
        high = np.where(rng.random(rows) < 0.25, spec.high, spec.low + (spec.high - spec.low) / 100)
        values = rng.uniform(spec.low, high)
        columns[spec.name] = (np.round(values).astype(int) if spec.integer else values).tolist()
    for category in CATEGORY_COLUMNS:
        columns[category.name] = rng.choice(category.allowed, rows).tolist()
    return columns


@dataclass(frozen=True)
class _Layout:
    """Column names of a feature matrix in order, and the category -> code dict of each categorical one."""

    names: list[str]
    codes: dict[str, dict[str, float]]


def _matrix(columns: Columns, values: Mapping[str, np.ndarray], layout: _Layout) -> np.ndarray:
    """Build a float feature matrix: numeric values as they are, categories through the layout's dicts."""
    matrix = np.empty((len(values["Age"]), len(layout.names)), dtype="float64")
    for position, name in enumerate(layout.names):
        if name in layout.codes:
            codes, unknown = layout.codes[name], layout.codes[name].get(UNKNOWN_KEY, UNKNOWN_CODE)
            matrix[:, position] = [codes.get(category, unknown) for category in columns[name]]
        else:
            matrix[:, position] = values[name]
    return matrix


def _encode(values: Sequence[Any] | np.ndarray, codes: Mapping[str, float], small: bool) -> Any:
    """Category codes through the encoder's dict (unknown: -1): dict lookups for a few rows, hashing for many.

    A ``pandas.Categorical`` (what validation gives for Arrow text) is mapped by its codes: one dict lookup per
    category, none per row (a missing value is unknown, as it is to the encoder's dict).
    """
    if isinstance(values, pd.Categorical):
        per_category = [codes.get(str(category), UNKNOWN_CODE) for category in values.categories]
        return np.array([*per_category, UNKNOWN_CODE], dtype="float64")[values.codes]
    if small:
        return [codes.get(category, UNKNOWN_CODE) for category in values]
    lookup = np.array([UNKNOWN_CODE, *codes.values()], dtype="float64")
    return lookup[pd.Index(list(codes), dtype=object).get_indexer(np.asarray(values, dtype=object)) + 1]


def _plain(values: Any) -> Any:
    """Return a ``Categorical`` as the Python strings the pipeline was trained on, anything else as it is."""
    return np.asarray(values, dtype=object) if isinstance(values, pd.Categorical) else values


def _engineered(columns: Columns) -> dict[str, np.ndarray]:
    """Numeric features plus the engineered ones, the arithmetic of ``add_engineered_features``."""
    values = {spec.name: np.asarray(columns[spec.name], dtype="float64") for spec in NUMERIC_COLUMNS}
    values["WeeklyPlayMinutes"] = values["SessionsPerWeek"] * values["AvgSessionDurationMinutes"]
    values["LevelTimesAchievements"] = values["PlayerLevel"] * values["AchievementsUnlocked"]
    values["EngagementScore"] = (
        values["WeeklyPlayMinutes"] + LEVEL_ACHIEVEMENT_WEIGHT * values["LevelTimesAchievements"]
    )
    return values


def _check_structure(pipeline: Any) -> tuple[ColumnTransformer, HistGradientBoostingClassifier]:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 3:
        raise UnsupportedPipelineError("not a 3-step Pipeline")
    features, preprocess, classifier = (step for _, step in pipeline.steps)
    if not isinstance(features, FunctionTransformer) or features.func is not add_engineered_features:
        raise UnsupportedPipelineError("first step is not FunctionTransformer(add_engineered_features)")
    if not isinstance(preprocess, ColumnTransformer):
        raise UnsupportedPipelineError("second step is not a ColumnTransformer")
    if not isinstance(classifier, HistGradientBoostingClassifier):
        raise UnsupportedPipelineError("last step is not a HistGradientBoostingClassifier")
    return preprocess, classifier


def _output_columns(preprocess: ColumnTransformer) -> _Layout:
    """List the ColumnTransformer's output columns, with the fitted OrdinalEncoder's category codes."""
    names: list[str] = []
    codes: dict[str, dict[str, float]] = {}
    for _, transformer, selected in preprocess.transformers_:
        if transformer == "drop":
            continue
        if transformer == "passthrough" or (isinstance(transformer, FunctionTransformer) and transformer.func is None):
            names.extend(selected)  # fitted "passthrough" is an identity FunctionTransformer
        elif isinstance(transformer, OrdinalEncoder) and transformer.unknown_value == UNKNOWN_CODE:
            for name, categories in zip(selected, transformer.categories_, strict=True):
                names.append(name)
                codes[name] = {str(category): float(code) for code, category in enumerate(categories)}
        else:
            raise UnsupportedPipelineError(f"unexpected transformer {transformer!r} in the ColumnTransformer")
    if list(preprocess.get_feature_names_out()) != names or not codes:
        raise UnsupportedPipelineError("ColumnTransformer output columns are not the expected ones")
    return _Layout(names, codes)


def _inner_columns(classifier: HistGradientBoostingClassifier, outer: _Layout) -> _Layout:
    """Compose the classifier's own categorical re-encoding (outer code -> 0..n-1, unknown -> NaN) with ours."""
    inner = classifier._preprocessor
    if not isinstance(inner, ColumnTransformer):
        raise UnsupportedPipelineError("the classifier has no categorical preprocessing")
    used = [
        (step, selected) for _, step, selected in inner.transformers_ if not (isinstance(step, str) and step == "drop")
    ]
    if len(used) != 2:
        raise UnsupportedPipelineError("the classifier's categorical preprocessing is not the expected one")
    (encoder, categorical), (numeric, numerical) = used
    if not isinstance(encoder, OrdinalEncoder) or not isinstance(numeric, FunctionTransformer):
        raise UnsupportedPipelineError("the classifier's categorical preprocessing is not the expected one")
    order = [*np.flatnonzero(categorical), *np.flatnonzero(numerical)]
    if sorted(order) != list(range(len(outer.names))):
        raise UnsupportedPipelineError("the classifier's input columns do not match the ColumnTransformer's")
    names = [outer.names[index] for index in order]
    codes: dict[str, dict[str, float]] = {}
    for index, categories in zip(np.flatnonzero(categorical), encoder.categories_, strict=True):
        name = outer.names[index]
        if name not in outer.codes:
            raise UnsupportedPipelineError(f"the classifier treats {name} as categorical, the encoder does not")
        position = {float(code): float(inner) for inner, code in enumerate(categories)}
        mapping = {category: position.get(code, np.nan) for category, code in outer.codes[name].items()}
        codes[name] = {**mapping, UNKNOWN_KEY: position.get(UNKNOWN_CODE, np.nan)}
    return _Layout(names, codes)


def _flatten_trees(classifier: HistGradientBoostingClassifier, codes: int) -> _Trees:
    known, feature_map = classifier._bin_mapper.make_known_categories_bitsets()
    arrays: dict[str, list[np.ndarray]] = {key: [] for key in ("feature", "threshold", "missing", "cat", "left")}
    arrays.update(right=[], value=[], table=[], roots=[])
    offset, depth = 0, 0
    for iteration in classifier._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            own = np.arange(len(nodes)) + offset
            leaf = nodes["is_leaf"].astype(bool)
            arrays["roots"].append(np.array([offset]))
            arrays["feature"].append(np.where(leaf, 0, nodes["feature_idx"]))
            arrays["threshold"].append(nodes["num_threshold"])
            arrays["missing"].append(nodes["missing_go_to_left"].astype(bool))
            arrays["cat"].append(nodes["is_categorical"].astype(bool) & ~leaf)
            arrays["left"].append(np.where(leaf, own, nodes["left"].astype(np.intp) + offset))
            arrays["right"].append(np.where(leaf, own, nodes["right"].astype(np.intp) + offset))
            arrays["value"].append(nodes["value"])
            arrays["table"].append(_category_table(nodes, predictor.raw_left_cat_bitsets, known, feature_map, codes))
            offset, depth = offset + len(nodes), max(depth, int(nodes["depth"].max()))
    joined = {key: np.concatenate(parts) for key, parts in arrays.items()}
    return _Trees(
        roots=joined["roots"].astype(np.intp),
        feature=joined["feature"].astype(np.intp),
        threshold=joined["threshold"].astype("float64"),
        missing_left=joined["missing"],
        is_categorical=joined["cat"],
        left=joined["left"].astype(np.intp),
        right=joined["right"].astype(np.intp),
        value=joined["value"].astype("float64"),
        category_left=joined["table"],
        depth=depth,
    )


def _tree_tables(classifier: HistGradientBoostingClassifier, trees: _Trees) -> TreeTables | None:
    """Compile the trees to lookup tables for big batches (None when they are too big for that)."""
    # The flattened trees already hold every tree's category table, one block of rows per tree, in the same order.
    bounds = [*trees.roots.tolist(), len(trees.category_left)]
    tables = {index: trees.category_left[start:end] for index, (start, end) in enumerate(itertools.pairwise(bounds))}
    try:
        return TreeTables(classifier._predictors, classifier._baseline_prediction, tables)
    except UnsupportedTreesError as error:
        logger.info("big batches use the classifier's own code: %s", error)
        return None


def _category_table(
    nodes: np.ndarray, left_sets: np.ndarray, known: np.ndarray, feature_map: np.ndarray, codes: int
) -> np.ndarray:
    """Whether each (node, code) goes left, as sklearn's predictor decides for categorical splits."""
    table = np.repeat(nodes["missing_go_to_left"].astype(bool)[:, None], codes + 1, axis=1)
    for index in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool)):
        node = nodes[index]
        for code in range(codes):
            if _in_bitset(left_sets[node["bitset_idx"]], code):
                table[index, code + 1] = True
            elif _in_bitset(known[feature_map[node["feature_idx"]]], code):
                table[index, code + 1] = False  # known, not in the left set: right; unknown codes count as missing
    return table


def _in_bitset(bitset: np.ndarray, value: int) -> bool:
    return bool((int(bitset[value // 32]) >> (value % 32)) & 1)


@functools.cache
def _threads() -> ThreadpoolController:
    """One controller, created on first use: building it inspects the loaded libraries (~3 ms)."""
    return ThreadpoolController()
