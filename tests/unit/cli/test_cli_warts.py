"""What a user sees from the CLI is one clean line or pure JSON: the warts of issue #13, each fixed and kept so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from unit_helpers import FakeS3

from machine_learning.cli import main
from machine_learning.monitoring.decision import decision_key, state_key
from machine_learning.settings import _ENV_NAMES, load_settings
from machine_learning.storage import ObjectStore

# Mage 0.9.80's answer for an unknown pipeline: HTTP 200, a code-500 body with the server's traceback.
MAGE_TRACEBACK = {
    "error": {
        "code": 500,
        "errors": ['  File "/srv/venv/lib/python3.11/site-packages/tornado/web.py", line 1790\n'] * 20,
        "exception": "Pipeline nosuch does not exist.",
        "message": "Traceback (most recent call last):\n"
        + '  File "/srv/venv/mage_ai/server/api/v1.py", line 30, in get\n' * 20
        + "Exception: Pipeline nosuch does not exist.\n",
    },
    "url_parameters": {"pipeline_uuid": "nosuch"},
}


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEFAULT_OWNER_EMAIL", "owner@example.com")
    monkeypatch.setenv("DEFAULT_OWNER_PASSWORD", "not-a-real-password")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-test")


class FakeResponse:
    def __init__(self, payload: dict, status: int = 200) -> None:
        self.payload, self.status_code, self.ok = payload, status, status < 400

    def json(self) -> dict:
        return self.payload

    def raise_for_status(self) -> None:
        if not self.ok:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeMageSession:
    """requests.Session against a Mage server that knows no pipeline."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.cookies = SimpleNamespace(set=lambda *args: None)

    def request(self, method: str, url: str, **kwargs) -> FakeResponse:
        if url.endswith("/api/sessions"):
            return FakeResponse({"session": {"token": "jwt"}})
        return FakeResponse(MAGE_TRACEBACK)


def test_run_pipeline_of_an_unknown_pipeline_prints_one_line(monkeypatch, capsys):
    monkeypatch.setattr("requests.Session", FakeMageSession)

    assert main(["run-pipeline", "nosuch"]) == 1

    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: Mage API GET /api/pipelines/nosuch/pipeline_schedules: Pipeline nosuch does not exist."
    ]


def test_run_pipeline_refuses_a_service_variable_before_calling_mage(monkeypatch, capsys):
    monkeypatch.setattr("requests.Session", lambda: pytest.fail("Mage must not be called"))

    assert main(["run-pipeline", "batch_inference", "--variables", '{"mlflow_tracking_uri": "http://x"}']) == 1

    err = capsys.readouterr().err.strip()
    assert "'mlflow_tracking_uri' is not accepted by pipeline batch_inference" in err and "\n" not in err


@pytest.mark.parametrize(
    ("variables", "message"), [("{oops", "--variables is not valid JSON"), ("[1]", "must be a JSON object")]
)
def test_run_pipeline_refuses_variables_that_are_not_a_json_object(variables, message, capsys):
    assert main(["run-pipeline", "training", "--variables", variables]) == 1
    assert message in capsys.readouterr().err


def _store_with_decision(monkeypatch, record: dict, last_checked: str | None = None) -> None:
    settings = load_settings()
    store = ObjectStore(client=FakeS3(), bucket=settings.s3_bucket)
    store.write_json(decision_key(settings, "2026-11-23"), record)
    if last_checked:
        store.write_json(state_key(settings), {"last_checked": last_checked})
    monkeypatch.setattr("machine_learning.services.connect", lambda _: SimpleNamespace(store=store, mlflow=None))


RECORD = {
    "day": "2026-11-23",
    "model_version": "3",
    "retraining_needed": True,
    "retraining_triggered": True,
    "retraining_run_id": 17,
    "reason": "drift detected: retraining triggered",
    "test_reasons": ["SessionsPerWeek drifted (score 0.4 > threshold 0.1)"],
}


def test_decision_json_prints_only_json(monkeypatch, capsys):
    _store_with_decision(monkeypatch, RECORD)

    assert main(["decision", "--date", "2026-11-23", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == RECORD


def test_decision_without_json_prints_the_summary(monkeypatch, capsys):
    _store_with_decision(monkeypatch, RECORD)

    assert main(["decision", "--date", "2026-11-23"]) == 0

    out = capsys.readouterr().out
    assert "retraining run 17 started" in out and not out.lstrip().startswith("{")


def test_decision_without_a_date_shows_the_latest_night(monkeypatch, capsys):
    _store_with_decision(monkeypatch, RECORD, last_checked="2026-11-23")

    assert main(["decision", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == RECORD


def test_decision_without_a_date_before_any_night_says_so_in_one_line(monkeypatch, capsys):
    _store_with_decision(monkeypatch, RECORD)

    assert main(["decision"]) == 1

    err = capsys.readouterr().err.strip()
    assert "performance_monitoring has not run" in err and "\n" not in err


def test_monitor_no_trigger_on_a_drifted_day_lists_what_drifted(monkeypatch, capsys):
    def drifted_night(settings, day, start_retraining=None):
        start_retraining({"batch_date": day, "reason": "share of drifted columns 0.50 is above 0.30; Age drifted"})

    monkeypatch.setattr("machine_learning.monitoring.nightly.run_performance_monitoring", drifted_night)

    assert main(["monitor", "--date", "2026-11-23", "--no-trigger"]) == 1

    err = capsys.readouterr().err.strip()
    assert "share of drifted columns 0.50 is above 0.30; Age drifted" in err
    assert "--no-trigger" in err and "\n" not in err


def test_status_says_which_rows_each_production_score_is_on(monkeypatch, capsys):
    production = {
        "name": "demo-game-engagement",
        "version": "3",
        "run_id": "abc",
        "tags": {
            "test_accuracy": "0.9100",
            "test_f1_macro": "0.9050",
            "selection_decision": "promoted",
            "selection_reason": "candidate f1_macro 0.9120 vs production 0.9020 beats the margin 0.0020",
            "selection_holdout_rows": "8000",
        },
    }
    versions = {"production": production, "candidate": None, "previous": None}
    monkeypatch.setattr("machine_learning.cli.mlflow_rest.read_alias_versions", lambda settings: versions)

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    assert "accuracy 0.9100  macro-F1 0.9050  on the test split of its training run abc" in out
    assert "beats the margin 0.0020 (both scored on this candidate's 8000 held-out rows)" in out


def test_status_json_keeps_its_shape(monkeypatch, capsys):
    versions = {"production": None, "candidate": None, "previous": None}
    monkeypatch.setattr("machine_learning.cli.mlflow_rest.read_alias_versions", lambda settings: versions)

    assert main(["status", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == versions
