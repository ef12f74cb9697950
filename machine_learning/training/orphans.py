"""Training runs left RUNNING by a killed process are closed as FAILED, with the reason, by the next training.

MLflow marks a run finished only when the process that started it ends it. A training killed with its Mage
server (or out of memory) leaves its run RUNNING forever, which the MLflow UI shows as still in progress. Each
training run is tagged with the host and process that own it; before a new training starts, a RUNNING run of the
title's experiment is closed when its owner ran on this host and is gone, or when it has run longer than
``ORPHAN_AFTER_HOURS`` (a training takes minutes).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from machine_learning.locks import process_alive

HOST_TAG = "mlops.host"
PID_TAG = "mlops.pid"
CLOSED_TAG = "mlops.closed_reason"
ORPHAN_AFTER_HOURS = 6.0


def owner_tags() -> dict[str, str]:
    """Tags naming the process that owns a run."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def orphan_reason(
    tags: dict[str, str], started_ms: int, now: float, host: str, alive: Callable[[int], bool]
) -> str | None:
    """Why a RUNNING run is an orphan, or ``None`` when its owner may still be working (pure but for ``alive``)."""
    hours = (now - started_ms / 1000) / 3600
    if tags.get(HOST_TAG) == host and tags.get(PID_TAG, "").isdigit() and not alive(int(tags[PID_TAG])):
        return f"its process {tags[PID_TAG]} on {host} ended without closing it"
    if hours > ORPHAN_AFTER_HOURS:
        return f"it has been running for {hours:.1f} hours (a training takes minutes)"
    return None


def close_orphan_runs(client: Any, experiment_name: str) -> list[str]:
    """Mark the experiment's orphaned RUNNING runs as FAILED, with the reason as a tag.

    Args:
        client: An ``MlflowClient``.
        experiment_name: The title's training experiment.

    Returns:
        One line per run closed.

    """
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    host, now, closed = socket.gethostname(), time.time(), []
    for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=200):
        reason = orphan_reason(run.data.tags, run.info.start_time or 0, now, host, process_alive)
        if reason is None:
            continue
        client.set_tag(run.info.run_id, CLOSED_TAG, reason)
        client.set_terminated(run.info.run_id, status="FAILED")
        closed.append(f"closed orphaned MLflow run {run.info.run_id} ({run.info.run_name}) as FAILED: {reason}")
    return closed
