"""A truncated Evidently snapshot: named and set aside, and the UI still starts with every other snapshot."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from machine_learning.monitoring.drift import run_drift_tests
from machine_learning.monitoring.workspace import add_snapshot, find_project
from tests.conftest import free_port

pytestmark = pytest.mark.faults


def test_the_ui_starts_and_names_a_truncated_snapshot(settings, fault_stack, prepared, monkeypatch):
    workspace = fault_stack.state / "evidently"
    fault_stack.env["EVIDENTLY_PORT"] = str(free_port())
    local = settings.with_overrides({"evidently_workspace": str(workspace)})
    frame = prepared.assign(prediction=prepared["EngagementLevel"])
    days = ("2026-11-20", "2026-11-21")
    ids = [add_snapshot(local, run_drift_tests(frame.head(1500), frame.tail(500), local, day)[0]) for day in days]
    damaged = next(Path(workspace).glob(f"*/snapshots/{ids[1]}.json"))
    damaged.write_bytes(damaged.read_bytes()[:1000])  # killed while Evidently wrote it in place

    output = fault_stack.stack("up", "evidently")  # make up's path: prepare the workspace, start the UI
    try:
        assert f"damaged Evidently snapshot {damaged}" in output
        port = fault_stack.env["EVIDENTLY_PORT"]
        from evidently.ui.workspace import Workspace

        project = find_project(Workspace.create(str(workspace)), settings.game_title)
        url = f"http://127.0.0.1:{port}/api/projects/{project.id}/test_suites"
        with urllib.request.urlopen(url, timeout=30) as response:
            listed = [item["id"] for item in json.load(response)]
    finally:
        fault_stack.kill("evidently")
    assert listed == [ids[0]]
