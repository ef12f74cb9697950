import dataclasses

import pytest
from unit_helpers import FakeMlflowClient

from machine_learning.errors import InvalidInputError
from machine_learning.registry import CANDIDATE, PRODUCTION, get_alias_version
from machine_learning.rollout.approval import PENDING_ALIAS, apply_policy, approve_version, reject_version
from machine_learning.rollout.audit import AuditLog
from machine_learning.rollout.policy import STATE_TAG


@dataclasses.dataclass(frozen=True)
class Result:
    promoted: bool
    reason: str
    candidate_score: float = 0.9


@pytest.fixture
def client(settings):
    fake = FakeMlflowClient()
    fake.create_registered_model(settings.model_name)
    for run in ("run1", "run2"):
        fake.create_model_version(settings.model_name, "s", run, tags={STATE_TAG: "registered"})
    fake.set_registered_model_alias(settings.model_name, PRODUCTION, "1")
    fake.set_model_version_tag(settings.model_name, "1", STATE_TAG, "production")
    fake.set_registered_model_alias(settings.model_name, CANDIDATE, "2")
    return fake


def propose(client, store, settings):
    candidate = get_alias_version(client, settings, CANDIDATE)
    production = get_alias_version(client, settings, PRODUCTION)
    return apply_policy(AuditLog(client, store, settings), settings, candidate, production, Result(True, "wins"))


def events(client, store, settings):
    return [(e.event, e.version) for e in AuditLog(client, store, settings).history()]


def test_auto_promotes_the_winner_at_once(client, store, settings):
    result = propose(client, store, settings)
    assert result.promoted
    assert get_alias_version(client, settings, PRODUCTION).version == "2"
    assert events(client, store, settings) == [("proposed", "2"), ("promoted", "2")]
    assert client.versions["1"].tags[STATE_TAG] == "retired"


def test_manual_leaves_production_and_marks_the_winner_pending(client, store, settings):
    manual = dataclasses.replace(settings, promotion_policy="manual")
    result = propose(client, store, manual)
    assert not result.promoted and "waits for approval" in result.reason and "mlops approve 2" in result.reason
    assert get_alias_version(client, manual, PRODUCTION).version == "1"
    assert get_alias_version(client, manual, PENDING_ALIAS).version == "2"
    assert client.versions["2"].tags[STATE_TAG] == "pending-approval"
    propose(client, store, manual)  # the next selection run does not propose it twice
    assert events(client, store, manual) == [("proposed", "2")]

    approve_version(AuditLog(client, store, manual), manual, "2", "checked the canary")
    assert get_alias_version(client, manual, PRODUCTION).version == "2"
    assert get_alias_version(client, manual, PENDING_ALIAS) is None
    assert events(client, store, manual)[-2:] == [("approved", "2"), ("promoted", "2")]
    assert "checked the canary" in AuditLog(client, store, manual).history("2")[-1].reason


def test_a_rejected_version_is_never_approved_nor_proposed_again(client, store, settings):
    manual = dataclasses.replace(settings, promotion_policy="manual")
    propose(client, store, manual)
    reject_version(AuditLog(client, store, manual), manual, "2", "bad on the new map")
    with pytest.raises(InvalidInputError, match="rejected version cannot be approved"):
        approve_version(AuditLog(client, store, manual), manual, "2", "changed my mind")
    again = propose(client, store, manual)
    assert not again.promoted and "was rejected" in again.reason
    assert get_alias_version(client, manual, PRODUCTION).version == "1"
    assert get_alias_version(client, manual, PENDING_ALIAS) is None


def test_approving_a_version_nobody_proposed_or_without_a_reason_is_refused(client, store, settings):
    manual = dataclasses.replace(settings, promotion_policy="manual")
    audit = AuditLog(client, store, manual)
    with pytest.raises(InvalidInputError, match="not pending approval"):
        approve_version(audit, manual, "2", "why not")
    with pytest.raises(InvalidInputError, match="--reason must say why"):
        approve_version(audit, manual, "2", "  ")
    with pytest.raises(InvalidInputError, match="registered version number"):
        approve_version(audit, manual, "latest", "x")
    assert get_alias_version(client, manual, PRODUCTION).version == "1"
    assert events(client, store, manual) == []
