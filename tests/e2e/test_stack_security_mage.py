"""The Mage server on a moved port: stack.env records it and the tools follow; its logs and DB keep secrets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Stack
from tests.e2e.mage_server import running_mage
from tests.security.conftest import read_stack_env, server_environ
from tests.security.test_files_and_logs import SECRET_KEYS, secrets_in

pytestmark = pytest.mark.e2e

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")


def test_a_moved_mage_is_recorded_used_by_the_tools_and_keeps_tokens_out_of_logs(
    live_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_mage(live_stack, monkeypatch, "sec") as port:
        # Only stack.env says where Mage is: no MAGE_URL or MAGE_PORT from this process.
        base = {k: v for k, v in os.environ.items() if k not in ("MAGE_URL", "MAGE_PORT")}
        recorded = read_stack_env({**base, "LOCAL_STATE_DIR": str(live_stack.state)})
        assert recorded["MAGE_PORT"] == str(port)
        assert recorded["MAGE_URL"] == f"http://127.0.0.1:{port}"
        tool_env = {**base, **recorded, "GAME_TITLE": os.environ["GAME_TITLE"], "PYTHONWARNINGS": "ignore"}
        command = [MLOPS, "trigger-token", "online_inference"]
        done = subprocess.run(command, env=tool_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        trigger = dict(line[len("export ") :].split("=", 1) for line in done.stdout.splitlines())
        path = f"/api/pipeline_schedules/{trigger['TRIGGER_ID']}/pipeline_runs/{trigger['TRIGGER_TOKEN']}"
        url = recorded["MAGE_URL"] + path
        started = httpx.post(url, json={"pipeline_run": {"variables": {"inputs": []}}}, timeout=30)
        assert started.status_code == 200, started.text

        mage = server_environ(live_stack.state, "mage")
        assert mage["MLFLOW_TRACKING_USERNAME"] == recorded["MLFLOW_TRACKING_USERNAME"], "Mage trains as the trainer"
        for key in ("MLFLOW_ADMIN_PASSWORD", "MLFLOW_READER_PASSWORD", "SERVING_TOKEN", "S3_JWT_WRITE_KEY"):
            assert key not in mage, f"Mage must not get {key}"

    secrets = {key: recorded[key] for key in SECRET_KEYS} | {"trigger token": trigger["TRIGGER_TOKEN"]}
    assert secrets_in(live_stack.state / "logs", secrets) == []
    mage_data = Path(recorded["MAGE_DATA_DIR"])
    found = secrets_in(mage_data, secrets)
    assert [where for where in found if ".db" not in where] == [], "only Mage's own database holds the token"
    for database in mage_data.rglob("*.db"):
        assert database.stat().st_mode & 0o077 == 0, f"{database} is open to other users"
    assert (live_stack.state / "stack.env").stat().st_mode & 0o077 == 0
