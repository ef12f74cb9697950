"""Trees compiled to C with tl2cgen (on treelite), used when a C compiler is available.

The fitted ``HistGradientBoostingClassifier`` is imported by ``treelite.sklearn`` and turned into a shared library
by ``tl2cgen`` with the system C compiler (``CC``, else ``cc`` / ``gcc`` / ``clang`` on ``PATH``). The library is
kept in the model's per-version cache folder (``MODEL_CACHE_DIR/<model>/versions/<version>/tl2cgen/``), keyed by
a hash of the trees and the tool versions, so each version is compiled once per machine.

The feature matrix the library reads is the one the pipeline's ``ColumnTransformer`` would produce, built by
the numpy predictor's code (category codes from the fitted encoder, the engineered features). The library adds
the trees' raw scores to the classifier's baseline and applies the softmax of its multinomial loss. Like the
numpy predictor, the compiled one must give ``predict_proba``'s probabilities on the probe rows before it is
used, and every failure (no compiler, no tl2cgen, a compile error, a mismatch) falls back to the numpy predictor
with a logged reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import shlex
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from machine_learning.inference.fast_model import (
    PROBE_ROWS,
    Columns,
    CompiledPredictor,
    Predictor,
    compile_predictor,
    probe_columns,
    verify_predictor,
)

logger = logging.getLogger(__name__)

COMPILERS: tuple[str, ...] = ("cc", "gcc", "clang")
LIBRARY_NAME = "predictor.so"
# Rows per block of a large prediction: 32,768 rows x 14 features x 8 bytes = 3.7 MB, about the size of the cache.
BLOCK_ROWS = 32_768


@dataclass(frozen=True)
class PredictorChoice:
    """Which predictor a model scores with, and why (logged when a model loads)."""

    predictor: Predictor
    reason: str


def find_compiler(environ: dict[str, str] | None = None) -> str | None:
    """Find the C compiler tl2cgen would use: ``CC`` if set (and only it), else the first of cc/gcc/clang.

    Args:
        environ: The environment to read ``CC`` and ``PATH`` from (default: ``os.environ``).

    Returns:
        The compiler's absolute path, or ``None`` when there is none.

    """
    env = os.environ if environ is None else environ
    path = env.get("PATH", os.defpath)
    wanted = env.get("CC", "").strip()
    candidates = [shlex.split(wanted)[0]] if wanted else list(COMPILERS)
    for name in candidates:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


class TreelitePredictor:
    """The numpy predictor's feature matrix, scored by the tl2cgen-compiled trees.

    Args:
        numpy_predictor: Builds the feature matrix and holds the classifier (for its loss and classes).
        library: The compiled shared library.

    """

    kind = "tl2cgen"

    def __init__(self, numpy_predictor: CompiledPredictor, library: Path) -> None:
        import tl2cgen

        self._numpy = numpy_predictor
        self.classes = numpy_predictor.classes
        self._library = tl2cgen.Predictor(str(library), nthread=1, verbose=False)
        self._dmatrix = tl2cgen.DMatrix

    def predict_proba(self, columns: Columns) -> np.ndarray:
        """Probabilities equal to ``pipeline.predict_proba`` on the same raw rows (softmax inside the library).

        Many rows are scored in blocks of ``BLOCK_ROWS``: each block's feature matrix is built and read by the
        library while it is still in the CPU cache, instead of one matrix of the whole chunk (120 MB per 1M rows)
        written to memory and read back. Measured on 1M rows: 0.17 s blocked, 0.25-0.29 s whole, against 0.185 s
        for the library alone on a ready matrix.
        """
        rows = len(columns["Age"])
        if rows <= BLOCK_ROWS:
            return self._block_proba(columns)
        parts = [
            self._block_proba({name: values[start : start + BLOCK_ROWS] for name, values in columns.items()})
            for start in range(0, rows, BLOCK_ROWS)
        ]
        return np.concatenate(parts)

    def _block_proba(self, columns: Columns) -> np.ndarray:
        matrix = self._numpy.outer_matrix(columns)
        scores = self._library.predict(self._dmatrix(matrix, dtype="float64"))
        probabilities = np.asarray(scores, dtype="float64").reshape(len(matrix), -1)
        if probabilities.shape[1] == 1:  # binary: the library gives the second class's probability
            probabilities = np.column_stack([1.0 - probabilities[:, 0], probabilities[:, 0]])
        return probabilities

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        """Raw scores (baseline plus trees), shape (rows, classes), from the ColumnTransformer's output matrix."""
        margins = self._library.predict(self._dmatrix(matrix, dtype="float64"), pred_margin=True)
        return np.asarray(margins, dtype="float64").reshape(len(matrix), -1)


