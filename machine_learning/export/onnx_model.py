"""A verified ONNX export of one model version, kept in that version's cache folder.

An export is offered only after onnxruntime's probabilities matched ``predict_proba`` on probe rows within
:data:`TOLERANCE` (:func:`judge_export` decides, with the reason). The verified model is kept as
``MODEL_CACHE_DIR/<model>/versions/<version>/onnx/model.onnx`` beside ``verification.json``; a cached file is
verified again before it is offered (a few milliseconds), and converted anew if it no longer matches.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from machine_learning.data.schema import CATEGORICAL_FEATURES, CATEGORY_COLUMNS, FEATURE_COLUMNS
from machine_learning.errors import MLOpsError

logger = logging.getLogger(__name__)

TOLERANCE = 1e-5  # largest accepted |ONNX - predict_proba| of any probability on the probe rows
PROBE_ROWS = 512
FOLDER, FILE_NAME, VERIFICATION_NAME = "onnx", "model.onnx", "verification.json"
MEDIA_TYPE = "application/octet-stream"
UNSEEN_CATEGORY = "\x00unseen"  # probes the unknown-category path (never a real category)


class ExportRejectedError(MLOpsError):
    """The ONNX model cannot be built or does not give ``predict_proba``'s probabilities: it is never offered."""


@dataclass(frozen=True)
class Verification:
    """How an ONNX model compared with ``predict_proba`` on the probe rows, and the verdict with its reason."""

    rows: int
    max_abs_diff: float
    tolerance: float
    passed: bool
    reason: str


@dataclass(frozen=True)
class OnnxExport:
    """A verified ONNX model of a registered version."""

    model_name: str
    version: str
    content: bytes
    verification: Verification
    path: Path | None = None

    @property
    def etag(self) -> str:
        """The HTTP entity tag: the version, quoted (``"7"``)."""
        return f'"{self.version}"'


def judge_export(onnx_probabilities: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE) -> Verification:
    """Decide whether ONNX probabilities are close enough to the pipeline's to be offered.

    Args:
        onnx_probabilities: onnxruntime's probabilities, shape (rows, classes).
        expected: ``predict_proba`` on the same rows.
        tolerance: The largest accepted absolute difference.

    Returns:
        The verdict, with the largest difference and the reason.

    """
    rows = int(expected.shape[0])
    if onnx_probabilities.shape != expected.shape:
        return Verification(
            rows,
            float("inf"),
            tolerance,
            False,
            f"ONNX gave shape {onnx_probabilities.shape}, predict_proba {expected.shape}",
        )
    diff = float(np.abs(onnx_probabilities - expected).max()) if rows else 0.0
    if not np.isfinite(onnx_probabilities).all() or diff > tolerance:
        return Verification(
            rows,
            diff,
            tolerance,
            False,
            f"ONNX probabilities differ from predict_proba by up to {diff:.3g} (> {tolerance:g}) on {rows} probe rows",
        )
    return Verification(
        rows, diff, tolerance, True, f"max |ONNX - predict_proba| {diff:.3g} <= {tolerance:g} on {rows} probe rows"
    )


def onnx_feeds(columns: Mapping[str, Sequence[Any] | np.ndarray]) -> dict[str, np.ndarray]:
    """Build the ONNX model's inputs from raw feature columns: one ``[N, 1]`` array per column, float64 or string."""
    return {
        name: (
            np.asarray(columns[name], dtype=object).astype(str)
            if name in CATEGORICAL_FEATURES
            else np.asarray(columns[name], dtype="float64")
        ).reshape(-1, 1)
        for name in FEATURE_COLUMNS
    }


def open_session(content: bytes) -> Any:
    """Open an onnxruntime session on one thread (as a device would run one player at a time)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    return onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])


def score_onnx(session: Any, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
    """Probabilities of the ONNX model for raw feature columns, shape (rows, classes)."""
    return np.asarray(session.run(["probabilities"], onnx_feeds(columns))[0], dtype="float64")


def probe_rows(rows: int = PROBE_ROWS) -> dict[str, list[Any]]:
    """Draw the probe rows: random rows over the schema (as for the fast predictors) and unseen categories."""
    from machine_learning.inference.fast_model import probe_columns

    columns = probe_columns(rows)
    for offset, category in enumerate(CATEGORY_COLUMNS):  # every few rows one category the encoder never saw
        columns[category.name][offset::7] = [UNSEEN_CATEGORY] * len(columns[category.name][offset::7])
    return columns


def verify_export(
    content: bytes, pipeline: Any, columns: Mapping[str, Sequence[Any]], tolerance: float = TOLERANCE
) -> Verification:
    """Score probe rows with onnxruntime and with ``predict_proba``, and judge the difference.

    Args:
        content: The ONNX model.
        pipeline: The fitted pipeline it was made from.
        columns: Raw probe rows.
        tolerance: The largest accepted absolute difference.

    Returns:
        The verdict (a model onnxruntime cannot load or run fails it, with the error as the reason).

    """
    import pandas as pd

    expected = np.asarray(pipeline.predict_proba(pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS})))
    try:
        got = score_onnx(open_session(content), columns)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types; the model is then refused
        return Verification(
            len(expected), float("inf"), tolerance, False, f"onnxruntime cannot run it: {str(error)[:300]}"
        )
    return judge_export(got, expected, tolerance)


def export_model(
    pipeline: Any,
    model_name: str,
    version: str,
    cache_dir: Path | None,
    convert: Callable[[Any, dict[str, str]], bytes] | None = None,
) -> OnnxExport:
    """Build (or reuse from the cache) the verified ONNX model of a version.

    Args:
        pipeline: The version's fitted pipeline.
        model_name: Registered model name (written into the model's metadata).
        version: Registered version.
        cache_dir: The version's cache folder; ``None`` keeps the export in memory only.
        convert: The converter (default :func:`machine_learning.export.convert.convert_pipeline`).

    Returns:
        The verified export.

    Raises:
        ExportRejectedError: Conversion failed or the ONNX probabilities differ; nothing is written.

    """
    from machine_learning.export.convert import UnsupportedExportError, convert_pipeline

    probes = probe_rows()
    folder = cache_dir / FOLDER if cache_dir is not None else None
    if folder is not None and (folder / FILE_NAME).exists():
        content = (folder / FILE_NAME).read_bytes()
        verification = verify_export(content, pipeline, probes)
        if verification.passed:
            return OnnxExport(model_name, version, content, verification, folder / FILE_NAME)
        logger.warning(
            "cached ONNX model of version %s is refused (%s): converting again", version, verification.reason
        )
    try:
        content = (convert or convert_pipeline)(pipeline, {"model_name": model_name, "model_version": version})
    except UnsupportedExportError as error:
        raise ExportRejectedError(f"version {version} cannot be exported to ONNX: {error}") from None
    verification = verify_export(content, pipeline, probes)
    if not verification.passed:
        raise ExportRejectedError(f"ONNX export of version {version} refused: {verification.reason}")
    path = _keep(folder, content, verification) if folder is not None else None
    return OnnxExport(model_name, version, content, verification, path)


def _keep(folder: Path, content: bytes, verification: Verification) -> Path | None:
    """Write the verified model atomically; a read-only or full cache keeps it in memory only."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".model-", delete=False) as staged:
            staged.write(content)
        (folder / VERIFICATION_NAME).write_text(json.dumps(asdict(verification), indent=1))
        Path(staged.name).replace(folder / FILE_NAME)
    except OSError as error:
        logger.warning("could not keep the ONNX model in %s (%s): it stays in memory", folder, error.strerror)
        return None
    return folder / FILE_NAME
