"""Model selection: score candidate and production on the same rows, then promote or not.

The rows that decide are the most recent labelled players neither model was trained on (held out by training from
the newest labelled days, or scored in shadow on live days); the candidate's random held-out rows guard against a
broken candidate. See :func:`machine_learning.registry.should_promote`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import mlflow
import pandas as pd
from threadpoolctl import threadpool_limits

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.errors import ConflictError, NotFoundError
from machine_learning.locks import title_lock
from machine_learning.registry import (
    CANDIDATE,
    PRODUCTION,
    Comparison,
    VersionInfo,
    get_alias_version,
    should_promote,
)
from machine_learning.rollout.approval import apply_policy
from machine_learning.rollout.audit import AuditLog
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri
from machine_learning.training.evaluate import evaluate_predictions
from machine_learning.training.recency import LABEL_DAY_COLUMN
from machine_learning.training.train import MIN_RECENT_ROWS

SELECTION_LOCK = "model-selection"
SELECTION_LEASE_SECONDS = 900.0


@dataclass(frozen=True)
class SelectionResult:
    """The outcome of one model-selection run."""

    promoted: bool
    reason: str
    candidate_version: str
    production_version: str | None
    metric: str
    candidate_score: float | None
    production_score: float | None
    holdout_rows: int
    compared_on: str = "held-out"
    recent_rows: int = 0
    candidate_recent_score: float | None = None
    production_recent_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (Mage block output)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and the CLI."""
        verdict = "PROMOTED" if self.promoted else "NOT promoted"
        return f"candidate v{self.candidate_version} {verdict}: {self.reason}"


