"""The promotion policy as a pure state machine: which transition a version may take, and why (or why not).

A version's rollout state lives in its ``rollout_state`` tag. Under ``auto`` (today's behaviour) a candidate that
wins model selection goes to production at once; under ``manual`` it waits as ``pending-approval`` until a person
approves it (then it is promoted) or rejects it (then it never is).
"""

from __future__ import annotations

from dataclasses import dataclass

POLICIES = ("auto", "manual")

REGISTERED = "registered"
PENDING = "pending-approval"
APPROVED = "approved"
REJECTED = "rejected"
CANARY = "canary"
PRODUCTION_STATE = "production"
ROLLED_BACK = "rolled-back"
RETIRED = "retired"  # was in production, replaced by a newer version (rollback may bring it back)
STATES = (REGISTERED, PENDING, APPROVED, REJECTED, CANARY, PRODUCTION_STATE, ROLLED_BACK, RETIRED)
STATE_TAG = "rollout_state"  # the model-version tag holding the state

PROPOSE, APPROVE, REJECT, PROMOTE, START_CANARY = "propose", "approve", "reject", "promote", "start-canary"
ACTIONS = (PROPOSE, APPROVE, REJECT, PROMOTE, START_CANARY)


@dataclass(frozen=True)
class Transition:
    """Whether an action is allowed on a version, the state it leads to, and why."""

    allowed: bool
    new_state: str | None
    reason: str


def decide_transition(policy: str, state: str | None, action: str, version: str) -> Transition:
    """Decide whether ``action`` may move a version out of ``state`` under ``policy`` (pure).

    Args:
        policy: ``auto`` or ``manual``.
        state: The version's current rollout state; ``None`` (no tag, older versions) counts as ``registered``.
        action: ``propose`` (model selection says it wins), ``approve``, ``reject``, ``promote`` (production moves
            to it) or ``start-canary``.
        version: The version number, for the reason.

    Returns:
        The transition; when refused, ``new_state`` is ``None`` and the reason says what to do instead.

    Raises:
        ValueError: The policy, state or action is not one this module knows.

    """
    if policy not in POLICIES or action not in ACTIONS or (state is not None and state not in STATES):
        raise ValueError(f"unknown policy {policy!r}, state {state!r} or action {action!r}")
    current = state or REGISTERED
    name = f"v{version}"
    if current == REJECTED and action != REJECT:
        refused = _REFUSED[action]
        return Transition(False, None, f"{name} was rejected: a rejected version cannot {refused}; train a new one")
    if current == PRODUCTION_STATE and action != PROMOTE:
        return Transition(False, None, f"{name} is in production already ('mlops rollback' takes it out)")
    handler = _HANDLERS[action]
    return handler(policy, current, name)


def _propose(policy: str, current: str, name: str) -> Transition:
    if policy == "auto":
        return Transition(True, APPROVED, f"{name} won model selection; PROMOTION_POLICY=auto promotes it")
    if current == APPROVED:
        return Transition(True, APPROVED, f"{name} won model selection and was approved already")
    return Transition(True, PENDING, f"{name} won model selection; PROMOTION_POLICY=manual: it waits for approval")


def _approve(policy: str, current: str, name: str) -> Transition:
    if current in (PENDING, CANARY):
        return Transition(True, APPROVED, f"{name} approved ({current})")
    if current == APPROVED:
        return Transition(False, None, f"{name} is approved already")
    return Transition(
        False, None, f"{name} is {current}, not pending approval: only a version model selection proposed is approved"
    )


def _reject(policy: str, current: str, name: str) -> Transition:
    if current == REJECTED:
        return Transition(False, None, f"{name} is rejected already")
    if current == PRODUCTION_STATE:
        return Transition(False, None, f"{name} is in production: use 'mlops rollback' instead of rejecting it")
    return Transition(True, REJECTED, f"{name} rejected ({current})")


def _promote(policy: str, current: str, name: str) -> Transition:
    if current == PRODUCTION_STATE:
        return Transition(False, None, f"{name} is in production already")
    if policy == "manual" and current != APPROVED:
        return Transition(False, None, f"{name} is {current}: PROMOTION_POLICY=manual promotes only approved versions")
    return Transition(True, PRODUCTION_STATE, f"{name} promoted ({'approved' if current == APPROVED else current})")


def _start_canary(policy: str, current: str, name: str) -> Transition:
    if current == CANARY:
        return Transition(False, None, f"{name} is the canary already")
    return Transition(True, CANARY, f"{name} starts as the challenger ({current})")


_REFUSED = {
    PROPOSE: "be proposed",
    APPROVE: "be approved",
    PROMOTE: "be promoted",
    START_CANARY: "become the challenger",
}
_HANDLERS = {
    PROPOSE: _propose,
    APPROVE: _approve,
    REJECT: _reject,
    PROMOTE: _promote,
    START_CANARY: _start_canary,
}
