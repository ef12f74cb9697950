"""The MCP server round trip with the SDK's own client (from the mcp venv), over stdio and streamable HTTP.

The operator API runs against live MLflow and S3; Mage is the small fake of the operator tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machine_learning.operator.actions import OperatorServices
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import ROOT, Stack, free_port
from tests.integration.operator_server import serve_operator
from tests.unit.operator.operator_helpers import TOKENS, FakeMage

pytestmark = pytest.mark.integration
MCP_PYTHON = ROOT / ".local" / "venv-mcp" / "bin" / "python"
CLIENT = Path(__file__).with_name("mcp_roundtrip.py")
TOOLS = {
    "get_status", "start_pipeline_run", "get_pipeline_run", "promote_candidate", "rollback_production",
    "get_latest_decision", "get_live_quality", "cleanup_resources", "approve_version", "reject_version",
    "list_titles", "create_title", "get_online_quality",
}  # fmt: skip


@pytest.fixture
def mage() -> FakeMage:
    return FakeMage()


@pytest.fixture
def api(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, mage: FakeMage) -> Iterator[str]:
    if not MCP_PYTHON.exists():
        pytest.fail("the mcp venv is missing: run 'make setup'")
    live_stack.apply(monkeypatch, game_title=f"mcp-{uuid.uuid4().hex[:8]}")
    settings: Settings = load_settings().with_overrides({f"operator_{r}_token": t for r, t in TOKENS.items()})
    services = OperatorServices(mage=lambda: mage, connect=lambda: connect(settings), aws=lambda _: None)
    with serve_operator(settings, services) as url:
        yield url


def _client(mode: str, url: str, operator_url: str, token: str) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "OPERATOR_URL": operator_url}
    env["OPERATOR_TOKEN"] = token
    done = subprocess.run(
        [str(MCP_PYTHON), str(CLIENT), mode, url], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _check(result: dict[str, Any], mage: FakeMage) -> None:
    assert set(result["tools"]) == TOOLS
    assert result["tools"]["start_pipeline_run"] == ["pipeline", "variables"]
    assert result["status_error"] is False and result["status"]["production"] is None
    assert result["run"]["status"] == "initial" and result["run"]["run_id"] in mage.runs
    assert result["followed"]["run_id"] == result["run"]["run_id"] and result["followed"]["finished"] is False
    assert "operator API 404: unknown pipeline 'nope'" in result["refused"]


def test_stdio_round_trip_lists_tools_reads_status_and_starts_a_pipeline(api: str, mage: FakeMage) -> None:
    result = _client("stdio", "-", api, TOKENS["operator"])
    _check(result, mage)


def test_a_viewer_token_over_stdio_reads_but_cannot_start_runs(api: str, mage: FakeMage) -> None:
    result = _client("stdio", "-", api, TOKENS["viewer"])
    assert result["status"]["production"] is None
    assert "operator API 403: role viewer may not operate" in result["run_error"]
    assert mage.runs == {}


@pytest.fixture
def mcp_http(api: str) -> Iterator[str]:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "OPERATOR_URL": api}
    process = subprocess.Popen(
        [str(MCP_PYTHON), "-m", "mcp_server", "--transport", "streamable-http", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
            try:
                urllib.request.urlopen(url, timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (a GET without a session is refused): up
            except OSError:
                assert time.monotonic() < deadline, "the MCP server did not start"
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_streamable_http_round_trip_passes_the_callers_token_on(api: str, mcp_http: str, mage: FakeMage) -> None:
    _check(_client("http", mcp_http, api, TOKENS["operator"]), mage)
    viewer = _client("http", mcp_http, api, TOKENS["viewer"])
    assert "403" in viewer["run_error"]
