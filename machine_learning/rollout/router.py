"""Production and at most one challenger inside the serving API: the split, the answers, the live figures.

The challenger follows the alias ``challenger`` (and its share and mode tags) the way the production provider
follows ``production``: checked every ``SERVING_RELOAD_SECONDS``, loaded and probed before it serves, dropped
when the alias goes. In ``canary`` mode its players (:mod:`machine_learning.rollout.split`) get its answer; if it
fails, they get production's and the error is counted. In ``shadow`` mode it scores its players after the
answer has been sent (a background task), so players only ever see production's answer and latency. Every
prediction names its variant and version.

Each background check also applies the retreat rule (:func:`machine_learning.rollout.retreat.should_withdraw`)
to the figures of this process: a challenger it condemns gets no more players at once, and ``/rollout`` says why
(``mlops canary check`` makes that durable).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from starlette.background import BackgroundTask

from machine_learning.errors import NotFoundError
from machine_learning.inference.model import LoadedModel, load_model
from machine_learning.registry import VersionInfo, get_alias_version
from machine_learning.rollout.approval import CHALLENGER
from machine_learning.rollout.canary import ChallengerConfig, read_challenger_config
from machine_learning.rollout.retreat import RetreatDecision, RetreatLimits, VariantFigures, should_withdraw
from machine_learning.rollout.split import challenger_rows, split_salt
from machine_learning.serving.bulk import DecodedRequest, encode_predictions
from machine_learning.serving.provider import ModelProvider, ServingModel
from machine_learning.settings import Settings

logger = logging.getLogger(__name__)

PRODUCTION_VARIANT, CHALLENGER_VARIANT, SHADOW_VARIANT = "production", "challenger", "shadow"
# Told of every shadow answer (challenger, request, its rows, probabilities in production's class order, seconds):
# the prediction log (machine_learning/predlog) logs them as variant "shadow".
ShadowListener = Callable[[ServingModel, DecodedRequest, list[int], np.ndarray, float], None]
LATENCY_WINDOW = 2048  # latencies kept per variant for the p99: bounded memory


class VariantStats:
    """Live figures of one variant in this process: requests, errors, recent scoring latencies, agreement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.players = self.errors = self.compared = self.agreed = 0
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def record(self, players: int, seconds: float | None) -> None:
        """Count one scoring call; ``seconds`` is ``None`` when it failed."""
        with self._lock:
            self.requests += 1
            self.players += players
            if seconds is None:
                self.errors += 1
            else:
                self._latencies.append(seconds * 1000.0)

    def record_agreement(self, compared: int, agreed: int) -> None:
        """Count shadow comparisons: players scored by both, and how many got the same label."""
        with self._lock:
            self.compared += compared
            self.agreed += agreed

    def figures(self) -> VariantFigures:
        """Return the figures the retreat rule judges."""
        with self._lock:
            latencies = list(self._latencies)
            requests, errors = self.requests, self.errors
        p99 = float(np.percentile(latencies, 99)) if latencies else None
        return VariantFigures(requests, errors, p99)

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as ``/rollout`` shows them."""
        figures = self.figures()
        return {
            "requests": figures.requests,
            "players": self.players,
            "errors": figures.errors,
            "error_rate": figures.error_rate,
            "p99_ms": figures.p99_ms,
            "shadow_compared": self.compared,
            "shadow_agreement": self.agreed / self.compared if self.compared else None,
        }


@dataclass(frozen=True)
class Plan:
    """The challenger serving now, its configuration and the salt of its split."""

    model: ServingModel
    config: ChallengerConfig
    salt: int


class Rollout:
    """Routes players between production and the challenger and keeps the live figures of both.

    Args:
        model_name: Registered model name (salts the split).
        challenger: Provider following the ``challenger`` alias (``missing_ok=True``).
        limits: The retreat rule's limits.

    """

    def __init__(self, model_name: str, challenger: ModelProvider, limits: RetreatLimits) -> None:
        self._model_name, self._provider, self._limits = model_name, challenger, limits
        self._config: ChallengerConfig | None = None
        self._withdrawn: dict[str, str] = {}
        self._stats_version: str | None = None
        self._salts: dict[str, int] = {}  # per challenger version, set before its config is visible
        self.production_stats, self.challenger_stats = VariantStats(), VariantStats()
        self.shadow_listener: ShadowListener | None = None

    # --- following the alias -------------------------------------------------------------------------------
    def set_config(self, config: ChallengerConfig | None) -> None:
        """Record the challenger's configuration (called by the provider's alias check); judge the figures."""
        if config is not None and config.version != self._stats_version:
            self._salts[config.version] = split_salt(self._model_name, config.version)
            self.production_stats, self.challenger_stats = VariantStats(), VariantStats()
            self._stats_version = config.version
        self._config = config
        self.judge()

    def judge(self) -> RetreatDecision | None:
        """Apply the retreat rule to this process's figures; a condemned challenger gets no more players."""
        config = self._config
        if config is None:
            return None
        decision = should_withdraw(self.production_stats.figures(), self.challenger_stats.figures(), self._limits)
        if decision.withdraw and config.version not in self._withdrawn:
            logger.warning("challenger version %s withdrawn: %s", config.version, decision.reason)
            self._withdrawn[config.version] = decision.reason
        return decision

    def refresh(self) -> bool:
        """Check the challenger alias once now (the background thread does this every reload interval)."""
        return self._provider.refresh()

    def start(self) -> None:
        """Start following the challenger alias."""
        self._provider.start()

    def stop(self) -> None:
        """Stop following it."""
        self._provider.stop()

    # --- the request path ----------------------------------------------------------------------------------
    def plan(self) -> Plan | None:
        """Return the challenger to route to now, or ``None`` (no challenger, not loaded yet, or withdrawn)."""
        config = self._config
        if config is None:
            return None
        model = self._provider.current()
        if model is None or model.version != config.version or config.version in self._withdrawn:
            return None
        return Plan(model, config, self._salts[config.version])

    def answer(
        self, plan: Plan, production: ServingModel, request: DecodedRequest
    ) -> tuple[bytes, BackgroundTask | None]:
        """Score a request with production and the challenger as the plan says.

        Args:
            plan: From :meth:`plan`.
            production: The production model.
            request: The decoded request.

        Returns:
            The response body, and the shadow scoring to run after it is sent (shadow mode), if any.

        """
        rows = challenger_rows(request.player_ids, plan.config.share, plan.salt)
        if plan.config.mode == "shadow" or not rows:
            probabilities = _timed(production, request.columns, len(request), self.production_stats)
            body = encode_predictions(production.name, production.version, production.predictor.classes,
                                      request.player_ids, probabilities)  # fmt: skip
            if plan.config.mode != "shadow" or not rows:
                return body, None
            return body, BackgroundTask(self._shadow, plan.model, request, rows, production, probabilities)
        return self._canary(plan.model, production, request, rows), None

    def _canary(
        self, challenger: ServingModel, production: ServingModel, request: DecodedRequest, rows: list[int]
    ) -> bytes:
        count = len(request)
        chosen = set(rows)
        others = [row for row in range(count) if row not in chosen]
        classes = production.predictor.classes
        probabilities = np.empty((count, len(classes)))
        variants = [PRODUCTION_VARIANT] * count
        try:
            columns = _take(request.columns, rows, count)
            probabilities[rows] = _timed(challenger, columns, len(rows), self.challenger_stats, classes)
            for row in rows:
                variants[row] = CHALLENGER_VARIANT
        except Exception as error:  # noqa: BLE001 - a failing challenger: its players get production's answer
            logger.warning("challenger version %s failed, production answers: %s", challenger.version, error)
            others = list(range(count))
        if others:
            columns = _take(request.columns, others, count)
            probabilities[others] = _timed(production, columns, len(others), self.production_stats)
        versions = [challenger.version if v == CHALLENGER_VARIANT else production.version for v in variants]
        return encode_predictions(production.name, production.version, classes, request.player_ids, probabilities,
                                  variants=variants, versions=versions)  # fmt: skip

    def _shadow(
        self,
        challenger: ServingModel,
        request: DecodedRequest,
        rows: list[int],
        production: ServingModel,
        served: np.ndarray,
    ) -> None:
        """Score the challenger's players after the answer went out; count its latency, errors and agreement."""
        started = time.perf_counter()
        try:
            classes = production.predictor.classes
            columns = _take(request.columns, rows, len(request))
            theirs = _timed(challenger, columns, len(rows), self.challenger_stats, classes)
        except Exception as error:  # noqa: BLE001 - a failing shadow is counted, never seen by a player
            logger.warning("shadow version %s failed: %s", challenger.version, error)
            return
        ours, labels = served[rows].argmax(axis=1), theirs.argmax(axis=1)  # both in production's class order
        self.challenger_stats.record_agreement(len(rows), int((ours == labels).sum()))
        if self.shadow_listener is not None:
            self.shadow_listener(challenger, request, rows, theirs, time.perf_counter() - started)

    # --- reporting -----------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any] | None:
        """Describe the challenger for ``/model-version``: version, mode, share, status; ``None`` without one."""
        config = self._config
        if config is None:
            return None
        model = self._provider.current()
        loaded = model is not None and model.version == config.version
        withdrawn = self._withdrawn.get(config.version)
        return {
            "model_version": config.version,
            "mode": config.mode,
            "share": config.share,
            "status": "withdrawn" if withdrawn else "serving" if loaded else "loading",
            "withdrawn_reason": withdrawn,
            "loaded_at": model.loaded_at.isoformat() if loaded and model else None,
            "predictor": model.predictor.kind if loaded and model else None,
            "last_reload_error": self._provider.status().last_error,
        }

    def report(self) -> dict[str, Any]:
        """Both variants' live figures and the retreat rule's current verdict, for ``/rollout``."""
        challenger = self.describe()
        decision = self.judge() if challenger else None
        return {
            "production": self.production_stats.to_dict(),
            "challenger": {**challenger, "version": challenger["model_version"], **self.challenger_stats.to_dict()}
            if challenger
            else None,
            "retreat": decision.to_dict() if decision else None,
        }


