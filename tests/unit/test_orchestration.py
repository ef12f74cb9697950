from __future__ import annotations

import pytest

from machine_learning.errors import ConfigurationError
from machine_learning.orchestration import MageClient, PipelineRunError, _parse_log_line, run_pipeline
from machine_learning.settings import Settings


class FakeMage:
    """Stands in for MageClient: one trigger per pipeline, runs that go through the given statuses."""

    def __init__(self, statuses: list[str], failed_block: str | None = None, reason: str = "") -> None:
        self.statuses = statuses
        self.failed_block = failed_block
        self.reason = reason
        self.started: list[tuple[dict, dict]] = []

    def find_trigger(self, pipeline: str, name: str) -> dict:
        return {"id": 7, "token": "t", "name": name}

    def start_run(self, trigger: dict, variables: dict) -> int:
        self.started.append((trigger, dict(variables)))
        return 42

    def get_run(self, run_id: int) -> dict:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        blocks = [{"block_uuid": self.failed_block, "status": "failed"}] if self.failed_block else []
        return {"id": run_id, "status": status, "block_runs": blocks}

    def failure_reason(self, pipeline: str, run_id: int) -> str:
        return self.reason

    def run_url(self, pipeline: str, run_id: int) -> str:
        return f"http://mage/pipelines/{pipeline}/runs/{run_id}"


def test_a_completed_run_is_returned_with_its_link(monkeypatch):
    monkeypatch.setattr("machine_learning.orchestration.time.sleep", lambda _: None)
    mage = FakeMage(["initial", "running", "completed"])
    progress: list[str] = []

    run = run_pipeline(mage, "training", {"params": {"a": 1}}, on_progress=progress.append)

    assert run.status == "completed" and run.run_id == 42
    assert run.url.endswith("/pipelines/training/runs/42")
    assert mage.started[0][0]["name"] == "training_api"
    assert mage.started[0][1] == {"params": {"a": 1}}
    assert progress == ["training: initial", "training: running"]


def test_a_failed_run_names_the_block_and_the_reason(monkeypatch):
    monkeypatch.setattr("machine_learning.orchestration.time.sleep", lambda _: None)
    mage = FakeMage(["running", "failed"], failed_block="load_raw_players", reason="s3://b/x.csv does not exist")

    with pytest.raises(PipelineRunError, match=r"failed in block load_raw_players: s3://b/x.csv does not exist"):
        run_pipeline(mage, "data_preparation")


def test_a_run_that_never_finishes_times_out(monkeypatch):
    monkeypatch.setattr("machine_learning.orchestration.time.sleep", lambda _: None)
    with pytest.raises(PipelineRunError, match="did not finish within"):
        run_pipeline(FakeMage(["running"]), "training", timeout=0.0)


def test_the_client_needs_credentials():
    with pytest.raises(ConfigurationError, match="DEFAULT_OWNER_PASSWORD"):
        MageClient(Settings())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '2026-01-01T00:00:00 {"level": "EXCEPTION", "error_stacktrace": "boom"}',
            {"level": "EXCEPTION", "error_stacktrace": "boom"},
        ),
        ("plain text", {}),
        ("2026 {not json", {}),
        ("2026 [1, 2]", {}),
    ],
)
def test_log_lines_are_parsed_leniently(line, expected):
    assert _parse_log_line(line) == expected


class DroppingMage(FakeMage):
    """Mage accepts the first run but never starts a block of it; the second run completes."""

    def __init__(self) -> None:
        super().__init__(["completed"])
        self.cancelled: list[int] = []

    def start_run(self, trigger: dict, variables: dict) -> int:
        self.started.append((trigger, dict(variables)))
        return 40 + len(self.started)

    def get_run(self, run_id: int) -> dict:
        if run_id == 41:
            return {"id": 41, "status": "running", "block_runs": [{"block_uuid": "a", "status": "initial"}]}
        return {"id": run_id, "status": "completed", "block_runs": [{"block_uuid": "a", "status": "completed"}]}

    def cancel_run(self, run_id: int) -> None:
        self.cancelled.append(run_id)


def test_a_run_that_mage_never_starts_is_cancelled_and_started_once_more(monkeypatch):
    clock = iter(range(0, 10_000, 30))  # each look at the clock is 30 s later
    monkeypatch.setattr("machine_learning.orchestration.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("machine_learning.orchestration.time.sleep", lambda _: None)
    mage, progress = DroppingMage(), []

    run = run_pipeline(mage, "training", timeout=3600, on_progress=progress.append)

    assert run.run_id == 42 and run.status == "completed"
    assert mage.cancelled == [41] and len(mage.started) == 2
    assert any("Mage started none of its blocks" in line and "started it again" in line for line in progress)
