"""The steps that act on the promotion policy: propose (model selection), approve, reject, promote.

Each step asks :func:`machine_learning.rollout.policy.decide_transition` first, then moves aliases and the
version's ``rollout_state`` tag, and appends the transition to the audit log. Under ``manual`` the proposed
version also gets the alias ``pending-approval``, so the MLflow UI shows what waits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.registry import (
    PRODUCTION,
    VersionInfo,
    apply_promotion,
    get_alias_version,
)
from machine_learning.rollout import audit as events
from machine_learning.rollout.audit import AuditLog
from machine_learning.rollout.policy import (
    APPROVE,
    APPROVED,
    PENDING,
    PROMOTE,
    PROPOSE,
    REJECT,
    RETIRED,
    STATE_TAG,
    decide_transition,
)
from machine_learning.settings import Settings

PENDING_ALIAS = "pending-approval"
CHALLENGER = "challenger"


def get_version(client: Any, settings: Settings, version: str) -> VersionInfo:
    """Return one registered version.

    Raises:
        InvalidInputError: ``version`` is not a version number.
        NotFoundError: The model has no such version.

    """
    if not version.isdigit():
        raise InvalidInputError(f"model version must be a registered version number, got {version!r}")
    try:
        found = client.get_model_version(settings.model_name, version)
    except Exception as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(error, "error_code", "")) or "not found" in str(error).lower():
            raise NotFoundError(f"model {settings.model_name} has no version {version}") from None
        raise
    return VersionInfo(settings.model_name, str(found.version), str(found.run_id), dict(found.tags))


def set_state(client: Any, settings: Settings, version: str, state: str) -> None:
    """Write a version's rollout state tag."""
    client.set_model_version_tag(settings.model_name, version, STATE_TAG, state)


def apply_policy(
    audit: AuditLog, settings: Settings, candidate: VersionInfo, production: VersionInfo | None, result: Any
) -> Any:
    """Act on a model-selection result that says the candidate wins: promote it, or let it wait for approval.

    Args:
        audit: The audit log (it also carries the MLflow client).
        settings: ``PROMOTION_POLICY`` and the model name.
        candidate: The winning candidate.
        production: The version in production, if any.
        result: The selection result (a dataclass with ``promoted`` and ``reason``); its float fields are
            recorded as the metrics the transition rested on.

    Returns:
        The result, with ``promoted`` and ``reason`` saying what happened under the policy.

    """
    state = candidate.tags.get(STATE_TAG)
    metrics = {k: v for k, v in dataclasses.asdict(result).items() if isinstance(v, float)}
    reason = str(result.reason)
    proposal = decide_transition(settings.promotion_policy, state, PROPOSE, candidate.version)
    if not proposal.allowed:
        return dataclasses.replace(result, promoted=False, reason=f"{reason}; {proposal.reason}")
    if proposal.new_state == PENDING:
        if state != PENDING:
            set_state(audit.client, settings, candidate.version, PENDING)
            audit.client.set_registered_model_alias(settings.model_name, PENDING_ALIAS, candidate.version)
            audit.record(events.PROPOSED, candidate.version, f"{proposal.reason}: {reason}", metrics)
        waits = f"{proposal.reason} ('mlops approve {candidate.version} --reason ...')"
        return dataclasses.replace(result, promoted=False, reason=f"{reason}; {waits}")
    audit.record(events.PROPOSED, candidate.version, f"{proposal.reason}: {reason}", metrics)
    promote_version(audit, settings, dataclasses.replace(candidate, tags={**candidate.tags, STATE_TAG: APPROVED}),
                    production, reason, metrics)  # fmt: skip
    return result


def promote_version(
    audit: AuditLog,
    settings: Settings,
    version: VersionInfo,
    production: VersionInfo | None,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> None:
    """Move ``production`` to an approved version (the policy's check first) and record it.

    Raises:
        InvalidInputError: The policy refuses the promotion (under ``manual``: the version is not approved).

    """
    transition = decide_transition(settings.promotion_policy, version.tags.get(STATE_TAG), PROMOTE, version.version)
    if not transition.allowed:
        raise InvalidInputError(transition.reason)
    apply_promotion(audit.client, settings, version, production)
    set_state(audit.client, settings, version.version, transition.new_state or APPROVED)
    if production is not None:
        set_state(audit.client, settings, production.version, RETIRED)
    _drop_alias_if(audit.client, settings, PENDING_ALIAS, version.version)
    _drop_alias_if(audit.client, settings, CHALLENGER, version.version)
    replaced = f"replaces v{production.version}" if production else "first production model"
    audit.record(events.PROMOTED, version.version, f"{transition.reason}, {replaced}: {reason}", metrics)


def approve_version(audit: AuditLog, settings: Settings, version: str, reason: str) -> VersionInfo:
    """Approve a version waiting for approval (or running as the canary) and promote it.

    Args:
        audit: The audit log.
        settings: Policy and model name.
        version: The version number.
        reason: Why, recorded with the event.

    Returns:
        The version now in production.

    Raises:
        InvalidInputError: The reason is empty, or the policy refuses (e.g. the version was rejected).
        NotFoundError: No such version.

    """
    info = _checked(audit, settings, version, reason)
    transition = decide_transition(settings.promotion_policy, info.tags.get(STATE_TAG), APPROVE, info.version)
    if not transition.allowed:
        raise InvalidInputError(transition.reason)
    set_state(audit.client, settings, info.version, APPROVED)
    audit.record(events.APPROVED, info.version, f"{transition.reason}: {reason}")
    production = get_alias_version(audit.client, settings, PRODUCTION)
    approved = dataclasses.replace(info, tags={**info.tags, STATE_TAG: APPROVED})
    promote_version(audit, settings, approved, production, reason)
    return approved


def reject_version(audit: AuditLog, settings: Settings, version: str, reason: str) -> VersionInfo:
    """Reject a version: it is never promoted, and loses the ``pending-approval`` and ``challenger`` aliases.

    Raises:
        InvalidInputError: The reason is empty, or the policy refuses (e.g. the version is in production).
        NotFoundError: No such version.

    """
    info = _checked(audit, settings, version, reason)
    transition = decide_transition(settings.promotion_policy, info.tags.get(STATE_TAG), REJECT, info.version)
    if not transition.allowed:
        raise InvalidInputError(transition.reason)
    set_state(audit.client, settings, info.version, transition.new_state or "rejected")
    _drop_alias_if(audit.client, settings, PENDING_ALIAS, info.version)
    _drop_alias_if(audit.client, settings, CHALLENGER, info.version)
    audit.record(events.REJECTED, info.version, f"{transition.reason}: {reason}")
    return info


def check_request(version: str, reason: str) -> None:
    """Refuse a version that is not a number or a blank reason, before anything is asked or locked.

    Raises:
        InvalidInputError: Either is unusable.

    """
    if not reason.strip():
        raise InvalidInputError("--reason must say why (it goes into the audit log)")
    if not version.isdigit():
        raise InvalidInputError(f"model version must be a registered version number, got {version!r}")


def _checked(audit: AuditLog, settings: Settings, version: str, reason: str) -> VersionInfo:
    check_request(version, reason)
    return get_version(audit.client, settings, version)


def _drop_alias_if(client: Any, settings: Settings, alias: str, version: str) -> None:
    """Delete ``alias`` when it points at ``version``."""
    current = get_alias_version(client, settings, alias)
    if current is not None and current.version == version:
        client.delete_registered_model_alias(settings.model_name, alias)
