"""Starting Mage pipeline runs through Mage's own API, so they appear in the Mage UI with their logs.

``mage run`` executes a pipeline outside the server and leaves no trace in the UI; an API trigger (declared in
each pipeline's ``triggers.yaml``) makes the server run it like a scheduled run.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from machine_learning.errors import ConfigurationError, MLOpsError, NotFoundError
from machine_learning.settings import Settings

# A trigger's token is part of its URL: messages show the path without it.
_TOKEN_IN_PATH = re.compile(r"(/pipeline_schedules/[^/]+/pipeline_runs/)[^/?#\s]+")

# Mage's public OAuth client id of its own web app (the same for every install; not a secret).
MAGE_CLIENT_ID = "zkWlN0PkIKSN0C11CfUHUj84OT5XOJ6tDZ6bDRO2"
FINISHED = ("completed", "failed", "cancelled")


class PipelineRunError(MLOpsError):
    """A pipeline run through Mage did not complete."""


class RunNotStartedError(PipelineRunError):
    """Mage accepted a run but its scheduler never started a block of it."""


# Mage 0.9.80 sometimes drops a queued run: it stays "running" with no block started. A run whose blocks have not
# started after this long is taken as dropped (a healthy scheduler starts the first block within seconds).
NOT_STARTED_SECONDS = 120.0
_NOT_STARTED_BLOCKS = ("initial", "queued", None)


@dataclass(frozen=True)
class PipelineRun:
    """One finished pipeline run."""

    pipeline: str
    run_id: int
    status: str
    seconds: float
    url: str
    failed_blocks: tuple[str, ...] = ()


class MageClient:
    """A logged-in session against the Mage server."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        if not settings.mage_email or not settings.mage_password:
            raise ConfigurationError("DEFAULT_OWNER_EMAIL and DEFAULT_OWNER_PASSWORD must be set to use the Mage API")
        self.base = settings.mage_url.rstrip("/")
        self.http = session or requests.Session()
        self.http.headers["X-API-KEY"] = os.environ.get("MAGE_API_KEY", MAGE_CLIENT_ID)
        body = {"session": {"email": settings.mage_email, "password": settings.mage_password}}
        token = self._call("POST", "/api/sessions", json=body)["session"]["token"]
        self.http.cookies.set("oauth_token", token)

    def find_trigger(self, pipeline: str, name: str) -> dict[str, Any]:
        """Return the trigger (pipeline schedule) of a pipeline by name."""
        schedules = self._call("GET", f"/api/pipelines/{pipeline}/pipeline_schedules")["pipeline_schedules"]
        for schedule in schedules:
            if schedule["name"] == name:
                return dict(schedule)
        raise NotFoundError(f"Mage pipeline {pipeline} has no trigger named {name!r} (see its triggers.yaml)")

    def start_run(self, trigger: Mapping[str, Any], variables: Mapping[str, Any]) -> int:
        """Start a run through an API trigger and return its id."""
        path = f"/api/pipeline_schedules/{trigger['id']}/pipeline_runs/{trigger['token']}"
        return int(
            self._call("POST", path, json={"pipeline_run": {"variables": dict(variables)}})["pipeline_run"]["id"]
        )

    def get_run(self, run_id: int) -> dict[str, Any]:
        """Return a pipeline run with its block runs."""
        return dict(self._call("GET", f"/api/pipeline_runs/{run_id}")["pipeline_run"])

    def failure_reason(self, pipeline: str, run_id: int) -> str:
        """Return the first error message logged by a failed run's blocks ('' when none is found)."""
        payload = self._call("GET", f"/api/pipelines/{pipeline}/logs?pipeline_run_id[]={run_id}&_limit=50")
        for logs in payload.get("logs", []):
            for block_log in logs.get("block_run_logs", []):
                for line in block_log.get("content", "").splitlines():
                    record = _parse_log_line(line)
                    if record.get("level") == "EXCEPTION" and record.get("error_stacktrace"):
                        return str(record["error_stacktrace"]).strip().splitlines()[-1]
        return ""

    def find_run(self, pipeline: str, variable: str, value: str, limit: int = 200) -> int | None:
        """Return the newest run of a pipeline started with ``variable`` set to ``value`` (``None`` if none)."""
        path = f"/api/pipeline_runs?pipeline_uuid={pipeline}&_limit={limit}&order_by[]=id%20desc"
        for run in self._call("GET", path).get("pipeline_runs", []):
            if str((run.get("variables") or {}).get(variable)) == value:
                return int(run["id"])
        return None

    def cancel_run(self, run_id: int) -> None:
        """Cancel a pipeline run (used for a run the scheduler never started)."""
        self._call("PUT", f"/api/pipeline_runs/{run_id}", json={"pipeline_run": {"status": "cancelled"}})

    def list_triggers(self, pipeline: str) -> list[dict[str, Any]]:
        """Return every trigger (pipeline schedule) of a pipeline, with its variables."""
        return list(self._call("GET", f"/api/pipelines/{pipeline}/pipeline_schedules")["pipeline_schedules"])

    def create_trigger(self, pipeline: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a trigger in the server's database (the pipeline's ``triggers.yaml`` is left as it is)."""
        path = f"/api/pipelines/{pipeline}/pipeline_schedules"
        return dict(self._call("POST", path, json={"pipeline_schedule": dict(body)})["pipeline_schedule"])

    def delete_trigger(self, schedule_id: int) -> None:
        """Delete a trigger by id."""
        self._call("DELETE", f"/api/pipeline_schedules/{int(schedule_id)}")

    def recent_runs(self, limit: int = 200) -> list[dict[str, Any]]:
        """Return the newest pipeline runs of every pipeline, newest first."""
        path = f"/api/pipeline_runs?_limit={limit}&order_by[]=id%20desc"
        return list(self._call("GET", path).get("pipeline_runs", []))

    def run_url(self, pipeline: str, run_id: int) -> str:
        """Return the UI page of a run."""
        return f"{self.base}/pipelines/{pipeline}/runs/{run_id}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.base + path, timeout=30, **kwargs)
        shown = _TOKEN_IN_PATH.sub(r"\1***", path).split("?")[0]  # never the trigger token in a message
        try:
            payload = response.json()
        except ValueError:  # not raise_for_status(): its message carries the URL with the token
            raise MLOpsError(f"Mage API {method} {shown}: HTTP {response.status_code} {response.reason}") from None
        error = payload.get("error") if isinstance(payload, dict) else None
        if error or not response.ok:  # Mage reports most errors with HTTP 200, the patched endpoints with 4xx
            text = describe_mage_error(error) if error else f"HTTP {response.status_code}"
            kind = NotFoundError if "does not exist" in text or response.status_code == 404 else MLOpsError
            raise kind(f"Mage API {method} {shown}: {text}")
        return payload


def describe_mage_error(error: Any) -> str:
    """One line for an error body of Mage's API: its exception text, never the server's traceback.

    Args:
        error: The ``error`` member of a Mage response (``exception``, ``message``, ``errors``...).

    Returns:
        The first line of the exception (or of the message when there is none), at most 300 characters.

    """
    if not isinstance(error, dict):
        return str(error).strip().splitlines()[0][:300] if str(error).strip() else "error"
    for key in ("exception", "message"):
        text = str(error.get(key) or "").strip()
        if text and not text.startswith("Traceback"):
            return text.splitlines()[0][:300]
    message = str(error.get("message") or "").strip().splitlines()
    return (message[-1] if message else "error")[:300]  # a traceback's last line is the exception


def start_pipeline(client: MageClient, pipeline: str, variables: Mapping[str, Any] | None = None) -> int:
    """Start a pipeline through its ``<pipeline>_api`` trigger without waiting; return the run id.

    Args:
        client: A logged-in Mage client.
        pipeline: Pipeline uuid.
        variables: Runtime variables for the blocks.

    Returns:
        The id of the started run.

    """
    return client.start_run(client.find_trigger(pipeline, f"{pipeline}_api"), variables or {})


def wait_for_run(
    client: MageClient,
    pipeline: str,
    run_id: int,
    timeout: float = 900.0,
    on_progress: Callable[[str], None] | None = None,
    not_started_after: float = NOT_STARTED_SECONDS,
) -> PipelineRun:
    """Wait until a started run finishes.

    Args:
        client: A logged-in Mage client.
        pipeline: Pipeline uuid.
        run_id: The run.
        timeout: Seconds to wait before giving up.
        on_progress: Called with a short status line while waiting.
        not_started_after: Seconds after which a run with no block started is taken as dropped by Mage.

    Returns:
        The finished run.

    Raises:
        RunNotStartedError: Mage never started a block of the run.
        PipelineRunError: The run failed, was cancelled, or did not finish in time.

    """
    started = time.monotonic()
    url = client.run_url(pipeline, run_id)
    last = ""
    while time.monotonic() - started < timeout:
        run = client.get_run(run_id)
        waited = time.monotonic() - started
        if run["status"] == "running" and waited > not_started_after and not _any_started(run):
            raise RunNotStartedError(
                f"{pipeline} run {run_id} was accepted but Mage started none of its blocks in "
                f"{not_started_after:.0f}s (see {url})"
            )
        if run["status"] in FINISHED:
            failed = tuple(b["block_uuid"] for b in run.get("block_runs", []) if b.get("status") == "failed")
            result = PipelineRun(pipeline, run_id, run["status"], round(time.monotonic() - started, 1), url, failed)
            if run["status"] != "completed":
                where = f" in block {', '.join(failed)}" if failed else ""
                reason = client.failure_reason(pipeline, run_id)
                reason = f": {reason}" if reason else ""
                raise PipelineRunError(f"{pipeline} run {run_id} {run['status']}{where}{reason} (logs: {url})")
            return result
        if on_progress and run["status"] != last:
            last = run["status"]
            on_progress(f"{pipeline}: {last}")
        time.sleep(1.0)
    raise PipelineRunError(f"{pipeline} run {run_id} did not finish within {timeout:.0f}s; see {url}")


def run_pipeline(
    client: MageClient,
    pipeline: str,
    variables: Mapping[str, Any] | None = None,
    timeout: float = 900.0,
    on_progress: Callable[[str], None] | None = None,
) -> PipelineRun:
    """Run a pipeline through its ``<pipeline>_api`` trigger and wait until it finishes.

    Args:
        client: A logged-in Mage client.
        pipeline: Pipeline uuid.
        variables: Runtime variables for the blocks.
        timeout: Seconds to wait before giving up.
        on_progress: Called with a short status line while waiting.

    Returns:
        The finished run.

    Raises:
        PipelineRunError: The run failed, was cancelled, or did not finish in time (a run that Mage accepted but
            never started is cancelled and started once more first).

    """
    return start_and_wait(client, pipeline, lambda: start_pipeline(client, pipeline, variables), timeout, on_progress)


def start_and_wait(
    client: MageClient,
    pipeline: str,
    start: Callable[[], int],
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
    not_started_after: float = NOT_STARTED_SECONDS,
) -> PipelineRun:
    """Start a run with ``start`` and wait for it; a run Mage accepted but never started is retried once.

    The dropped run is cancelled first, so that it never starts late, then ``start`` is called again.

    Raises:
        PipelineRunError: The run failed, was cancelled, or did not finish in time.

    """
    began = time.monotonic()

    def left() -> float:
        return timeout - (time.monotonic() - began)

    run_id = start()
    try:
        return wait_for_run(
            client, pipeline, run_id, timeout - (time.monotonic() - began), on_progress, not_started_after
        )
    except RunNotStartedError as error:
        client.cancel_run(run_id)
        if on_progress:
            on_progress(f"{error}; cancelled it and started it again")
        run_id = start()
        return wait_for_run(
            client, pipeline, run_id, timeout - (time.monotonic() - began), on_progress, not_started_after
        )


def _any_started(run: Mapping[str, Any]) -> bool:
    blocks = run.get("block_runs") or []
    return any(block.get("status") not in _NOT_STARTED_BLOCKS for block in blocks)


def _parse_log_line(line: str) -> dict[str, Any]:
    """Mage block logs are lines of ``<timestamp> <json>``."""
    start = line.find("{")
    if start < 0:
        return {}
    try:
        record = json.loads(line[start:])
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
