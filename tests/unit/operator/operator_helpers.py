"""A fake Mage for the operator API's tests: starts runs, remembers their variables, reports their status."""

from __future__ import annotations

from typing import Any

TOKENS = {
    "viewer": "viewer-token-" + "v" * 16,
    "operator": "operator-token-" + "o" * 16,
    "approver": "approver-" + "a" * 16,
}


class FakeMage:
    """Just enough of ``MageClient`` for start_pipeline and the run status."""

    def __init__(self) -> None:
        self.runs: dict[int, dict[str, Any]] = {}

    def find_trigger(self, pipeline: str, name: str) -> dict[str, Any]:
        return {"id": 1, "token": "trigger-token", "name": name, "pipeline": pipeline}

    def start_run(self, trigger: dict[str, Any], variables: dict[str, Any]) -> int:
        run_id = len(self.runs) + 1
        self.runs[run_id] = {
            "id": run_id, "pipeline_uuid": trigger["pipeline"], "status": "running", "variables": dict(variables),
            "block_runs": [],
        }  # fmt: skip
        return run_id

    def get_run(self, run_id: int) -> dict[str, Any]:
        from machine_learning.errors import NotFoundError

        if run_id not in self.runs:
            raise NotFoundError(f"Mage API GET /api/pipeline_runs/{run_id}: PipelineRun {run_id} does not exist")
        return self.runs[run_id]

    def failure_reason(self, pipeline: str, run_id: int) -> str:
        return "ValueError: boom"

    def run_url(self, pipeline: str, run_id: int) -> str:
        return f"http://mage.test/pipelines/{pipeline}/runs/{run_id}"


def bearer(role: str) -> dict[str, str]:
    """The Authorization header of a role."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}
