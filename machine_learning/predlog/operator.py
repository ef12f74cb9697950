"""The operator API's view of the prediction log: ``getOnlineQuality`` (viewer), live quality per variant.

``getLiveQuality`` reports the batch side (what the nightly batch scored for production and a shadow candidate);
this operation reports what serving answered players online, from the prediction log joined with published
labels: per day, variant (production, canary challenger, shadow) and version, with the decision the rules would
take on the challenger. It only reads: ``mlops prediction-log quality`` acts on the decision and records it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from machine_learning.operator.schemas import DAY_PATTERN, LiveQualityResponse, LiveQualityRow
from machine_learning.settings import Settings


class OnlineQualityRow(LiveQualityRow):
    """One variant's and version's accuracy on one labelled day, from the prediction log."""

    role: str = Field(description="online-production, online-challenger (a canary) or online-shadow.")


class OnlineDecisionModel(BaseModel):
    """What the rules would do with the challenger on these figures."""

    action: str = Field(description="withdraw, promote, keep, wait (too few labels) or no-challenger.")
    reason: str = Field(description="Why, with the figures and the limit.")


class OnlineQualityResponse(LiveQualityResponse):
    """Live quality of the online answers per day, variant and version, and the decision on the challenger."""

    rows: list[OnlineQualityRow] = Field(description="One row per labelled day, variant and version.")  # type: ignore[assignment]
    decision: OnlineDecisionModel = Field(description="The decision the rules would take now (not applied).")


def read_online_quality(settings: Settings, deps: Any, day: str | None, days: int) -> dict[str, Any]:
    """Live quality from the prediction log and the decision on it, applied nowhere (``getOnlineQuality``).

    Args:
        settings: The title's settings.
        deps: The operator API's services (``connect``).
        day: The last day (default: today, UTC).
        days: Days in the window.

    Returns:
        The response of ``getOnlineQuality``.

    Raises:
        InvalidInputError: ``day`` is not a date.

    """
    from machine_learning.predlog.quality import assess_prediction_log
    from machine_learning.run_variables import check_day

    last = check_day(day, "day") if day is not None else datetime.now(UTC).strftime("%Y-%m-%d")
    result = assess_prediction_log(deps.connect(), settings, last, days)
    rows = [quality.to_dict() for quality in result.summary]
    decision = {"action": result.decision.action, "reason": result.decision.reason}
    return {"title": settings.game_title, "day": last, "days": days, "rows": rows, "decision": decision}


def add_online_quality_operation(app: FastAPI, settings: Settings, deps: Any, reader: list[Any]) -> None:
    """Add ``GET /prediction-log/quality`` (operation ``getOnlineQuality``, any role) to the operator API.

    Args:
        app: The operator API.
        settings: The title's settings.
        deps: Its services.
        reader: Its dependencies of a read (a viewer token, the title).

    """
    from machine_learning.operator.app import _ERRORS

    @app.get(
        "/prediction-log/quality", operation_id="getOnlineQuality", response_model=OnlineQualityResponse,
        dependencies=reader, responses=_ERRORS,
    )  # fmt: skip
    def get_online_quality(
        day: Annotated[
            str | None, Query(pattern=DAY_PATTERN, description="Last day, YYYY-MM-DD; default today.")
        ] = None,
        days: Annotated[int, Query(ge=1, le=90, description="Days in the window ending on day.")] = 7,
    ) -> dict[str, Any]:
        """Show the accuracy of what serving answered players online, per day, variant and version.

        From the prediction log joined with published labels: production, a canary challenger and a shadow, each
        on its own players, with the decision the rules would take on the challenger (withdraw, promote, keep,
        wait). Nothing is applied; labels arrive weekly, so recent days may have no rows.
        """
        return read_online_quality(settings, deps, day, days)