def _timed(
    model: ServingModel, columns: Any, players: int, stats: VariantStats, classes: list[str] | None = None
) -> np.ndarray:
    """Score and count: the latency, or an error (also for an answer of the wrong shape).

    Returns:
        Probabilities, columns in ``classes`` order when given (the challenger's order may differ).

    """
    started = time.perf_counter()
    try:
        probabilities = model.predictor.predict_proba(columns)
        if classes is not None:
            probabilities = probabilities[:, [model.predictor.classes.index(label) for label in classes]]
        if probabilities.shape != (players, len(model.predictor.classes)):
            raise ValueError(f"version {model.version} returned probabilities of shape {probabilities.shape}")
    except Exception:
        stats.record(players, None)
        raise
    stats.record(players, time.perf_counter() - started)
    return probabilities


def _take(columns: dict[str, Sequence[Any] | np.ndarray], rows: list[int], count: int) -> dict[str, Any]:
    if len(rows) == count:
        return columns
    return {
        name: column[rows] if isinstance(column, np.ndarray | pd.Categorical) else [column[row] for row in rows]
        for name, column in columns.items()
    }


def build_rollout(
    settings: Settings,
    lookup: Callable[[], VersionInfo | None] | None = None,
    load: Callable[[str], LoadedModel] | None = None,
) -> Rollout:
    """Build the rollout that follows the ``challenger`` alias in MLflow (no network call is made here).

    Args:
        settings: MLflow location, model name, defaults of share and mode, retreat limits, reload interval.
        lookup: Returns the challenger version with its tags, or ``None`` (default: the alias in MLflow).
        load: Loads a version (default: the cached MLflow loader serving uses for production).

    Returns:
        A rollout; the app starts and stops it with the production provider.

    """
    if lookup is None:
        client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)

        def lookup() -> VersionInfo | None:
            return get_alias_version(client, settings, CHALLENGER)

    find = lookup
    holder: list[Rollout] = []

    def resolve() -> str:
        info = find()
        holder[0].set_config(None if info is None else read_challenger_config(info, settings))
        if info is None:
            raise NotFoundError(f"model {settings.model_name} has no '{CHALLENGER}' version")
        return info.version

    provider = ModelProvider(
        settings.model_name,
        resolve=resolve,
        load=load or (lambda version: load_model(settings, version)),
        interval_seconds=settings.serving_reload_seconds,
        missing_ok=True,
    )
    holder.append(Rollout(settings.model_name, provider, RetreatLimits.from_settings(settings)))
    return holder[0]
