"""Starting, stopping and withdrawing the challenger that serving runs beside production.

The challenger is the alias ``challenger``; its share of players and its mode (``canary`` or ``shadow``) are tags
on that version (``rollout_share``, ``rollout_mode``). Serving follows alias and tags like it follows
``production``, so a change needs no restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.registry import PRODUCTION, VersionInfo, get_alias_version
from machine_learning.rollout import audit as events
from machine_learning.rollout.approval import CHALLENGER, get_version, set_state
from machine_learning.rollout.audit import AuditLog
from machine_learning.rollout.policy import REGISTERED, START_CANARY, STATE_TAG, decide_transition
from machine_learning.settings import CANARY_MODES, Settings

SHARE_TAG, MODE_TAG, BEFORE_TAG = "rollout_share", "rollout_mode", "rollout_state_before_canary"


@dataclass(frozen=True)
class ChallengerConfig:
    """The challenger as serving sees it: version, share of players and mode."""

    version: str
    share: float
    mode: str


def read_challenger_config(info: VersionInfo, settings: Settings) -> ChallengerConfig:
    """Read the challenger's share and mode from its tags, falling back to the settings' defaults when unreadable."""
    try:
        share = float(info.tags.get(SHARE_TAG, settings.canary_share))
    except ValueError:
        share = settings.canary_share
    share = share if math.isfinite(share) and 0.0 <= share <= 1.0 else settings.canary_share
    mode = info.tags.get(MODE_TAG, settings.canary_mode)
    return ChallengerConfig(info.version, share, mode if mode in CANARY_MODES else settings.canary_mode)


def start_canary(audit: AuditLog, settings: Settings, version: str, share: float, mode: str) -> ChallengerConfig:
    """Make a version the challenger with a share of players; another challenger already running is stopped.

    Starting the running challenger again changes its share or mode in place.

    Args:
        audit: The audit log (and its MLflow client).
        settings: Policy and model name.
        version: The version to run beside production.
        share: Share of players (0 to 1) routed to it (canary) or scored by it (shadow).
        mode: ``canary`` or ``shadow``.

    Returns:
        The challenger's configuration as serving will read it.

    Raises:
        InvalidInputError: Bad share or mode, the version is in production, or the policy refuses it.
        NotFoundError: No such version.

    """
    if not (math.isfinite(share) and 0.0 < share <= 1.0) or mode not in CANARY_MODES:
        raise InvalidInputError(f"--share must be in (0, 1] and --mode one of {CANARY_MODES}, got {share}, {mode!r}")
    info = get_version(audit.client, settings, version)
    production = get_alias_version(audit.client, settings, PRODUCTION)
    if production is None:
        raise InvalidInputError("nothing is in production: a canary needs a production model to compare with")
    if production.version == info.version:
        raise InvalidInputError(f"v{info.version} is in production: a challenger must be another version")
    running = get_alias_version(audit.client, settings, CHALLENGER)
    again = running is not None and running.version == info.version  # a new share or mode for the same canary
    state = info.tags.get(BEFORE_TAG) if again else info.tags.get(STATE_TAG)
    transition = decide_transition(settings.promotion_policy, state, START_CANARY, info.version)
    if not transition.allowed:
        raise InvalidInputError(transition.reason)
    if running is not None and not again:
        stop_canary(audit, settings, f"replaced by v{info.version}")
    client, name = audit.client, settings.model_name
    client.set_model_version_tag(name, info.version, SHARE_TAG, repr(share))
    client.set_model_version_tag(name, info.version, MODE_TAG, mode)
    client.set_model_version_tag(name, info.version, BEFORE_TAG, state or REGISTERED)
    set_state(client, settings, info.version, transition.new_state or "canary")
    client.set_registered_model_alias(name, CHALLENGER, info.version)
    audit.record(events.CANARY_STARTED, info.version, f"{mode} at {share:.1%} of players beside v{production.version}",
                 {"share": share})  # fmt: skip
    return ChallengerConfig(info.version, share, mode)


def stop_canary(
    audit: AuditLog,
    settings: Settings,
    reason: str,
    event: str = events.CANARY_STOPPED,
    metrics: dict[str, float] | None = None,
) -> VersionInfo:
    """Remove the challenger alias; the version goes back to the state it had before the canary.

    Args:
        audit: The audit log.
        settings: Model name.
        reason: Why, for the audit log.
        event: ``canary-stopped`` (an operator) or ``canary-withdrawn`` (the retreat rule).
        metrics: The figures the withdrawal rested on.

    Returns:
        The version that was the challenger.

    Raises:
        NotFoundError: No challenger is running.

    """
    running = get_alias_version(audit.client, settings, CHALLENGER)
    if running is None:
        raise NotFoundError(f"model {settings.model_name} has no '{CHALLENGER}' version: no canary is running")
    audit.client.delete_registered_model_alias(settings.model_name, CHALLENGER)
    set_state(audit.client, settings, running.version, running.tags.get(BEFORE_TAG, REGISTERED))
    audit.record(event, running.version, reason, metrics)
    return running
