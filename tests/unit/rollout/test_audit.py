import json

import pytest
from unit_helpers import FakeMlflowClient

from machine_learning.rollout.audit import AuditLog


@pytest.fixture
def client(settings):
    fake = FakeMlflowClient()
    fake.create_registered_model(settings.model_name)
    fake.create_model_version(settings.model_name, "s", "run1")
    return fake


def test_every_event_is_a_new_s3_object_and_a_tag_on_its_version(client, store, fake_s3, settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice-mlflow")
    log = AuditLog(client, store, settings)
    log.record("registered", "1", "run run1: passed the gate", {"test_accuracy": 0.91})
    log.record("approved", "1", "looks good")
    keys = [key for key in fake_s3.put_keys if "/audit/" in key]
    assert len(keys) == len(set(keys)) == 2, "one object per event, none written twice"
    assert all(key.startswith(f"{settings.s3_prefix}/audit/") and key.endswith("-v1-" + key[-13:]) for key in keys)
    line = fake_s3.objects[(store.bucket, keys[0])]
    assert line.endswith(b"\n") and json.loads(line)["metrics"] == {"test_accuracy": 0.91}
    tags = {k: json.loads(v) for k, v in client.versions["1"].tags.items() if k.startswith("audit.")}
    assert sorted(tag.rsplit(".", 1)[-1] for tag in tags) == ["approved", "registered"]
    assert {entry["mlflow_user"] for entry in tags.values()} == {"alice-mlflow"}


def test_history_is_in_time_order_and_filters_by_version(client, store, settings):
    client.create_model_version(settings.model_name, "s", "run2")
    log = AuditLog(client, store, settings)
    for event, version in (("registered", "1"), ("registered", "2"), ("rejected", "2"), ("promoted", "1")):
        log.record(event, version, f"{event} {version}")
    assert [e.event for e in log.history()] == ["registered", "registered", "rejected", "promoted"]
    assert [e.event for e in log.history("2")] == ["registered", "rejected"]
    described = log.history("1")[0].describe()
    assert "v1" in described and "registered" in described and "registered 1" in described


def test_an_unknown_event_is_refused_and_nothing_written(client, store, fake_s3, settings):
    with pytest.raises(ValueError, match="unknown audit event"):
        AuditLog(client, store, settings).record("deployed", "1", "?")
    assert fake_s3.put_keys == []
