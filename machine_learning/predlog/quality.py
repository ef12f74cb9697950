"""Live quality of what serving answered: the prediction log joined with published labels, per variant and version.

When labels for a day are published (``<title>/labels/date=D/labels.parquet``, as the batch side reads them in
:mod:`machine_learning.monitoring.quality`), the day's log is joined with them by ``PlayerID`` and day. A player
asked about several times in a day counts once per variant and version (the last answer). The rows then have
the batch side's shape, with the roles ``online-production``, ``online-challenger`` and ``online-shadow`` (a
shadow's answers, for some of production's players), so its functions summarise them
(:func:`~machine_learning.monitoring.quality.summarise_live`, ``pool_live``, which also keeps each version to
days after its ``trained_until``) and the figures are recorded the same way: one MLflow run in the title's
monitoring experiment with ``live_<metric>_<role>_v<version>`` on the day's axis, and a JSON record in S3.

The decision reuses the existing pure rules. :func:`~machine_learning.rollout.retreat.should_withdraw` withdraws
a challenger whose live accuracy is lower than production's by more than ``CANARY_QUALITY_TOLERANCE`` once both
have ``CANARY_MIN_REQUESTS`` labelled players; a challenger better by more than ``PROMOTION_MARGIN`` on the
promotion metric goes through :func:`~machine_learning.selection.select_model` with those live scores, so the
held-out guard and the promotion policy (``auto`` / ``manual``) decide as for any candidate. A canary's players
and production's are disjoint groups split by a stable hash, so the two scores compare like an A/B test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN
from machine_learning.monitoring.quality import LiveQuality, pool_live, summarise_live
from machine_learning.predlog.records import PREDICTED_COLUMN, log_prefix
from machine_learning.registry import VersionInfo
from machine_learning.rollout.retreat import RetreatLimits, VariantFigures, should_withdraw
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

if TYPE_CHECKING:
    from machine_learning.services import Services

ROLE_PREFIX = "online-"
PRODUCTION_ROLE, CHALLENGER_ROLE = f"{ROLE_PREFIX}production", f"{ROLE_PREFIX}challenger"
SHADOW_ROLE = f"{ROLE_PREFIX}shadow"  # a shadow's answers, logged beside production's for the same players
WITHDRAW, PROMOTE, KEEP, WAIT, NO_CHALLENGER = "withdraw", "promote", "keep", "wait", "no-challenger"
ASSESSED = "assessed only: nothing withdrawn, promoted or recorded"
_LOGGED = ["date", "logged_at", "variant", "model_version", ID_COLUMN, PREDICTED_COLUMN]
_LIVE = ["date", "version", "role", ID_COLUMN, "predicted", "label"]


def load_logged_predictions(store: ObjectStore, settings: Settings, days: list[str]) -> pd.DataFrame:
    """Read the title's prediction log of the given days (days without a log are skipped).

    Returns:
        ``date``, ``logged_at``, ``variant``, ``model_version``, ``PlayerID``, ``predicted_engagement``.

    """
    frames = [
        store.read_parquet(key)[_LOGGED]
        for day in days
        for key in store.list_keys(log_prefix(settings.s3_prefix, day))
        if key.endswith(".parquet")
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_LOGGED)


def join_with_labels(logged: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Join logged answers with labels by ``PlayerID`` and day (pure).

    Args:
        logged: From :func:`load_logged_predictions`.
        labels: ``PlayerID``, ``EngagementLevel``, ``date`` (:func:`machine_learning.monitoring.data.load_labels`).

    Returns:
        The batch side's live rows (``date``, ``version``, ``role``, ``PlayerID``, ``predicted``, ``label``): one
        per labelled player, day, variant and version (a player's last answer of the day), role ``online-<variant>``.

    """
    if logged.empty or labels.empty:
        return pd.DataFrame(columns=_LIVE)
    last = logged.sort_values("logged_at", kind="stable").drop_duplicates(
        ["date", ID_COLUMN, "variant", "model_version"], keep="last"
    )
    truth = labels[["date", ID_COLUMN, LABEL_COLUMN]].astype({"date": str, ID_COLUMN: "int64"})
    joined = last.astype({"date": str, ID_COLUMN: "int64"}).merge(truth, on=["date", ID_COLUMN], how="inner")
    return pd.DataFrame(
        {
            "date": joined["date"],
            "version": joined["model_version"].astype(str),
            "role": ROLE_PREFIX + joined["variant"].astype(str),
            ID_COLUMN: joined[ID_COLUMN],
            "predicted": joined[PREDICTED_COLUMN].astype(str),
            "label": joined[LABEL_COLUMN].astype(str),
        }
    ).reset_index(drop=True)


