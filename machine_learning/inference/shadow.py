"""Shadow scoring: while a candidate waits beside production, score each day with it too, never serving it.

Its predictions go to ``predictions/date=D/shadow/v<N>.parquet``, marked by version, beside production's. When the
day's labels arrive, the nightly quality check scores both on the same live players, and model selection can
promote the candidate on that evidence (:func:`machine_learning.selection.select_model` with ``live=``).
"""

from __future__ import annotations

from typing import Any

from machine_learning.registry import CANDIDATE, get_alias_version
from machine_learning.settings import Settings


def score_shadow_candidate(
    services: Any, settings: Settings, day: str, source: str, production_version: str
) -> dict[str, Any] | None:
    """Score the day's batch with the ``candidate`` version when it is not the one in production.

    Args:
        services: The S3 store and MLflow client.
        settings: Model name, cache and bucket.
        day: The day, ``YYYY-MM-DD``.
        source: The batch that production scored.
        production_version: The version that scored it for real.

    Returns:
        The shadow run's version, rows and output, or ``None`` when there is no separate candidate.

    """
    from machine_learning.inference.batch import BatchOutputs, score_batch
    from machine_learning.inference.model import load_model
    from machine_learning.monitoring.quality import shadow_key

    candidate = get_alias_version(services.mlflow, settings, CANDIDATE)
    if candidate is None or candidate.version == production_version:
        return None
    model = load_model(settings, candidate.version)
    target = f"s3://{settings.s3_bucket}/{shadow_key(settings, day, candidate.version)}"
    result = score_batch(source, BatchOutputs(predictions=target), model, services.store, settings.max_quarantine_share)
    print(f"{day}: shadow candidate v{candidate.version} scored {result.scored_rows} players -> {target}")
    return {"version": candidate.version, "scored_rows": result.scored_rows, "predictions": target}
