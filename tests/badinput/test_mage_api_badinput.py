"""Bad requests to Mage's patched /api/runs and API-trigger endpoints: a real 4xx, one line, nothing started.

Runs a Mage server beside the live S3 + MLflow pair (as the end-to-end tier does). No model is needed: every
case is refused before a model would be loaded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from machine_learning.orchestration import MageClient
from machine_learning.services import connect
from machine_learning.settings import load_settings
from tests.conftest import Stack
from tests.e2e.mage_server import running_mage

pytestmark = [pytest.mark.badinput, pytest.mark.e2e]

PIPELINE, BLOCK = "online_inference", "score_online_players"


@pytest.fixture(scope="module")
def mage(live_stack: Stack) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch, running_mage(live_stack, monkeypatch, "bad"):
        settings = load_settings()
        client = MageClient(settings)
        yield {
            "client": client,
            "trigger": client.find_trigger(PIPELINE, f"{PIPELINE}_api"),
            "other": client.find_trigger("training", "training_api"),
            "store": connect(settings).store,
            "prefix": settings.s3_prefix,
        }


def _runs(mage: dict[str, Any]) -> int:
    return len(mage["client"]._call("GET", "/api/pipeline_runs?_limit=1000")["pipeline_runs"])


def _run(block: str = BLOCK, pipeline: str = PIPELINE, **variables: Any) -> dict[str, Any]:
    return {"run": {"pipeline_uuid": pipeline, "block_uuid": block, "variables": {"inputs": [{}], **variables}}}


# (case id, path with {token} {id} {other}, body (bytes or JSON), status, message fragment)
CASES = [
    ("runs-no-token", "/api/runs", _run(), 401, "A trigger token is required."),
    ("runs-wrong-token", "/api/runs/{wrong}", _run(), 401, "Invalid token."),
    (
        "runs-other-pipelines-token",
        "/api/runs/{other}",
        _run(),
        403,
        "This token does not run pipeline online_inference",
    ),
    ("runs-not-json", "/api/runs/{token}", b"{run:", 400, "not valid JSON"),
    ("runs-not-an-object", "/api/runs/{token}", [1, 2], 400, "must be a JSON object"),
    ("runs-run-not-an-object", "/api/runs/{token}", {"run": "x"}, 400, '"run" must be a JSON object'),
    ("runs-no-pipeline", "/api/runs/{token}", {"run": {"block_uuid": BLOCK}}, 400, "run.pipeline_uuid must name"),
    ("runs-pipeline-traversal", "/api/runs/{token}", _run(pipeline="../x"), 400, "run.pipeline_uuid must name"),
    ("runs-unknown-pipeline", "/api/runs/{token}", _run(pipeline="nosuch"), 404, "Pipeline nosuch not found."),
    ("runs-unknown-block", "/api/runs/{token}", _run(block="nosuch"), 404, "Block nosuch not found"),
    ("runs-project", "/api/runs/{token}", {"run": {**_run()["run"], "project": "../.."}}, 400, "run.project"),
    ("runs-variables-list", "/api/runs/{token}", {"run": {**_run()["run"], "variables": [1]}}, 400, "run.variables"),
    ("runs-record-text", "/api/runs/{token}", {"run": {**_run()["run"], "record": "no"}}, 400, "run.record"),
    ("runs-inputs-not-list", "/api/runs/{token}", _run(inputs=5), 422, "inputs must be a non-empty list"),
    ("runs-inputs-too-many", "/api/runs/{token}", _run(inputs=[{}] * 1001), 422, "at most 1000"),
    (
        "runs-mlflow-variable",
        "/api/runs/{token}",
        _run(mlflow_tracking_uri="http://127.0.0.1:1"),
        422,
        "'mlflow_tracking_uri' is not accepted",
    ),
    (
        "runs-cache-variable",
        "/api/runs/{token}",
        _run(model_cache_dir="/var/cache/elsewhere"),
        422,
        "'model_cache_dir' is not accepted",
    ),
    ("runs-request-id-traversal", "/api/runs/{token}", _run(request_id="../../processed/latest"), 422, "request_id"),
    (
        "runs-request-id-of-a-run",
        "/api/runs/{token}",
        _run(request_id="mage-run-999999"),
        422,
        "given by Mage to its runs",
    ),
    ("runs-title", "/api/runs/{token}", _run(game_title="../x"), 422, "GAME_TITLE"),
    ("trigger-id-not-a-number", "/api/pipeline_schedules/abc/pipeline_runs/{token}", {}, 404, "Trigger not found."),
    ("trigger-unknown-id", "/api/pipeline_schedules/999999/pipeline_runs/{token}", {}, 404, "Trigger not found."),
    ("trigger-wrong-token", "/api/pipeline_schedules/{id}/pipeline_runs/{wrong}", {}, 401, "Invalid token"),
    ("trigger-not-json", "/api/pipeline_schedules/{id}/pipeline_runs/{token}", b"{", 400, "not valid JSON"),
    ("trigger-not-an-object", "/api/pipeline_schedules/{id}/pipeline_runs/{token}", [], 400, "must be a JSON object"),
    (
        "trigger-run-not-an-object",
        "/api/pipeline_schedules/{id}/pipeline_runs/{token}",
        {"pipeline_run": 3},
        400,
        '"pipeline_run" must be',
    ),
    (
        "trigger-variables-text",
        "/api/pipeline_schedules/{id}/pipeline_runs/{token}",
        {"pipeline_run": {"variables": "x"}},
        400,
        "variables must be a JSON object",
    ),
]
STARTS_NO_RUN = {case[0] for case in CASES if case[0].startswith("trigger") or case[3] in (400, 401, 403, 404)}


@pytest.mark.parametrize(("path", "body", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_request_gets_its_status_and_one_line(mage, request, path, body, status, message):
    trigger, other = mage["trigger"], mage["other"]
    url = mage["client"].base + path.format(
        token=trigger["token"], id=trigger["id"], other=other["token"], wrong="0" * 32
    )
    runs, keys = _runs(mage), mage["store"].list_keys(f"{mage['prefix']}/")

    sent = {"data": body} if isinstance(body, bytes) else {"json": body}
    response = requests.post(url, timeout=60, **sent)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and message in error["message"], error
    assert set(response.json()) == {"error"} and set(error) == {"code", "message"}
    assert "\n" not in error["message"] and "Traceback" not in response.text and "site-packages" not in response.text
    assert mage["store"].list_keys(f"{mage['prefix']}/") == keys, "a refused request wrote to S3"
    if request.node.callspec.id in STARTS_NO_RUN:
        assert _runs(mage) == runs, "a refused request started a run"


def test_a_triggered_run_naming_a_service_fails_at_once_and_says_why(mage):
    client, trigger = mage["client"], mage["trigger"]
    run_id = client.start_run(trigger, {"inputs": [{}], "s3_endpoint_url": "http://127.0.0.1:1"})
    deadline = time.monotonic() + 180
    while (run := client.get_run(run_id))["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.5)

    assert run["status"] == "failed"
    assert "'s3_endpoint_url' is not accepted by pipeline online_inference" in client.failure_reason(PIPELINE, run_id)
    assert mage["store"].list_keys(f"{mage['prefix']}/online/") == []
