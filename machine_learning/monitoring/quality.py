"""Live quality from labels: how well production (and a shadow candidate) scored on labelled days.

Labels arrive late, a week at a time. When they do, the predictions stored for those days are joined with them:
``predictions/date=D/run=<id>/predictions.parquet`` (production's answers, with the version that gave them) and
``predictions/date=D/shadow/v<N>.parquet`` (a candidate scored beside production, never served). A model is only
judged on days newer than its own training data (``trained_until``), so a retrained model is never credited for
players it learned from.

The pure decision :func:`decide_quality` turns production's live accuracy into a reason to retrain: a drop of
more than ``MAX_QUALITY_DROP`` below the accuracy the model was expected to have (its recent held-out accuracy)
starts a quality episode, whatever the drift tests say, because the meaning of the inputs can change while the
inputs look the same. The episode lasts until live accuracy is back within ``QUALITY_RECOVERY_TOLERANCE`` of what
production was expected to reach before the episode began, so a first retraining that only partly recovers is
followed by another one after the cooldown.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN
from machine_learning.errors import NotFoundError
from machine_learning.inference.predict import PREDICTION_COLUMN
from machine_learning.registry import Comparison, VersionInfo
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.training.evaluate import evaluate_predictions

PRODUCTION_ROLE, SHADOW_ROLE = "production", "shadow"
# Fewer labelled players than this on one day are too noisy to judge that day alone.
MIN_QUALITY_ROWS = 200
_SHADOW_KEY = re.compile(r"/shadow/v([0-9]+)\.parquet$")


@dataclass(frozen=True)
class LiveQuality:
    """One model version's live quality on labelled players (one day, or ``pooled`` over several)."""

    day: str
    version: str
    role: str
    rows: int
    accuracy: float
    f1_macro: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class QualityDecision:
    """Whether production's live quality calls for retraining; ``needed`` is ``None`` without evidence."""

    needed: bool | None
    reason: str
    live_accuracy: float | None = None
    expected_accuracy: float | None = None
    rows: int = 0
    changed_since: str | None = None  # the first labelled day of the window on which accuracy dropped


def predictions_key(store: ObjectStore, settings: Settings, day: str) -> str | None:
    """Key of production's predictions of a day (of the batch run that the day's manifest names)."""
    from machine_learning.inference.daily import day_table_key

    return day_table_key(store, settings, day, "predictions")


def shadow_key(settings: Settings, day: str, version: str) -> str:
    """Key of a shadow candidate's predictions of a day, marked by its version."""
    return f"{settings.s3_prefix}/predictions/date={day}/shadow/v{version}.parquet"


