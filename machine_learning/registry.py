"""Model registry: registering candidates, the pure promotion decision, promotion, rollback and status.

Aliases: ``candidate`` (newest registered), ``production`` (serving), ``previous`` (what production replaced,
for rollback). Decisions are recorded as tags on the model version they concern.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException

from machine_learning.errors import NotFoundError, QualityGateError
from machine_learning.rollout.policy import PRODUCTION_STATE, REGISTERED, ROLLED_BACK, STATE_TAG
from machine_learning.settings import Settings

if TYPE_CHECKING:
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.training.train import TrainingResult  # scikit-learn: only for the annotation

CANDIDATE = "candidate"
PRODUCTION = "production"
PREVIOUS = "previous"
ALIASES = (PRODUCTION, CANDIDATE, PREVIOUS)


@dataclass(frozen=True)
class Decision:
    """Whether to promote a candidate, and why."""

    promote: bool
    reason: str


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as a user sees it."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Candidate and production scored with the promotion metric on the same rows.

    Attributes:
        source: Which rows: ``recent`` (held out from the newest labelled days), ``live`` (labelled days scored in
            shadow) or ``held-out`` (the candidate's random held-out rows, mostly older data).
        rows: How many rows both were scored on.
        candidate: The candidate's score.
        production: Production's score, ``None`` when nothing is in production.

    """

    source: str
    rows: int
    candidate: float
    production: float | None

    def describe(self, metric: str) -> str:
        """Return the numbers as one phrase: ``recent rows (n=1200): candidate f1_macro 0.91 vs production 0.55``."""
        theirs = "none" if self.production is None else f"{self.production:.4f}"
        gain = "" if self.production is None else f" ({self.candidate - self.production:+.4f})"
        return (
            f"{self.source} rows (n={self.rows}): candidate {metric} {self.candidate:.4f} vs production {theirs}{gain}"
        )


def should_promote(
    recent: Comparison | None, held_out: Comparison, metric: str, margin: float, old_tolerance: float
) -> Decision:
    """Decide whether a candidate replaces production (pure).

    With recent rows (players neither model was trained on, describing the game as it is now), they decide: the
    candidate must beat production there by more than ``margin``. On the older held-out rows it may then score
    worse, as a model that follows a changed game must, but not by more than ``old_tolerance``: that guards
    against a broken candidate without blocking adaptation. Without recent rows, the held-out rows decide by the
    margin, as before.

    Args:
        recent: Scores on recent (or live) rows, or ``None`` when there are none.
        held_out: Scores on the candidate's random held-out rows.
        metric: The metric's name, for the reason.
        margin: How much better the candidate must be on the deciding rows.
        old_tolerance: How much worse than production the candidate may be on the held-out rows when recent
            rows decide.

    Returns:
        The decision, with a reason that names every number it used.

    """
    if held_out.production is None:
        return Decision(True, f"no model in production yet: first model promoted ({held_out.describe(metric)})")
    if recent is None or recent.production is None or recent.rows == 0:
        gain = held_out.candidate - held_out.production
        verdict = "beats" if gain > margin else "does not beat"
        return Decision(gain > margin, f"{held_out.describe(metric)} {verdict} the margin {margin:.4f}")
    gain = recent.candidate - recent.production
    guard = f"{held_out.describe(metric)}, tolerance {old_tolerance:.4f}"
    if gain <= margin:
        return Decision(False, f"{recent.describe(metric)} does not beat the margin {margin:.4f} (and {guard})")
    loss = held_out.production - held_out.candidate
    if loss > old_tolerance:
        return Decision(False, f"{recent.describe(metric)} beats the margin, but on {guard} it looks broken")
    return Decision(True, f"{recent.describe(metric)} beats the margin {margin:.4f}; guard passed on {guard}")


