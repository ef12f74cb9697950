"""Automatic retreat: the pure rule that withdraws a challenger which is clearly worse than production.

Serving applies it to its own live figures and stops routing players to a challenger it condemns at once;
``mlops canary check`` applies it to serving's figures and makes the withdrawal durable (the ``challenger``
alias goes, the reason goes into the audit log). ``mlops rollback`` stays the manual retreat for production.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from machine_learning.settings import Settings


@dataclass(frozen=True)
class VariantFigures:
    """What one variant did: requests scored, errors, p99 scoring latency, live accuracy once labels exist."""

    requests: int
    errors: int
    p99_ms: float | None
    live_accuracy: float | None = None
    labelled: int = 0

    @property
    def error_rate(self) -> float:
        """Errors per request (0 before the first request)."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class RetreatLimits:
    """The named limits of the rule (``CANARY_*`` settings)."""

    max_p99_ms: float
    max_error_increase: float
    quality_tolerance: float
    min_requests: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetreatLimits:
        """Read the limits from the settings."""
        return cls(
            settings.canary_max_p99_ms,
            settings.canary_max_error_increase,
            settings.canary_quality_tolerance,
            settings.canary_min_requests,
        )


@dataclass(frozen=True)
class RetreatDecision:
    """Whether to withdraw the challenger, and why (every number the rule used)."""

    withdraw: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def should_withdraw(production: VariantFigures, challenger: VariantFigures, limits: RetreatLimits) -> RetreatDecision:
    """Decide whether the challenger must be withdrawn (pure).

    Quality decides as soon as both variants have ``min_requests`` labelled players: a challenger whose live
    accuracy is lower than production's by more than ``quality_tolerance`` goes. Errors and latency are judged
    once the challenger has scored ``min_requests`` requests: its error rate may exceed production's by at most
    ``max_error_increase``, and its p99 scoring latency must stay within ``max_p99_ms``.

    Args:
        production: Production's figures over the same period.
        challenger: The challenger's.
        limits: The named limits.

    Returns:
        The decision; the reason names the figures and the limit.

    """
    enough_labels = min(production.labelled, challenger.labelled) >= limits.min_requests
    if enough_labels and production.live_accuracy is not None and challenger.live_accuracy is not None:
        drop = production.live_accuracy - challenger.live_accuracy
        if drop > limits.quality_tolerance:
            return RetreatDecision(
                True,
                f"live accuracy {challenger.live_accuracy:.4f} vs production {production.live_accuracy:.4f} "
                f"(n={challenger.labelled}/{production.labelled}) is {drop:.4f} lower, more than the tolerance "
                f"{limits.quality_tolerance:.4f}",
            )
    if challenger.requests < limits.min_requests:
        return RetreatDecision(
            False, f"too few requests to judge errors and latency ({challenger.requests} < {limits.min_requests})"
        )
    increase = challenger.error_rate - production.error_rate
    if increase > limits.max_error_increase:
        return RetreatDecision(
            True,
            f"error rate {challenger.error_rate:.2%} ({challenger.errors}/{challenger.requests}) vs production "
            f"{production.error_rate:.2%}: {increase:.2%} more, above the limit {limits.max_error_increase:.2%}",
        )
    if challenger.p99_ms is not None and challenger.p99_ms > limits.max_p99_ms:
        return RetreatDecision(
            True,
            f"p99 latency {challenger.p99_ms:.1f} ms (production {_ms(production.p99_ms)}) is above the limit "
            f"CANARY_MAX_P99_MS={limits.max_p99_ms:.1f} ms",
        )
    return RetreatDecision(
        False,
        f"within limits: error rate {challenger.error_rate:.2%} vs {production.error_rate:.2%}, p99 "
        f"{_ms(challenger.p99_ms)} vs {_ms(production.p99_ms)} (limit {limits.max_p99_ms:.1f} ms)",
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def figures_from_dict(payload: dict[str, Any]) -> VariantFigures:
    """Read one variant's figures from serving's ``/rollout`` answer."""
    return VariantFigures(
        requests=int(payload["requests"]),
        errors=int(payload["errors"]),
        p99_ms=None if payload.get("p99_ms") is None else float(payload["p99_ms"]),
        live_accuracy=None if payload.get("live_accuracy") is None else float(payload["live_accuracy"]),
        labelled=int(payload.get("labelled", 0)),
    )


def check_canary(audit: Any, settings: Settings, serving_url: str) -> str:
    """Apply the rule to serving's live figures and withdraw the challenger durably when it says so.

    Args:
        audit: The audit log (:class:`machine_learning.rollout.audit.AuditLog`).
        settings: Limits, token and model name.
        serving_url: The serving API.

    Returns:
        One line: what was decided and why.

    """
    import httpx

    from machine_learning.rollout import audit as events
    from machine_learning.rollout.canary import stop_canary

    answer = httpx.get(f"{serving_url}/rollout", headers={"X-API-Token": settings.serving_token}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    challenger = body.get("challenger")
    if not challenger:
        return "no challenger is serving: nothing to check"
    production, candidate = figures_from_dict(body["production"]), figures_from_dict(challenger)
    decision = should_withdraw(production, candidate, RetreatLimits.from_settings(settings))
    if not decision.withdraw:
        return f"challenger v{challenger['version']} stays: {decision.reason}"
    metrics = {"error_rate": candidate.error_rate, "production_error_rate": production.error_rate}
    metrics.update({"p99_ms": candidate.p99_ms} if candidate.p99_ms is not None else {})
    reason = f"withdrawn automatically: {decision.reason}"
    running = stop_canary(audit, settings, reason, events.CANARY_WITHDRAWN, metrics)
    return f"challenger v{running.version} WITHDRAWN: {decision.reason}"
