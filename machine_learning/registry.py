"""Model registry: registering candidates, the pure promotion decision, promotion, rollback and status.

Aliases: ``candidate`` (newest registered), ``production`` (serving), ``previous`` (what production replaced,
for rollback). Decisions are recorded as tags on the model version they concern.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from machine_learning.errors import NotFoundError, QualityGateError
from machine_learning.settings import Settings
from machine_learning.training.train import TrainingResult

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


def should_promote(candidate_score: float, production_score: float | None, metric: str, margin: float) -> Decision:
    """Decide whether a candidate replaces production, both scored on the same held-out data.

    Args:
        candidate_score: The candidate's held-out metric.
        production_score: Production's metric on the same rows, or ``None`` when nothing is in production.
        metric: The metric's name, for the reason.
        margin: How much better the candidate must be.

    Returns:
        The decision with a human-readable reason.

    """
    if production_score is None:
        return Decision(True, f"no model in production yet: first model promoted ({metric} {candidate_score:.4f})")
    gain = candidate_score - production_score
    comparison = f"candidate {metric} {candidate_score:.4f} vs production {production_score:.4f} ({gain:+.4f})"
    if gain > margin:
        return Decision(True, f"{comparison} beats the margin {margin:.4f}")
    return Decision(False, f"{comparison} does not beat the margin {margin:.4f}")


def register_candidate(client: Any, settings: Settings, result: TrainingResult) -> VersionInfo:
    """Register a trained model as a new version with alias ``candidate``.

    Args:
        client: An ``MlflowClient``.
        settings: Names the registered model.
        result: The training run's outcome.

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


def rollback_production(client: Any, settings: Settings) -> VersionInfo:
    """Put the ``previous`` version back into production.

    ``previous`` then moves to the version that one had replaced (if known), so repeated rollbacks walk back
    through history instead of flip-flopping.

    Args:
        client: An ``MlflowClient``.
        settings: Names the registered model.

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
    return previous


def get_status(client: Any, settings: Settings) -> dict[str, VersionInfo | None]:
    """Return the version behind each alias (``None`` where unset)."""
    return {alias: get_alias_version(client, settings, alias) for alias in ALIASES}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
