"""The operator API against live MLflow and S3 (moto, which also answers the AWS APIs cleanup uses).

Mage is a small fake here (tests/unit/operator/operator_helpers.py): runs through the real Mage server are
covered by the end-to-end tier.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import requests

from machine_learning.monitoring.decision import decision_key, state_key
from machine_learning.operator.actions import OperatorServices
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import Stack
from tests.integration.conftest import train_register_select
from tests.integration.operator_server import serve_operator
from tests.unit.alerts.test_webhook import Receiver
from tests.unit.operator.operator_helpers import TOKENS, FakeMage, bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"op-{uuid.uuid4().hex[:8]}")
    tokens = {f"operator_{role}_token": token for role, token in TOKENS.items()}
    return load_settings().with_overrides({"min_accuracy": 0.3, "cleanup_backup_dir": str(tmp_path), **tokens})


@pytest.fixture
def mage() -> FakeMage:
    return FakeMage()


@pytest.fixture
def aws(settings: Settings) -> Any:
    session = boto3.session.Session(region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=settings.s3_endpoint_url)


@pytest.fixture
def api(settings: Settings, mage: FakeMage, aws: Any) -> Iterator[str]:
    services = OperatorServices(mage=lambda: mage, connect=lambda: connect(settings), aws=aws)
    with serve_operator(settings, services) as url:
        yield url


def test_status_promotion_and_rollback_through_the_api(api: str, settings: Settings, prepared: pd.DataFrame) -> None:
    empty = requests.get(f"{api}/status", headers=bearer("viewer"), timeout=30).json()
    assert empty["title"] == settings.game_title and empty["production"] is None
    first, promoted = train_register_select(settings, prepared)
    assert promoted
    status = requests.get(f"{api}/status", headers=bearer("viewer"), timeout=30).json()
    assert status["production"]["version"] == first and status["production"]["selection_decision"] == "promoted"
    nothing = requests.post(f"{api}/rollbacks", headers=bearer("operator"), timeout=60)
    assert nothing.status_code == 404 and "no 'previous' version" in nothing.json()["detail"]

    services = connect(settings)
    from machine_learning.registry import register_candidate
    from machine_learning.training.train import train_candidate

    second = register_candidate(services.mlflow, settings, train_candidate(prepared, services.store, settings)).version
    decision = requests.post(f"{api}/promotions", headers=bearer("operator"), timeout=120)
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["candidate_version"] == second and body["production_version"] == first and body["reason"]
    if not body["promoted"]:  # same data, same seed: usually not better by the margin; promote it by hand
        from machine_learning.registry import apply_promotion, get_alias_version

        candidate = get_alias_version(services.mlflow, settings, "candidate")
        production = get_alias_version(services.mlflow, settings, "production")
        assert candidate is not None
        apply_promotion(services.mlflow, settings, candidate, production)
    back = requests.post(f"{api}/rollbacks", headers=bearer("operator"), timeout=60)
    assert back.status_code == 200, back.text
    assert back.json()["production_version"] == first
    after = requests.get(f"{api}/status", headers=bearer("approver"), timeout=30).json()
    assert after["production"]["version"] == first


def test_a_viewer_cannot_promote_and_nothing_changes(api: str, settings: Settings, prepared: pd.DataFrame) -> None:
    first, _ = train_register_select(settings, prepared)
    refused = requests.post(f"{api}/promotions", headers=bearer("viewer"), timeout=30)
    assert refused.status_code == 403
    assert requests.post(f"{api}/rollbacks", timeout=30).status_code == 401
    assert requests.get(f"{api}/status", headers=bearer("viewer"), timeout=30).json()["production"]["version"] == first


def test_pipeline_runs_start_at_once_and_can_be_followed(api: str, mage: FakeMage, settings: Settings) -> None:
    started = requests.post(
        f"{api}/pipelines/batch_inference/runs",
        json={"variables": {"batch_date": "2026-11-23"}},
        headers=bearer("operator"),
        timeout=30,
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    assert mage.runs[run_id]["variables"] == {"game_title": settings.game_title, "batch_date": "2026-11-23"}
    mage.runs[run_id]["status"] = "completed"
    followed = requests.get(f"{api}/pipelines/batch_inference/runs/{run_id}", headers=bearer("viewer"), timeout=30)
    assert followed.json()["finished"] is True and followed.json()["status"] == "completed"
    other = requests.get(f"{api}/pipelines/training/runs/{run_id}", headers=bearer("viewer"), timeout=30)
    assert other.status_code == 404


def test_latest_decision_and_live_quality(api: str, settings: Settings) -> None:
    assert requests.get(f"{api}/decisions/latest", headers=bearer("viewer"), timeout=30).status_code == 404
    store = connect(settings).store
    record = {
        "day": "2026-11-26", "model_version": "1", "retraining_needed": True, "retraining_triggered": True,
        "retraining_run_id": 7, "reason": "live accuracy dropped -> retraining triggered", "quality_reason": "dropped",
        "live_accuracy": 0.6, "expected_accuracy": 0.92, "drift_detected": False, "test_reasons": [],
    }  # fmt: skip
    store.write_json(decision_key(settings, "2026-11-26"), record)
    store.write_json(state_key(settings), {"last_checked": "2026-11-26", "episode_started": "2026-11-26"})
    latest = requests.get(f"{api}/decisions/latest", headers=bearer("viewer"), timeout=30).json()
    assert latest["retraining_run_id"] == 7 and "retraining run 7 started" in latest["summary"]
    quality = requests.get(f"{api}/live-quality?days=3", headers=bearer("viewer"), timeout=30).json()
    assert quality == {"title": settings.game_title, "day": "2026-11-26", "days": 3, "rows": []}


def test_cleanup_lists_on_a_dry_run_and_deletes_only_when_confirmed(
    api: str, settings: Settings, aws: Any, tmp_path: Path
) -> None:
    environment = f"t{uuid.uuid4().hex[:6]}"
    tags = {"Project": "engagement-mlops", "GameTitle": settings.game_title, "Environment": environment}
    aws("logs").create_log_group(logGroupName=f"/engagement-mlops/{settings.game_title}/{environment}", tags=tags)
    listed = requests.post(f"{api}/cleanup", json={"environment": environment}, headers=bearer("operator"), timeout=60)
    assert listed.status_code == 200, listed.text
    assert listed.json()["dry_run"] is True and [r["kind"] for r in listed.json()["resources"]] == ["log-group"]
    unconfirmed = {"environment": environment, "dry_run": False}
    assert requests.post(f"{api}/cleanup", json=unconfirmed, headers=bearer("operator"), timeout=60).status_code == 422
    confirmed = {**unconfirmed, "confirm_environment": environment}
    deleted = requests.post(f"{api}/cleanup", json=confirmed, headers=bearer("operator"), timeout=60).json()
    assert len(deleted["deleted"]) == 1 and Path(deleted["backup"]).parent == tmp_path
    assert json.loads(Path(deleted["backup"]).read_text())
    again = requests.post(f"{api}/cleanup", json={"environment": environment}, headers=bearer("operator"), timeout=60)
    assert again.json()["resources"] == []


def test_a_promotion_and_a_relayed_mage_failure_each_alert_once(
    settings: Settings, prepared: pd.DataFrame, mage: FakeMage, aws: Any
) -> None:
    receiver = Receiver()
    relay = "relay-" + uuid.uuid4().hex
    alerting = dataclasses.replace(settings, alert_webhook_url=receiver.url, alert_relay_token=relay)
    services = OperatorServices(mage=lambda: mage, connect=lambda: connect(alerting), aws=aws)
    try:
        with serve_operator(alerting, services) as url:
            version, promoted = train_register_select(alerting, prepared)  # the first model is promoted
            assert promoted
            header = {"type": "header", "text": {"text": "Failed to run Mage pipeline training"}}
            section = {"type": "section", "text": {"text": f"Error: boom {url}/pipelines/training/runs/5"}}
            failure = {"blocks": [header, section]}
            for _ in range(2):  # Mage reporting the same failed run twice is one alert
                assert requests.post(f"{url}/alerts/mage/{relay}", json=failure, timeout=30).status_code == 202
            _wait_for(lambda: len(receiver.bodies) >= 2)
        texts = sorted(body["text"] for body in receiver.bodies)
        assert len(texts) == 2
        assert f"v{version} promoted to production" in texts[1] and "Failed to run Mage pipeline training" in texts[0]
    finally:
        receiver.close()


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    time.sleep(0.5)  # and nothing more arrives


def test_under_manual_policy_an_approver_approves_and_a_rejected_version_stays_out(
    settings: Settings, prepared: pd.DataFrame, mage: FakeMage, aws: Any
) -> None:
    manual = dataclasses.replace(settings, promotion_policy="manual")
    services = OperatorServices(mage=lambda: mage, connect=lambda: connect(manual), aws=aws)
    with serve_operator(manual, services) as url:
        first, promoted = train_register_select(manual, prepared)
        assert not promoted  # waits for approval
        assert requests.get(f"{url}/status", headers=bearer("viewer"), timeout=30).json()["production"] is None
        by_operator = requests.post(
            f"{url}/versions/{first}/approval", json={"reason": "ok"}, headers=bearer("operator"), timeout=30
        )
        assert by_operator.status_code == 403
        approved = requests.post(
            f"{url}/versions/{first}/approval",
            json={"reason": "reviewed the metrics"},
            headers=bearer("approver"),
            timeout=60,
        )
        assert approved.status_code == 200, approved.text
        assert approved.json() == {"version": first, "decision": "approved", "message": f"v{first} is in production"}
        status = requests.get(f"{url}/status", headers=bearer("viewer"), timeout=30).json()
        assert status["production"]["version"] == first
        refused = requests.post(
            f"{url}/versions/{first}/rejection",
            json={"reason": "changed my mind"},
            headers=bearer("approver"),
            timeout=60,
        )
        assert refused.status_code == 422 and refused.json()["detail"]
        missing = requests.post(
            f"{url}/versions/999/approval", json={"reason": "x"}, headers=bearer("approver"), timeout=60
        )
        assert missing.status_code == 404, missing.text