@dataclass(frozen=True)
class OnlineDecision:
    """What live quality says about the challenger: ``withdraw``, ``promote``, ``keep``, ``wait`` or none."""

    action: str
    reason: str
    production: LiveQuality | None = None
    challenger: LiveQuality | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "action": self.action,
            "reason": self.reason,
            "production": self.production.to_dict() if self.production else None,
            "challenger": self.challenger.to_dict() if self.challenger else None,
        }


def decide_online(
    production: LiveQuality | None,
    challenger: LiveQuality | None,
    limits: RetreatLimits,
    metric: str,
    margin: float,
) -> OnlineDecision:
    """Decide on the challenger from both variants' live quality (pure).

    Args:
        production: Production's live quality on its players, pooled over the window (``None``: no rows).
        challenger: The challenger's on its players.
        limits: The retreat rule's limits (``CANARY_QUALITY_TOLERANCE``, ``CANARY_MIN_REQUESTS``).
        metric: The promotion metric (``accuracy`` or ``f1_macro``).
        margin: ``PROMOTION_MARGIN``.

    Returns:
        The decision; the reason names the figures and the limit.

    """
    counts = f"production {production.rows if production else 0}, challenger {challenger.rows if challenger else 0}"
    if production is None or challenger is None or min(production.rows, challenger.rows) < limits.min_requests:
        return OnlineDecision(
            WAIT, f"too few labelled players to judge ({counts}; {limits.min_requests} each needed)",
            production, challenger,
        )  # fmt: skip
    retreat = should_withdraw(_figures(production), _figures(challenger), limits)
    if retreat.withdraw:
        return OnlineDecision(WITHDRAW, retreat.reason, production, challenger)
    theirs, ours = getattr(challenger, metric), getattr(production, metric)
    scores = f"live {metric} {theirs:.4f} (v{challenger.version}) vs production {ours:.4f} (v{production.version})"
    if theirs - ours > margin:
        return OnlineDecision(PROMOTE, f"{scores} ({counts}) beats the margin {margin:.4f}", production, challenger)
    return OnlineDecision(
        KEEP,
        f"{scores} ({counts}): within the tolerance {limits.quality_tolerance:.4f}, not better by the margin "
        f"{margin:.4f}",
        production,
        challenger,
    )


def _figures(quality: LiveQuality) -> VariantFigures:
    """Build the retreat rule's figures from labels alone (errors and latency are judged by ``canary check``)."""
    return VariantFigures(quality.rows, 0, None, live_accuracy=quality.accuracy, labelled=quality.rows)


@dataclass(frozen=True)
class OnlineQualityResult:
    """One evaluation of the log: per day, variant and version; the decision; what was done."""

    day: str
    summary: list[LiveQuality]
    decision: OnlineDecision
    outcome: str
    record_uri: str | None = None
    mlflow_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "day": self.day,
            "live_quality": [quality.to_dict() for quality in self.summary],
            "decision": self.decision.to_dict(),
            "outcome": self.outcome,
            "record_uri": self.record_uri,
            "mlflow_run_id": self.mlflow_run_id,
        }


def quality_key(settings: Settings, day: str) -> str:
    """Key of the JSON record of one evaluation of the log."""
    return f"{settings.s3_prefix}/prediction-log-quality/date={day}/quality.json"


def evaluate_prediction_log(
    services: Services, settings: Settings, day: str, days: int, act: bool
) -> OnlineQualityResult:
    """Join the log of the days up to ``day`` with their labels, decide on the challenger, act, record it.

    Args:
        services: S3 store and MLflow client.
        settings: Title, limits, promotion metric and margin, policy.
        day: The last day, ``YYYY-MM-DD``.
        days: How many days ending on ``day``.
        act: Withdraw or promote as decided (``False``: only report and record).

    Returns:
        The figures, the decision and its outcome.

    """
    result = assess_prediction_log(services, settings, day, days)
    outcome = apply_online_decision(services, settings, result.decision) if act else "not applied (--dry-run)"
    return record_online_quality(services, settings, dataclasses.replace(result, outcome=outcome))


def assess_prediction_log(services: Services, settings: Settings, day: str, days: int) -> OnlineQualityResult:
    """Join the log of the days up to ``day`` with their labels and decide on the challenger; change nothing.

    Args:
        services: S3 store and MLflow client (read only).
        settings: Title, limits, promotion metric and margin.
        day: The last day, ``YYYY-MM-DD``.
        days: How many days ending on ``day``.

    Returns:
        The figures and the decision, outcome ``assessed only``, recorded nowhere.

    """
    from machine_learning.monitoring.data import load_labels, window_days
    from machine_learning.registry import PRODUCTION, get_alias_version
    from machine_learning.rollout.approval import CHALLENGER
    from machine_learning.rollout.canary import read_challenger_config

    window = window_days(day, days)
    live = join_with_labels(load_logged_predictions(services.store, settings, window),
                            load_labels(services.store, settings, window))  # fmt: skip
    production = get_alias_version(services.mlflow, settings, PRODUCTION)
    challenger = get_alias_version(services.mlflow, settings, CHALLENGER)
    ours = _pooled(live, production, PRODUCTION_ROLE)
    if challenger is None:
        decision = OnlineDecision(NO_CHALLENGER, "no challenger is serving: production's live quality only", ours)
    else:
        shadow = read_challenger_config(challenger, settings).mode == "shadow"
        theirs = _pooled(live, challenger, SHADOW_ROLE if shadow else CHALLENGER_ROLE)
        limits = RetreatLimits.from_settings(settings)
        decision = decide_online(ours, theirs, limits, settings.promotion_metric, settings.promotion_margin)
    return OnlineQualityResult(day, summarise_live(live), decision, ASSESSED)