def select_predictor(pipeline: Any, cache_dir: Path | None, compiler: str | None = None) -> PredictorChoice:
    """Pick the fastest predictor that gives ``predict_proba``'s probabilities for this pipeline.

    Order: tl2cgen-compiled trees (when a compiler and a cache folder exist), the numpy predictor, the pipeline.

    Args:
        pipeline: The fitted pipeline.
        cache_dir: The version's cache folder; the library is kept under it. ``None``: no compilation.
        compiler: The C compiler (default: :func:`find_compiler`).

    Returns:
        The predictor and why it was chosen.

    """
    fallback = compile_predictor(pipeline)
    if not isinstance(fallback, CompiledPredictor):
        return PredictorChoice(fallback, "the pipeline's structure is not one the fast predictors reproduce")
    compiler = compiler or find_compiler()
    if compiler is None:
        return PredictorChoice(fallback, "no C compiler found (set CC or install gcc): numpy predictor")
    if cache_dir is None:
        return PredictorChoice(fallback, "no model cache folder to keep a compiled library in: numpy predictor")
    try:
        library = compile_library(fallback, cache_dir / "tl2cgen", compiler)
        compiled = TreelitePredictor(fallback, library)
        verify_predictor(compiled, pipeline, probe_columns(PROBE_ROWS))
    except Exception as error:  # noqa: BLE001 - any failure of the optional fast path falls back, with the reason
        reason = f"tl2cgen unavailable ({type(error).__name__}: {str(error)[:300]}): numpy predictor"
        logger.warning("%s", reason)
        return PredictorChoice(fallback, reason)
    return PredictorChoice(compiled, f"tl2cgen library compiled with {compiler}, checked against predict_proba")


def compile_library(numpy_predictor: CompiledPredictor, folder: Path, compiler: str) -> Path:
    """Compile the classifier's trees to a shared library in ``folder``, or reuse the one compiled before.

    Args:
        numpy_predictor: Holds the fitted classifier.
        folder: Where the library is kept (created if needed).
        compiler: The C compiler's path.

    Returns:
        The library's path.

    """
    import tl2cgen
    import treelite

    classifier = numpy_predictor._classifier
    key = _library_key(classifier, [treelite.__version__, tl2cgen.__version__])
    target = folder / key / LIBRARY_NAME
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    # tl2cgen bundles an older treelite and says so on every model, by print(): keep stdout clean (--json).
    chatter = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
        warnings.simplefilter("ignore")
        model = treelite.sklearn.import_model(classifier)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".compiling-") as staging:
            built = Path(staging) / LIBRARY_NAME
            tl2cgen.export_lib(
                model, toolchain=shlex.quote(compiler), libpath=str(built), params={"parallel_comp": 1}, nthread=1
            )
            target.parent.mkdir(exist_ok=True)
            built.replace(target)  # atomic: a half-written library is never taken for a compiled one
    logger.debug("tl2cgen: %s", chatter.getvalue().strip())
    return target


def _library_key(classifier: Any, versions: Sequence[str]) -> str:
    digest = hashlib.sha256(pickle.dumps(classifier._predictors, protocol=5))
    digest.update("|".join(versions).encode())
    return digest.hexdigest()[:16]