def load_live_predictions(store: ObjectStore, settings: Settings, days: list[str]) -> pd.DataFrame:
    """Join every stored prediction of the given days that has a published label with that label.

    Args:
        store: Where predictions and labels live.
        settings: Title prefix.
        days: Days to look at; days without labels are skipped.

    Returns:
        One row per (day, role, player): ``date``, ``version``, ``role``, ``PlayerID``, ``predicted``, ``label``.

    """
    from machine_learning.monitoring.data import load_labels

    labels = load_labels(store, settings, days)
    frames = []
    for day in sorted(set(labels["date"])):
        truth = labels.loc[labels["date"] == day, [ID_COLUMN, LABEL_COLUMN]]
        sources = [(PRODUCTION_ROLE, predictions_key(store, settings, day))]
        shadows = store.list_keys(f"{settings.s3_prefix}/predictions/date={day}/shadow/")
        sources += [(SHADOW_ROLE, key) for key in shadows if _SHADOW_KEY.search(key)]
        for role, key in sources:
            if key is None:
                continue
            try:
                scored = store.read_parquet(key)[[ID_COLUMN, PREDICTION_COLUMN, "model_version"]]
            except NotFoundError:
                continue
            joined = scored.merge(truth, on=ID_COLUMN, how="inner")
            frames.append(
                pd.DataFrame(
                    {
                        "date": day,
                        "version": joined["model_version"].astype(str),
                        "role": role,
                        ID_COLUMN: joined[ID_COLUMN],
                        "predicted": joined[PREDICTION_COLUMN].astype(str),
                        "label": joined[LABEL_COLUMN].astype(str),
                    }
                )
            )
    columns = ["date", "version", "role", ID_COLUMN, "predicted", "label"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def summarise_live(live: pd.DataFrame) -> list[LiveQuality]:
    """Live quality per day, version and role (pure), oldest day first."""
    return [
        _quality(str(day), str(version), str(role), group)
        for (day, version, role), group in live.groupby(["date", "version", "role"], sort=True)
    ]


def pool_live(live: pd.DataFrame, version: str, role: str, after: str) -> tuple[LiveQuality | None, LiveQuality | None]:
    """One version's quality pooled over its days after ``after``, and on the newest of those days (pure).

    Args:
        live: From :func:`load_live_predictions`.
        version: The model version.
        role: ``production`` or ``shadow``.
        after: Only days later than this count (the version's ``trained_until``; empty for all).

    Returns:
        The pooled quality and the newest day's, each ``None`` when there is no such row.

    """
    rows = live[(live["version"] == version) & (live["role"] == role) & (live["date"].astype(str) > after)]
    if rows.empty:
        return None, None
    newest = str(rows["date"].max())
    return _quality("pooled", version, role, rows), _quality(newest, version, role, rows[rows["date"] == newest])


def find_change_day(live: pd.DataFrame, version: str, after: str, expected: float, max_drop: float) -> str | None:
    """Return the first day after ``after`` on which the version's served accuracy fell more than ``max_drop`` (pure).

    Retraining uses it to let the days since the change lead (``data/accumulate.py``): labelled days before it
    describe the game as it was.
    """
    rows = live[(live["version"] == version) & (live["role"] == PRODUCTION_ROLE) & (live["date"].astype(str) > after)]
    for day, group in rows.groupby("date", sort=True):
        if len(group) >= MIN_QUALITY_ROWS and (group["predicted"] == group["label"]).mean() < expected - max_drop:
            return str(day)
    return None


def decide_quality(
    pooled: LiveQuality | None,
    newest: LiveQuality | None,
    expected: float,
    episode_baseline: float | None,
    max_drop: float,
    recovery_tolerance: float,
) -> QualityDecision:
    """Decide whether production's live quality calls for retraining (pure).

    Args:
        pooled: Production's live quality pooled over the window's days it was not trained on.
        newest: Its quality on the newest of those days (judged alone when it has ``MIN_QUALITY_ROWS``).
        expected: The accuracy the model was expected to have (its recent held-out accuracy).
        episode_baseline: While a quality episode is open: the expected accuracy of the production that was in
            place when it began; ``None`` otherwise.
        max_drop: ``MAX_QUALITY_DROP``.
        recovery_tolerance: ``QUALITY_RECOVERY_TOLERANCE``.

    Returns:
        The decision with its reason; ``needed`` is ``None`` when no labelled day can judge the model yet.

    """
    if pooled is None:
        return QualityDecision(None, "no labelled players newer than production's training data: quality unknown yet")
    accuracy, where = pooled.accuracy, f"{pooled.rows} labelled players"
    if newest is not None and newest.rows >= MIN_QUALITY_ROWS and newest.accuracy < accuracy:
        accuracy, where = newest.accuracy, f"{newest.rows} labelled players of {newest.day}"
    live = f"live accuracy {accuracy:.4f} on {where} (v{pooled.version})"
    if episode_baseline is not None:
        floor = episode_baseline - recovery_tolerance
        if accuracy < floor:
            reason = f"{live} is still below {floor:.4f}, the level before the quality episode minus the tolerance"
            return QualityDecision(True, reason, accuracy, expected, pooled.rows)
        reason = f"{live} recovered to within {recovery_tolerance:.4f} of {episode_baseline:.4f}"
        return QualityDecision(False, reason, accuracy, expected, pooled.rows)
    drop = expected - accuracy
    if drop > max_drop:
        reason = f"{live} is {drop:.4f} below the expected {expected:.4f} (MAX_QUALITY_DROP {max_drop:.4f})"
        return QualityDecision(True, reason, accuracy, expected, pooled.rows)
    reason = f"{live} holds: expected {expected:.4f}, drop {drop:+.4f} within {max_drop:.4f}"
    return QualityDecision(False, reason, accuracy, expected, pooled.rows)


def compare_live(live: pd.DataFrame, candidate: VersionInfo, production: VersionInfo, metric: str) -> Comparison | None:
    """Candidate (shadow) and production scored on the same live players, from days after the candidate's data.

    Args:
        live: From :func:`load_live_predictions`.
        candidate: The shadow candidate.
        production: The version in production.
        metric: The promotion metric (``accuracy`` or ``f1_macro``).

    Returns:
        The comparison, or ``None`` with fewer than ``MIN_QUALITY_ROWS`` shared players.

    """
    after = candidate.tags.get("trained_until", "")
    keys = ["date", ID_COLUMN]
    live = live[live["date"].astype(str) > after]
    shadow = live[(live["role"] == SHADOW_ROLE) & (live["version"] == candidate.version)]
    served = live[(live["role"] == PRODUCTION_ROLE) & (live["version"] == production.version)]
    both = shadow.merge(served[[*keys, "predicted"]], on=keys, suffixes=("", "_production"))
    if len(both) < MIN_QUALITY_ROWS:
        return None
    candidate_score = evaluate_predictions(both["label"], both["predicted"]).metrics[metric]
    production_score = evaluate_predictions(both["label"], both["predicted_production"]).metrics[metric]
    return Comparison("live", len(both), candidate_score, production_score)


def describe_live_quality(store: ObjectStore, settings: Settings, day: str, days: int) -> list[str]:
    """Lines of a table: per labelled day, the accuracy of what production served and of any shadow candidate.

    Args:
        store: Where predictions and labels live.
        settings: Title prefix.
        day: The last day, ``YYYY-MM-DD``.
        days: How many days ending on ``day`` to show.

    Returns:
        A header and one line per labelled day, role and version (a note when nothing is labelled yet).

    """
    from machine_learning.monitoring.data import window_days

    rows = summarise_live(load_live_predictions(store, settings, window_days(day, days)))
    if not rows:
        return [f"no labelled predictions in the {days} day(s) up to {day} yet (labels are published on Sundays)"]
    lines = [f"{'day':<11} {'role':<11} {'version':>7} {'players':>8} {'accuracy':>9} {'macro-F1':>9}"]
    lines += [
        f"{q.day:<11} {q.role:<11} {'v' + q.version:>7} {q.rows:>8} {q.accuracy:>9.4f} {q.f1_macro:>9.4f}" for q in rows
    ]
    return lines


def expected_accuracy(version: VersionInfo) -> float:
    """Return the accuracy a version was expected to have live: recent held-out if measured, else random held-out."""
    return float(version.tags.get("expected_accuracy") or version.tags.get("test_accuracy") or "nan")


def _quality(day: str, version: str, role: str, rows: pd.DataFrame) -> LiveQuality:
    metrics = evaluate_predictions(rows["label"], rows["predicted"]).metrics
    return LiveQuality(day, version, role, len(rows), round(metrics["accuracy"], 6), round(metrics["f1_macro"], 6))
