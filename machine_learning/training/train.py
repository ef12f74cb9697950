"""Training runs: stratified split, fit, held-out evaluation, MLflow tracking and the quality gate."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from machine_learning.data.prepare import fingerprint_frame
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.training.evaluate import (
    compute_feature_importance,
    evaluate_predictions,
    plot_confusion_matrix,
    plot_feature_importance,
)
from machine_learning.training.model import build_pipeline
from machine_learning.training.recency import (
    LABEL_DAY_COLUMN,
    newest_label_day,
    recency_weights,
    split_recent_holdout,
    weighted_reference,
)

PREDICTION_COLUMN = "prediction"
# Fewer recent held-out rows than this are too noisy to gate on; the random held-out rows decide then.
MIN_RECENT_ROWS = 100


@dataclass(frozen=True)
class DataSplit:
    """A stratified train/test split of labelled players."""

    train: pd.DataFrame
    test: pd.DataFrame
    seed: int
    recent: pd.DataFrame | None = None  # rows of the newest labelled days, held out for model selection


@dataclass(frozen=True)
class TrainingResult:
    """What one training run produced (JSON-serialisable through ``to_dict``)."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]
    passed_gate: bool
    gate_reason: str
    holdout_uri: str
    reference_uri: str
    data_fingerprint: str
    code_version: str
    seed: int
    train_rows: int
    test_rows: int
    fit_seconds: float
    recent_metrics: dict[str, float] = field(default_factory=dict)
    recent_holdout_uri: str = ""
    recent_rows: int = 0
    trained_until: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (Mage block output)."""
        return asdict(self)


def split_players(frame: pd.DataFrame, test_size: float, seed: int) -> DataSplit:
    """Split labelled players into train and test, stratified by label.

    Args:
        frame: Processed players with the label column.
        test_size: Share of rows held out.
        seed: Seed of the split, recorded with the run.

    Returns:
        The split.

    """
    train, test = train_test_split(frame, test_size=test_size, stratify=frame[LABEL_COLUMN], random_state=seed)
    return DataSplit(train=train.reset_index(drop=True), test=test.reset_index(drop=True), seed=seed)


def train_candidate(
    frame: pd.DataFrame,
    store: ObjectStore,
    settings: Settings,
    params: Mapping[str, Any] | None = None,
) -> TrainingResult:
    """Train, evaluate and log one model; save its held-out and reference data when it passes the gate.

    Rows from labelled days weigh more the newer they are, and a share of the newest labelled days is held out
    for model selection (see ``training/recency.py``). The quality gate judges the recent held-out rows when
    there are enough of them (the game as it is now), else the random held-out rows.

    Args:
        frame: Processed, labelled players (optionally with a ``label_day`` column).
        store: Where held-out and reference data are written.
        settings: Seed, test size, quality gate, recency weighting, MLflow location and title.
        params: Optional pipeline parameter overrides (``set_params`` form).

    Returns:
        The run's outcome; ``passed_gate`` says whether the model may be registered.

    """
    from machine_learning.health import require_mlflow
    from machine_learning.training.orphans import close_orphan_runs, owner_tags

    require_mlflow(settings)  # seconds, not minutes of retries, when MLflow is down
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    for line in close_orphan_runs(mlflow.MlflowClient(settings.mlflow_tracking_uri), settings.experiment_name):
        print(line)
    split = split_training_data(frame, settings)
    x_train, y_train = split.train[list(FEATURE_COLUMNS)], split.train[LABEL_COLUMN]
    weights = recency_weights(split.train, settings.retraining_base_weight, settings.retraining_half_life_days)
    model = build_pipeline(settings.random_seed, params)
    fingerprint, version, until = fingerprint_frame(frame), code_version(), newest_label_day(frame) or ""
    # Post-training metrics would log one "Pipeline_score-..._permuted-..." metric per permutation-importance call.
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, log_post_training_metrics=False, silent=True)
    # One OpenMP thread: the model fits in about a second, and on a busy machine (Mage, servers, other jobs)
    # oversubscribed threads made the same fit take minutes.
    try:
        with threadpool_limits(limits=1), mlflow.start_run(run_name=training_run_name(until)) as run:
            mlflow.set_tags(
                {"data_fingerprint": fingerprint, "code_version": version, "game_title": settings.game_title}
                | ({"trained_until": until} if until else {})
                | owner_tags()
            )
            mlflow.log_params(
                {"split_seed": split.seed, "test_size": settings.test_size, "train_rows": len(split.train)}
            )
            started = time.perf_counter()
            model.fit(x_train, y_train, classifier__sample_weight=weights)
            fit_seconds = time.perf_counter() - started
            evaluation, recent = _evaluate(model, split)
            importance = compute_feature_importance(
                model, split.test[list(FEATURE_COLUMNS)], split.test[LABEL_COLUMN], settings.random_seed
            )
            _log_figures(evaluation, importance)
            gate_accuracy = (recent or evaluation.metrics)["accuracy"]
            passed, reason = check_quality_gate(gate_accuracy, settings.min_accuracy)
            mlflow.set_tag("quality_gate", "passed" if passed else "failed")
            model_uri = holdout_uri = reference_uri = recent_uri = ""
            if passed:
                model_uri = _log_model(model, x_train)
                holdout_uri, reference_uri, recent_uri = save_reference_data(
                    model, split, store, settings, run.info.run_id
                )
    finally:
        mlflow.sklearn.autolog(disable=True)
    return TrainingResult(
        run_id=run.info.run_id,
        model_uri=model_uri,
        metrics=evaluation.metrics,
        passed_gate=passed,
        gate_reason=reason + (" (recent held-out rows)" if recent else ""),
        holdout_uri=holdout_uri,
        reference_uri=reference_uri,
        data_fingerprint=fingerprint,
        code_version=version,
        seed=split.seed,
        train_rows=len(split.train),
        test_rows=len(split.test),
        fit_seconds=round(fit_seconds, 3),
        recent_metrics=recent or {},
        recent_holdout_uri=recent_uri,
        recent_rows=0 if split.recent is None else len(split.recent),
        trained_until=until,
    )


def split_training_data(frame: pd.DataFrame, settings: Settings) -> DataSplit:
    """Hold out the recent rows (newest labelled days), then split the rest into train and test by label.

    Args:
        frame: Processed, labelled players, optionally with ``label_day``.
        settings: Test size, seed and how many of the newest labelled days the recent rows come from.

    Returns:
        The split; ``recent`` holds the recent rows (``None`` when there are fewer than ``MIN_RECENT_ROWS``,
        which then stay in the data).

    """
    rest, recent = split_recent_holdout(frame, settings.recent_holdout_days, settings.test_size, settings.random_seed)
    if len(recent) < MIN_RECENT_ROWS:
        rest, recent = frame, None
    split = split_players(rest, settings.test_size, settings.random_seed)
    return DataSplit(split.train, split.test, split.seed, None if recent is None else recent.reset_index(drop=True))


def training_run_name(trained_until: str) -> str:
    """MLflow run name that says what ran: the first training, or a retraining with labels up to a day."""
    return f"retraining-labels-to-{trained_until}" if trained_until else "training"


def _evaluate(model: Any, split: DataSplit) -> tuple[Any, dict[str, float] | None]:
    """Score the random held-out rows and, if any, the recent held-out rows; log both."""
    evaluation = evaluate_predictions(split.test[LABEL_COLUMN], model.predict(split.test[list(FEATURE_COLUMNS)]))
    mlflow.log_metrics({f"test_{name}": value for name, value in evaluation.metrics.items()})
    if split.recent is None:
        return evaluation, None
    recent = evaluate_predictions(
        split.recent[LABEL_COLUMN], model.predict(split.recent[list(FEATURE_COLUMNS)])
    ).metrics
    mlflow.log_metrics({f"recent_{name}": value for name, value in recent.items()})
    mlflow.log_metric("recent_rows", len(split.recent))
    return evaluation, recent


def check_quality_gate(accuracy: float, min_accuracy: float) -> tuple[bool, str]:
    """Decide whether a model is good enough to register.

    Args:
        accuracy: Held-out accuracy.
        min_accuracy: The gate (``MIN_ACCURACY``).

    Returns:
        Whether it passed, and why.

    """
    if accuracy >= min_accuracy:
        return True, f"held-out accuracy {accuracy:.4f} >= minimum {min_accuracy:.4f}"
    return False, f"held-out accuracy {accuracy:.4f} is below the minimum {min_accuracy:.4f} (MIN_ACCURACY)"


def save_reference_data(
    model: Any, split: DataSplit, store: ObjectStore, settings: Settings, run_id: str
) -> tuple[str, str, str]:
    """Save the held-out sets (for model selection) and the reference data (for monitoring).

    Args:
        model: The fitted pipeline.
        split: The split it was trained on.
        store: Where to write.
        settings: Title prefix and recency weighting.
        run_id: MLflow run id, which names the folder.

    Returns:
        The URIs of the held-out, the reference and the recent held-out Parquet objects (the last one empty when
        the split has no recent rows).

    """
    base = f"{settings.s3_prefix}/reference/{run_id}"
    reference = pd.concat([split.train.assign(split="train"), split.test.assign(split="test")], ignore_index=True)
    weights = recency_weights(reference, settings.retraining_base_weight, settings.retraining_half_life_days)
    reference = weighted_reference(reference, weights, split.seed)
    reference[PREDICTION_COLUMN] = model.predict(reference[list(FEATURE_COLUMNS)])
    columns = [ID_COLUMN, *FEATURE_COLUMNS, LABEL_COLUMN]
    holdout_uri = store.write_parquet(f"{base}/holdout.parquet", split.test[columns])
    reference_uri = store.write_parquet(
        f"{base}/reference.parquet", reference.drop(columns=LABEL_DAY_COLUMN, errors="ignore")
    )
    recent_uri = ""
    if split.recent is not None:
        recent_uri = store.write_parquet(f"{base}/recent_holdout.parquet", split.recent[[*columns, LABEL_DAY_COLUMN]])
    return holdout_uri, reference_uri, recent_uri


def code_version() -> str:
    """Return the code version: ``CODE_VERSION`` if set, else the git commit of the checkout, else ``unknown``."""
    if os.environ.get("CODE_VERSION"):
        return os.environ["CODE_VERSION"]
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607 - whichever git is on PATH
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit or "unknown"


def _log_model(model: Any, x_train: pd.DataFrame) -> str:
    sample = x_train.head(50)
    signature = infer_signature(sample, model.predict(sample))
    info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=sample.head(3))
    return str(info.model_uri)


def _log_figures(evaluation: Any, importance: pd.Series) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "confusion_matrix.png").write_bytes(plot_confusion_matrix(evaluation))
        Path(folder, "feature_importance.png").write_bytes(plot_feature_importance(importance))
        mlflow.log_artifacts(folder, artifact_path="evaluation")
        mlflow.log_dict(
            {"labels": ["High", "Medium", "Low"], "matrix": evaluation.confusion}, "evaluation/confusion_matrix.json"
        )
        mlflow.log_dict(importance.round(5).to_dict(), "evaluation/feature_importance.json")
