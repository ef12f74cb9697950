"""Which events deserve an alert, as pure functions: each returns the alert (text and de-duplication key) or None.

The key names the event, not the moment it was noticed, so the same event seen twice (a night run again, a
decision read by two processes) is the same alert and is sent once: a retraining per title and night, a quality
drop per episode, a promotion per version, a retreat per version, a failed pipeline run per run id.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

RETRAINING = "retraining"
QUALITY_DROP = "quality-drop"
PROMOTION = "promotion"
RETREAT = "retreat"
PIPELINE_FAILED = "pipeline-failed"
KINDS = (RETRAINING, QUALITY_DROP, PROMOTION, RETREAT, PIPELINE_FAILED)
# The audit events that alert (machine_learning.rollout.audit's PROMOTED and CANARY_WITHDRAWN; a test checks).
PROMOTED_EVENT, WITHDRAWN_EVENT = "promoted", "canary-withdrawn"

_RUN_URL = re.compile(r"/pipelines/([A-Za-z0-9_-]+)/runs/([0-9]+)")


@dataclass(frozen=True)
class Alert:
    """One message for the webhook.

    Attributes:
        kind: One of :data:`KINDS`.
        key: Names the event; an alert whose key was sent before is never sent again.
        text: The message, one or two lines a person can act on.

    """

    kind: str
    key: str
    text: str

    def payload(self) -> dict[str, str]:
        """Return the Slack-compatible body (``{"text": ...}``)."""
        return {"text": self.text}


def alerts_for_decision(title: str, record: dict[str, Any], episode_started: str | None) -> list[Alert]:
    """Alerts of one night's monitoring decision: live quality dropped (once per episode), retraining started.

    Args:
        title: The game title.
        record: The decision record (``monitoring/decision.py``).
        episode_started: First night of the quality episode the night belongs to, if any.

    Returns:
        Zero, one or two alerts.

    """
    alerts = []
    day = str(record.get("day"))
    if record.get("retraining_needed"):
        episode = episode_started or day
        live, expected = record.get("live_accuracy"), record.get("expected_accuracy")
        numbers = f"live accuracy {live:.4f} vs expected {expected:.4f}" if live is not None and expected else ""
        text = (
            f"[{title}] live quality dropped on {day} ({numbers or 'see the decision'}): {record.get('quality_reason')}"
        )
        alerts.append(Alert(QUALITY_DROP, f"{QUALITY_DROP}/{title}/{episode}", text))
    if record.get("retraining_triggered") and record.get("retraining_run_id") is not None:
        run = record["retraining_run_id"]
        text = f"[{title}] retraining run {run} started by the monitoring of {day}: {record.get('reason')}"
        alerts.append(Alert(RETRAINING, f"{RETRAINING}/{title}/{day}", text))
    return alerts


def alert_for_transition(title: str, event: str, version: str, reason: str) -> Alert | None:
    """Return the alert of a rollout transition: a promotion or an automatic retreat (``None`` for the others).

    Args:
        title: The game title.
        event: The audit event (``machine_learning.rollout.audit``): ``promoted`` or ``canary-withdrawn`` alert.
        version: The version it concerns.
        reason: The transition's reason.

    Returns:
        The alert, keyed by the version.

    """
    if event == PROMOTED_EVENT:
        return Alert(
            PROMOTION, f"{PROMOTION}/{title}/v{version}", f"[{title}] v{version} promoted to production: {reason}"
        )
    if event == WITHDRAWN_EVENT:
        return alert_for_retreat(title, version, reason)
    return None


def alert_for_retreat(title: str, version: str, reason: str) -> Alert:
    """Return the alert of an automatic retreat: a challenger or new production withdrawn without a human.

    Args:
        title: The game title.
        version: The version withdrawn.
        reason: Why it was withdrawn.

    Returns:
        The alert, keyed by the withdrawn version.

    """
    text = f"[{title}] v{version} withdrawn automatically: {reason}"
    return Alert(RETREAT, f"{RETREAT}/{title}/v{version}", text)


def alert_for_failed_run(title: str, message: str) -> Alert:
    """Return the alert of a failed pipeline run, from Mage's failure notification (relayed by the operator API).

    Args:
        title: The game title of the install.
        message: Mage's notification text; it links the run (``/pipelines/<name>/runs/<id>``), which keys it.

    Returns:
        The alert, keyed by pipeline and run id (by the text's hash when no link is in it).

    """
    found = _RUN_URL.search(message)
    if found:
        key = f"{PIPELINE_FAILED}/{title}/{found.group(1)}/{found.group(2)}"
    else:
        key = f"{PIPELINE_FAILED}/{title}/{hashlib.sha256(message.encode()).hexdigest()[:32]}"
    return Alert(PIPELINE_FAILED, key, f"[{title}] {message.strip()[:2000]}")