def _pooled(live: pd.DataFrame, version: VersionInfo | None, role: str) -> LiveQuality | None:
    if version is None:
        return None
    return pool_live(live, version.version, role, version.tags.get("trained_until", ""))[0]


def apply_online_decision(services: Services, settings: Settings, decision: OnlineDecision) -> str:
    """Withdraw the challenger (audit log: ``canary-withdrawn`` with the reason) or run it through selection.

    Returns:
        One line: what was done.

    """
    if decision.action == WITHDRAW and decision.challenger and decision.production:
        from machine_learning.rollout import audit as events
        from machine_learning.rollout.audit import AuditLog
        from machine_learning.rollout.canary import stop_canary

        metrics = {"live_accuracy": decision.challenger.accuracy, "labelled": float(decision.challenger.rows),
                   "production_live_accuracy": decision.production.accuracy}  # fmt: skip
        audit = AuditLog(services.mlflow, services.store, settings)
        reason = f"withdrawn automatically on live quality: {decision.reason}"
        running = stop_canary(audit, settings, reason, events.CANARY_WITHDRAWN, metrics)
        return f"challenger v{running.version} WITHDRAWN: {decision.reason}"
    if decision.action == PROMOTE and decision.challenger and decision.production:
        return _promote(services, settings, decision.challenger, decision.production)
    return f"nothing to do: {decision.reason}"


def _promote(services: Services, settings: Settings, challenger: LiveQuality, production: LiveQuality) -> str:
    from machine_learning.registry import CANDIDATE, Comparison, get_alias_version
    from machine_learning.selection import select_model

    candidate = get_alias_version(services.mlflow, settings, CANDIDATE)
    if candidate is None or candidate.version != challenger.version:
        return (
            f"challenger v{challenger.version} is better on live players but is not the candidate: promote it "
            f"with `mlops approve {challenger.version}`"
        )
    metric = settings.promotion_metric
    rows = min(challenger.rows, production.rows)
    live = Comparison("live", rows, getattr(challenger, metric), getattr(production, metric))
    return select_model(services.mlflow, services.store, settings, live=live).describe()


def record_online_quality(services: Services, settings: Settings, result: OnlineQualityResult) -> OnlineQualityResult:
    """Record an evaluation as the batch side does: an MLflow run (metrics on the day's axis) and JSON in S3."""
    from machine_learning.monitoring.nightly import monitoring_experiment

    client = services.mlflow
    name = monitoring_experiment(settings)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    tags = {"day": result.day, "source": "prediction-log", "action": result.decision.action,
            "decision": result.decision.reason[:5000], "outcome": result.outcome[:5000]}  # fmt: skip
    run = client.create_run(experiment_id, run_name=f"online-quality-{result.day}", tags=tags)
    for quality in result.summary:
        step = int(quality.day.replace("-", ""))
        for metric in ("accuracy", "f1_macro"):
            key = f"live_{metric}_{quality.role}_v{quality.version}"
            client.log_metric(run.info.run_id, key, getattr(quality, metric), step=step)
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints the run's link: keep stdout for --json
        client.set_terminated(run.info.run_id)
    key = quality_key(settings, result.day)
    recorded = dataclasses.replace(result, record_uri=services.store.uri(key), mlflow_run_id=str(run.info.run_id))
    services.store.write_json(key, recorded.to_dict())
    return recorded


def describe_result(result: OnlineQualityResult) -> list[str]:
    """Lines for the CLI: the table per day, variant and version, then the decision and the outcome."""
    if not result.summary:
        lines = [f"no labelled predictions in the prediction log up to {result.day} yet"]
    else:
        lines = [f"{'day':<11} {'variant':<19} {'version':>7} {'players':>8} {'accuracy':>9} {'macro-F1':>9}"]
        lines += [
            f"{q.day:<11} {q.role:<19} {'v' + q.version:>7} {q.rows:>8} {q.accuracy:>9.4f} {q.f1_macro:>9.4f}"
            for q in result.summary
        ]
    lines.append(f"decision: {result.decision.action}: {result.decision.reason}")
    lines.append(f"outcome: {result.outcome}")
    if result.record_uri:
        lines.append(f"recorded: {result.record_uri} and MLflow run {result.mlflow_run_id}")
    return lines
