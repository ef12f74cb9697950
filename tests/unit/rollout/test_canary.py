import pytest
from unit_helpers import FakeMlflowClient

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.registry import PRODUCTION, get_alias_version
from machine_learning.rollout.approval import CHALLENGER, reject_version
from machine_learning.rollout.audit import AuditLog
from machine_learning.rollout.canary import read_challenger_config, start_canary, stop_canary
from machine_learning.rollout.policy import STATE_TAG


@pytest.fixture
def audit(settings, store):
    client = FakeMlflowClient()
    client.create_registered_model(settings.model_name)
    for run in ("run1", "run2", "run3"):
        client.create_model_version(settings.model_name, "s", run, tags={STATE_TAG: "registered"})
    client.set_registered_model_alias(settings.model_name, PRODUCTION, "1")
    return AuditLog(client, store, settings)


def test_start_sets_alias_share_and_mode_that_serving_reads(audit, settings):
    config = start_canary(audit, settings, "2", 0.1, "shadow")
    info = get_alias_version(audit.client, settings, CHALLENGER)
    assert info.version == "2" and info.tags[STATE_TAG] == "canary"
    assert read_challenger_config(info, settings) == config
    assert (config.share, config.mode) == (0.1, "shadow")
    assert [e.event for e in audit.history()] == ["canary-started"]


def test_a_new_canary_replaces_the_old_one_and_stop_restores_its_state(audit, settings):
    start_canary(audit, settings, "2", 0.1, "canary")
    start_canary(audit, settings, "3", 0.2, "canary")
    assert get_alias_version(audit.client, settings, CHALLENGER).version == "3"
    assert audit.client.versions["2"].tags[STATE_TAG] == "registered"
    stop_canary(audit, settings, "done")
    assert get_alias_version(audit.client, settings, CHALLENGER) is None
    assert [(e.event, e.version) for e in audit.history()] == [
        ("canary-started", "2"),
        ("canary-stopped", "2"),
        ("canary-started", "3"),
        ("canary-stopped", "3"),
    ]
    with pytest.raises(NotFoundError, match="no canary is running"):
        stop_canary(audit, settings, "again")


@pytest.mark.parametrize(
    ("version", "share", "mode", "message"),
    [
        ("1", 0.1, "canary", "is in production"),
        ("2", 0.0, "canary", "--share must be in"),
        ("2", float("nan"), "canary", "--share must be in"),
        ("2", 0.1, "blue-green", "--mode one of"),
        ("9", 0.1, "canary", "has no version 9"),
    ],
)
def test_bad_canaries_are_refused_and_nothing_moves(audit, settings, version, share, mode, message):
    with pytest.raises((InvalidInputError, NotFoundError), match=message):
        start_canary(audit, settings, version, share, mode)
    assert get_alias_version(audit.client, settings, CHALLENGER) is None
    assert audit.history() == []


def test_starting_the_running_canary_again_changes_its_share_and_mode(audit, settings):
    start_canary(audit, settings, "2", 0.1, "canary")
    start_canary(audit, settings, "2", 1.0, "shadow")
    config = read_challenger_config(get_alias_version(audit.client, settings, CHALLENGER), settings)
    assert (config.share, config.mode) == (1.0, "shadow")
    stop_canary(audit, settings, "done")
    assert audit.client.versions["2"].tags[STATE_TAG] == "registered"


def test_a_rejected_version_cannot_become_the_canary(audit, settings):
    reject_version(audit, settings, "2", "no")
    with pytest.raises(InvalidInputError, match="was rejected"):
        start_canary(audit, settings, "2", 0.1, "canary")


def test_unreadable_tags_fall_back_to_the_settings(audit, settings):
    start_canary(audit, settings, "2", 0.3, "canary")
    audit.client.set_model_version_tag(settings.model_name, "2", "rollout_share", "lots")
    audit.client.set_model_version_tag(settings.model_name, "2", "rollout_mode", "yolo")
    config = read_challenger_config(get_alias_version(audit.client, settings, CHALLENGER), settings)
    assert (config.share, config.mode) == (settings.canary_share, settings.canary_mode)
