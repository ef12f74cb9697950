"""Daily Evidently reports against real S3 and MLflow, read back through a running Evidently UI."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from machine_learning.inference.batch import daily_batch_locations, run_daily_batch
from machine_learning.monitoring.data import labels_key, report_key
from machine_learning.monitoring.reports import run_performance_reports
from machine_learning.monitoring.workspace import refresh_ui
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import ROOT, Stack, free_port, sample_players
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration

DAY = "2026-11-24"
LAUNCHER = ROOT / "scripts" / "evidently_ui.py"  # what make up runs: the secret, and new projects picked up
UI_SECRET = secrets.token_urlsafe(24)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback URL built here
        return json.load(response)


@pytest.fixture
def evidently_ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The stack's Evidently UI launcher on a free port over an empty workspace, stopped by process group."""
    workspace, port = tmp_path / "evidently", free_port()
    workspace.mkdir()
    log = open(tmp_path / "evidently.log", "wb")  # noqa: SIM115 - closed in the finaliser
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--workspace", str(workspace), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DO_NOT_TRACK": "1", "EVIDENTLY_SECRET": UI_SECRET},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "evidently.log").read_text()
            try:
                get_json(f"{url}/api/projects")
                break
            except OSError:
                assert time.monotonic() < deadline, "evidently ui did not answer within 90 s"
                time.sleep(0.5)
        yield url, workspace
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def settings(
    live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, evidently_ui: tuple[str, Path]
) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"reports-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
    monkeypatch.setenv("EVIDENTLY_URL", evidently_ui[0])
    monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(evidently_ui[1]))
    monkeypatch.setenv("EVIDENTLY_SECRET", UI_SECRET)
    return load_settings()


def test_daily_reports_reach_s3_and_the_evidently_ui(
    settings: Settings, prepared: pd.DataFrame, shipped_players: pd.DataFrame
) -> None:
    version, promoted = train_register_select(settings, prepared)
    assert promoted
    store = connect(settings).store
    batch = sample_players(shipped_players, 1000, seed=11)
    source, _ = daily_batch_locations(settings, DAY)
    store.write_bytes(source.split("/", 3)[3], batch.drop(columns="EngagementLevel").to_csv(index=False).encode())
    run_daily_batch(settings, DAY)
    labels = batch[["PlayerID", "EngagementLevel"]].head(600).assign(PlayerID=lambda f: f["PlayerID"].astype("int64"))
    store.write_parquet(labels_key(settings, DAY), labels)

    started = time.perf_counter()
    result = run_performance_reports(settings, DAY)
    print(f"run_performance_reports: {time.perf_counter() - started:.1f}s")

    kinds = {"data_quality", "data_drift", "prediction_drift", "model_quality"}
    assert set(result["snapshots"]) == set(result["html"]) == kinds
    assert result["model_version"] == version and result["labelled_rows"] == 600
    assert 0.0 <= result["share_of_drifted_columns"] < 0.5  # a sample of the training population
    assert result["accuracy"] > 0.8
    for kind in kinds:
        assert len(store.read_bytes(report_key(settings, DAY, kind))) > 100_000, kind

    ui = settings.evidently_url
    deadline = time.monotonic() + 60  # the UI picks the workspace's new files up by itself, on a busy box slowly
    project_id = result["project_url"].rsplit("/", 1)[-1]
    while not (projects := [p for p in get_json(f"{ui}/api/projects") if p["name"] == settings.game_title]):
        assert time.monotonic() < deadline, "the Evidently UI did not list the title's project within 60 s"
        refresh_ui(settings, project_id)  # what the reports do after each snapshot: the UI re-reads the project
        time.sleep(1)
    assert len(projects) == 1 and result["project_url"].endswith(f"/projects/{projects[0]['id']}")
    expected = set(result["snapshots"].values()) | set(result["live_quality_snapshots"])
    reports = get_json(f"{ui}/api/projects/{projects[0]['id']}/reports")
    while {r["id"] for r in reports} != expected and time.monotonic() < deadline + 60:
        time.sleep(1)
        reports = get_json(f"{ui}/api/projects/{projects[0]['id']}/reports")
    assert {r["id"] for r in reports} == set(result["snapshots"].values()) | set(result["live_quality_snapshots"])
    assert result["live_quality_snapshots"], "the labelled day gets its live-quality point"
    assert all(r["metadata"]["day"] == DAY and r["timestamp"].startswith(DAY) for r in reports)
    dashboard = get_json(f"{ui}/api/projects/{projects[0]['id']}/dashboard")
    assert len(dashboard["widgets"]) == len(get_json(f"{ui}/api/projects/{projects[0]['id']}/dashboard/panels"))
