import pytest

from machine_learning.rollout.policy import (
    APPROVE,
    APPROVED,
    CANARY,
    PENDING,
    PRODUCTION_STATE,
    PROMOTE,
    PROPOSE,
    REGISTERED,
    REJECT,
    REJECTED,
    RETIRED,
    START_CANARY,
    decide_transition,
)


@pytest.mark.parametrize("action", [APPROVE, PROMOTE, PROPOSE, START_CANARY])
@pytest.mark.parametrize("policy", ["auto", "manual"])
def test_a_rejected_version_cannot_be_approved_promoted_proposed_or_canaried(policy, action):
    transition = decide_transition(policy, REJECTED, action, "7")
    assert not transition.allowed and transition.new_state is None
    assert "v7 was rejected" in transition.reason


@pytest.mark.parametrize("state", [None, REGISTERED, PENDING, CANARY, RETIRED])
def test_under_manual_nothing_is_promoted_without_an_approval(state):
    transition = decide_transition("manual", state, PROMOTE, "3")
    assert not transition.allowed
    assert "PROMOTION_POLICY=manual promotes only approved versions" in transition.reason


def test_under_manual_a_winning_candidate_waits_and_an_approved_one_is_promoted():
    proposed = decide_transition("manual", REGISTERED, PROPOSE, "3")
    assert (proposed.allowed, proposed.new_state) == (True, PENDING)
    assert "waits for approval" in proposed.reason
    approved = decide_transition("manual", PENDING, APPROVE, "3")
    assert (approved.allowed, approved.new_state) == (True, APPROVED)
    promoted = decide_transition("manual", APPROVED, PROMOTE, "3")
    assert (promoted.allowed, promoted.new_state) == (True, PRODUCTION_STATE)


def test_under_auto_a_winning_candidate_is_promoted_at_once():
    proposed = decide_transition("auto", None, PROPOSE, "1")
    assert (proposed.allowed, proposed.new_state) == (True, APPROVED)
    assert decide_transition("auto", REGISTERED, PROMOTE, "1").allowed


@pytest.mark.parametrize(
    ("state", "allowed"), [(PENDING, True), (CANARY, True), (REGISTERED, False), (APPROVED, False)]
)
def test_only_a_proposed_or_canary_version_is_approved(state, allowed):
    assert decide_transition("manual", state, APPROVE, "2").allowed is allowed


def test_production_is_rolled_back_not_rejected_and_a_rejection_is_final():
    assert "mlops rollback" in decide_transition("manual", PRODUCTION_STATE, REJECT, "4").reason
    assert decide_transition("manual", PENDING, REJECT, "4").new_state == REJECTED
    assert not decide_transition("manual", REJECTED, REJECT, "4").allowed


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown policy"):
        decide_transition("yolo", None, PROPOSE, "1")