def register_candidate(
    client: Any, settings: Settings, result: TrainingResult, audit: AuditLog | None = None
) -> VersionInfo:
    """Register a trained model as a new version with alias ``candidate``.

    Args:
        client: An ``MlflowClient``.
        settings: Names the registered model.
        result: The training run's outcome.
        audit: The rollout audit log, which gets a ``registered`` event.

    Returns:
        The new version.

    Raises:
        QualityGateError: The model failed the quality gate; nothing is registered.

    """
    if not result.passed_gate:
        raise QualityGateError(f"model of run {result.run_id} not registered: {result.gate_reason}")
    try:
        client.create_registered_model(settings.model_name, description=f"Player engagement for {settings.game_title}")
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags = {
        "data_fingerprint": result.data_fingerprint,
        "code_version": result.code_version,
        "holdout_uri": result.holdout_uri,
        "reference_uri": result.reference_uri,
        "split_seed": str(result.seed),
        **{f"test_{name}": f"{result.metrics[name]:.4f}" for name in ("accuracy", "f1_macro")},
        **{
            f"recent_{name}": f"{result.recent_metrics[name]:.4f}"
            for name in ("accuracy", "f1_macro")
            if result.recent_metrics
        },
        # What live accuracy should be: on the recent rows when there are any (the game as it is now).
        "expected_accuracy": f"{(result.recent_metrics or result.metrics)['accuracy']:.4f}",
        **({"recent_holdout_uri": result.recent_holdout_uri} if result.recent_holdout_uri else {}),
        **({"trained_until": result.trained_until} if result.trained_until else {}),
        STATE_TAG: REGISTERED,
    }
    version = client.create_model_version(
        name=settings.model_name,
        source=result.model_uri,
        run_id=result.run_id,
        tags=tags,
        model_id=result.model_uri.rsplit("/", 1)[-1],
        description=f"Trained in run {result.run_id}; {result.gate_reason}",
    )
    client.set_registered_model_alias(settings.model_name, CANDIDATE, version.version)
    if audit is not None:
        metrics = {f"test_{name}": result.metrics[name] for name in ("accuracy", "f1_macro")}
        audit.record("registered", str(version.version), f"run {result.run_id}: {result.gate_reason}", metrics)
    return VersionInfo(settings.model_name, str(version.version), result.run_id, tags)


def get_alias_version(client: Any, settings: Settings, alias: str) -> VersionInfo | None:
    """Return the version an alias points at, or ``None`` when the alias (or the model) does not exist."""
    try:
        version = client.get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
    return VersionInfo(settings.model_name, str(version.version), str(version.run_id), dict(version.tags))


def apply_promotion(client: Any, settings: Settings, candidate: VersionInfo, production: VersionInfo | None) -> None:
    """Point ``production`` at the candidate and ``previous`` at the version it replaces.

    Args:
        client: An ``MlflowClient``.
        settings: Names the registered model.
        candidate: The version to promote.
        production: The version currently in production, if any.

    """
    if production is not None:
        client.set_registered_model_alias(settings.model_name, PREVIOUS, production.version)
        client.set_model_version_tag(settings.model_name, candidate.version, "replaced_version", production.version)
    client.set_registered_model_alias(settings.model_name, PRODUCTION, candidate.version)
    client.set_model_version_tag(settings.model_name, candidate.version, "promoted_at", _now())


def rollback_production(
    client: Any, settings: Settings, audit: AuditLog | None = None, reason: str = "manual rollback"
) -> VersionInfo:
    """Put the ``previous`` version back into production.

    ``previous`` then moves to the version that one had replaced (if known), so repeated rollbacks walk back
    through history instead of flip-flopping.

    Args:
        client: An ``MlflowClient``.
        settings: Names the registered model.
        audit: The rollout audit log, which gets a ``rolled-back`` event for the version taken out.
        reason: Why, for the audit log.

    Returns:
        The version now in production.

    Raises:
        NotFoundError: There is no ``previous`` version to roll back to.

    """
    previous = get_alias_version(client, settings, PREVIOUS)
    if previous is None:
        raise NotFoundError(f"model {settings.model_name} has no '{PREVIOUS}' version to roll back to")
    current = get_alias_version(client, settings, PRODUCTION)
    client.set_registered_model_alias(settings.model_name, PRODUCTION, previous.version)
    if current is not None:
        client.set_model_version_tag(settings.model_name, current.version, "rolled_back_at", _now())
        candidate = get_alias_version(client, settings, CANDIDATE)
        if candidate is not None and candidate.version == current.version:
            client.delete_registered_model_alias(settings.model_name, CANDIDATE)
    older = previous.tags.get("replaced_version")
    if older:
        client.set_registered_model_alias(settings.model_name, PREVIOUS, older)
    else:
        client.delete_registered_model_alias(settings.model_name, PREVIOUS)
    client.set_model_version_tag(settings.model_name, previous.version, STATE_TAG, PRODUCTION_STATE)
    if current is not None:
        client.set_model_version_tag(settings.model_name, current.version, STATE_TAG, ROLLED_BACK)
        if audit is not None:
            audit.record("rolled-back", current.version, f"production back to v{previous.version}: {reason}")
    return previous


def get_status(client: Any, settings: Settings) -> dict[str, VersionInfo | None]:
    """Return the version behind each alias (``None`` where unset)."""
    return {alias: get_alias_version(client, settings, alias) for alias in ALIASES}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