def load_model_version(settings: Settings, version: str) -> Any:
    """Load a registered model version as a scikit-learn pipeline."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{settings.model_name}/{version}")


def score_on_holdout(model: Any, holdout: pd.DataFrame, metric: str) -> float:
    """Score a model on labelled held-out rows with the promotion metric."""
    with threadpool_limits(limits=1):  # see training: oversubscribed OpenMP threads are very slow here
        predictions = model.predict(holdout[list(FEATURE_COLUMNS)])
    return evaluate_predictions(holdout[LABEL_COLUMN], predictions).metrics[metric]


def select_model(
    client: Any, store: ObjectStore, settings: Settings, live: Comparison | None = None
) -> SelectionResult:
    """Compare ``candidate`` with ``production`` and promote the candidate if it is better.

    Recent rows decide when there are any (``live`` scores from shadow scoring, else the candidate's recent
    held-out rows from days newer than production's training data); the candidate's random held-out rows then
    only guard against a broken model. The first model is promoted automatically. The decision and its reason
    are recorded as tags on the candidate version. Composed of the steps the model_selection pipeline shows as
    blocks: :func:`compare_models`, :func:`decide_selection` and :func:`apply_selection`.

    Args:
        client: An ``MlflowClient``.
        store: Where the held-out data lives.
        settings: Model name, metric, margin and guard tolerance.
        live: Both models' scores on the same live labelled players, when the caller has them.

    Returns:
        The decision, the scores and the versions compared.

    Raises:
        NotFoundError: There is no candidate, or its held-out data is missing.
        LockBusyError: Another model selection of this title is still running.

    """
    # Serialised per title: a promotion decides against the production that it replaces (see locks.py).
    with title_lock(store, settings, SELECTION_LOCK, lease_seconds=SELECTION_LEASE_SECONDS):
        compared = compare_models(client, store, settings, live)
        result = decide_selection(settings, compared)
        return apply_selection(client, store, settings, compared, result)


def compare_models(
    client: Any, store: ObjectStore, settings: Settings, live: Comparison | None = None
) -> dict[str, Any]:
    """Step 1: score ``candidate`` and ``production`` with the promotion metric on the same rows.

    Args:
        client: An ``MlflowClient``.
        store: Where the held-out data lives.
        settings: Model name and metric.
        live: Both models' scores on the same live labelled players, when the caller has them.

    Returns:
        ``candidate`` and ``production`` (versions as dicts, production ``None`` before the first promotion),
        ``metric``, ``held_out`` and ``recent`` (:class:`Comparison` as dicts; both ``None`` when the candidate is
        already in production, ``recent`` also without rows newer than production's training data).

    Raises:
        NotFoundError: There is no candidate, or its held-out data is missing.

    """
    candidate = get_alias_version(client, settings, CANDIDATE)
    if candidate is None:
        raise NotFoundError(f"model {settings.model_name} has no '{CANDIDATE}' version: run training first")
    production = get_alias_version(client, settings, PRODUCTION)
    compared: dict[str, Any] = {
        "candidate": candidate.to_dict(),
        "production": production.to_dict() if production else None,
        "metric": settings.promotion_metric,
        "held_out": None,
        "recent": None,
    }
    if production is not None and production.version == candidate.version:
        return compared
    metric = settings.promotion_metric
    holdout = _read_holdout(store, candidate)
    models = [load_model_version(settings, candidate.version)]
    models += [load_model_version(settings, production.version)] if production else []
    scores = [score_on_holdout(model, holdout, metric) for model in models]
    held_out = Comparison("held-out", len(holdout), scores[0], scores[1] if production else None)
    recent = live or _recent_comparison(store, candidate, production, models, metric)
    return {**compared, "held_out": asdict(held_out), "recent": asdict(recent) if recent else None}


def decide_selection(settings: Settings, compared: dict[str, Any]) -> SelectionResult:
    """Step 2: decide whether the candidate is promoted (pure: no I/O).

    Args:
        settings: Margin and guard tolerance.
        compared: The output of :func:`compare_models`.

    Returns:
        The decision, the scores and the versions compared.

    """
    candidate = VersionInfo(**compared["candidate"])
    production = VersionInfo(**compared["production"]) if compared["production"] else None
    metric = compared["metric"]
    if compared["held_out"] is None:
        reason = f"candidate v{candidate.version} is already in production"
        production_version = production.version if production else None
        return SelectionResult(False, reason, candidate.version, production_version, metric, None, None, 0)
    held_out = Comparison(**compared["held_out"])
    recent = Comparison(**compared["recent"]) if compared["recent"] else None
    decision = should_promote(recent, held_out, metric, settings.promotion_margin, settings.selection_old_tolerance)
    return SelectionResult(
        promoted=decision.promote,
        reason=decision.reason,
        candidate_version=candidate.version,
        production_version=production.version if production else None,
        metric=metric,
        candidate_score=round(held_out.candidate, 6),
        production_score=None if held_out.production is None else round(held_out.production, 6),
        holdout_rows=held_out.rows,
        compared_on=recent.source if recent else "held-out",
        recent_rows=recent.rows if recent else 0,
        candidate_recent_score=round(recent.candidate, 6) if recent else None,
        production_recent_score=None if recent is None or recent.production is None else round(recent.production, 6),
    )


def announce_selection(settings: Settings, compared: dict[str, Any]) -> dict[str, Any]:
    """Step 2 as the model_selection pipeline runs it: decide, print the decision as one line, return it.

    Args:
        settings: Margin and guard tolerance.
        compared: The output of :func:`compare_models`.

    Returns:
        The decision (:meth:`SelectionResult.to_dict`).

    """
    result = decide_selection(settings, compared)
    print(result.describe())
    return result.to_dict()


def apply_selection(
    client: Any, store: ObjectStore, settings: Settings, compared: dict[str, Any], result: SelectionResult
) -> SelectionResult:
    """Step 3: a winning candidate goes through the promotion policy; the outcome is recorded on its version.

    The caller holds the title's selection lock (:func:`select_model`, :func:`promote_selected`).

    Args:
        client: An ``MlflowClient``.
        store: Where the audit log lives.
        settings: Names the registered model and the promotion policy.
        compared: The output of :func:`compare_models` (the versions compared).
        result: The output of :func:`decide_selection`.

    Returns:
        The result under the policy (promoted now, or waiting for approval).

    """
    if compared["held_out"] is None:  # already in production: nothing to record
        return result
    candidate = VersionInfo(**compared["candidate"])
    production = VersionInfo(**compared["production"]) if compared["production"] else None
    if result.promoted:  # the promotion policy decides whether production moves now (auto) or waits (manual)
        result = apply_policy(AuditLog(client, store, settings), settings, candidate, production, result)
    _record_decision(client, settings, result)
    return result


def promote_selected(
    client: Any, store: ObjectStore, settings: Settings, compared: dict[str, Any], decision: dict[str, Any]
) -> dict[str, Any]:
    """Step 3 as the model_selection pipeline runs it, after steps that ran in other blocks.

    Under the title's selection lock, production must still be the version that was compared: otherwise another
    selection promoted in between, and this decision was made against a production it no longer replaces.

    Args:
        client: An ``MlflowClient``.
        store: Where the title's locks live.
        settings: Names the registered model.
        compared: The output of :func:`compare_models`.
        decision: The output of :func:`announce_selection`.

    Returns:
        The decision as applied under the promotion policy.

    Raises:
        ConflictError: Production moved since the comparison; nothing was changed (run model_selection again).
        LockBusyError: Another model selection of this title is still running.

    """
    with title_lock(store, settings, SELECTION_LOCK, lease_seconds=SELECTION_LEASE_SECONDS):
        production = get_alias_version(client, settings, PRODUCTION)
        now = production.version if production else None
        then = compared["production"]["version"] if compared["production"] else None
        if now != then:
            raise ConflictError(
                f"production moved from v{then} to v{now} since candidate v{compared['candidate']['version']} was "
                "compared with it; nothing was changed: run model_selection again"
            )
        decided = SelectionResult(**decision)
        result = apply_selection(client, store, settings, compared, decided)
    if result != decided:  # the promotion policy changed the outcome (a manual policy waits for approval)
        print(result.describe())
    return result.to_dict()


def _recent_comparison(
    store: ObjectStore, candidate: VersionInfo, production: VersionInfo | None, models: list[Any], metric: str
) -> Comparison | None:
    """Both models on the candidate's recent held-out rows from days production was not trained on."""
    uri = candidate.tags.get("recent_holdout_uri")
    if production is None or not uri:
        return None
    bucket, key = parse_s3_uri(uri)
    recent = ObjectStore(client=store.client, bucket=bucket).read_parquet(key)
    unseen = recent[recent[LABEL_DAY_COLUMN].astype(str) > production.tags.get("trained_until", "")]
    if len(unseen) < MIN_RECENT_ROWS:
        return None
    candidate_score, production_score = (score_on_holdout(model, unseen, metric) for model in models)
    return Comparison("recent", len(unseen), candidate_score, production_score)


def _read_holdout(store: ObjectStore, candidate: VersionInfo) -> pd.DataFrame:
    uri = candidate.tags.get("holdout_uri")
    if not uri:
        raise NotFoundError(f"candidate v{candidate.version} has no holdout_uri tag: it was not registered by training")
    bucket, key = parse_s3_uri(uri)
    return ObjectStore(client=store.client, bucket=bucket).read_parquet(key)


def _record_decision(client: Any, settings: Settings, result: SelectionResult) -> None:
    tags = {
        "selection_decision": "promoted" if result.promoted else "rejected",
        "selection_reason": result.reason,
        "selection_compared_with": result.production_version or "none",
        "selection_holdout_rows": str(result.holdout_rows),
        "selection_compared_on": result.compared_on,
        "selection_recent_rows": str(result.recent_rows),
    }
    for name, value in tags.items():
        client.set_model_version_tag(settings.model_name, result.candidate_version, name, value)
    client.update_model_version(settings.model_name, result.candidate_version, description=result.describe())


def run_model_selection(settings: Settings) -> dict[str, Any]:
    """Model selection as one call (the retraining pipeline's last block): connect, decide, print, return."""
    from machine_learning.services import connect

    services = connect(settings)
    result = select_model(services.mlflow, services.store, settings)
    print(result.describe())
    return result.to_dict()
