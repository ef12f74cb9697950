"""The nightly decision under faults: killed between trigger and record, or two runs of one night at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from machine_learning.monitoring.decision import apply_decision, load_state
from machine_learning.monitoring.drift import DriftTestResult, RetrainingDecision
from machine_learning.monitoring.quality import QualityDecision
from machine_learning.services import connect
from tests.conftest import ROOT

pytestmark = pytest.mark.faults
DAY = "2026-11-24"

# The child decides tonight's night like performance_monitoring does; its "Mage" records each started retraining
# as an object in S3, and the child is killed right after Mage accepted the run, before the run id is recorded.
CHILD = """
import json, os, signal
from machine_learning.monitoring.decision import apply_decision
from machine_learning.services import connect
from machine_learning.settings import load_settings
from tests.faults.test_monitoring_faults import night, quality, STARTED

settings = load_settings()
store = connect(settings).store

def start(variables):
    store.write_json(STARTED.format(prefix=settings.s3_prefix, n=1), variables)
    os.kill(os.getpid(), signal.SIGKILL)

apply_decision(store, settings, night(), quality(), "1", start)
"""
STARTED = "{prefix}/fake-mage/retraining-{n}.json"


def night() -> DriftTestResult:
    return DriftTestResult(DAY, 3000, 600, RetrainingDecision(False, (), 0.0, ()))


def quality() -> QualityDecision:
    return QualityDecision(True, "live accuracy 0.61 is 0.31 below the expected 0.92", 0.61, 0.92, 600)


def test_a_run_killed_between_trigger_and_record_is_rerun_without_a_second_retraining(settings, fault_stack):
    env = {**fault_stack.env, "GAME_TITLE": settings.game_title}
    killed = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    store = connect(settings).store
    started = store.list_keys(f"{settings.s3_prefix}/fake-mage/")
    assert len(started) == 1 and load_state(store, settings).last_retraining_run is None

    def start(variables: dict) -> int:
        raise AssertionError(f"retraining started a second time: {variables}")

    def find(key: str) -> int | None:  # what MageClient.find_run answers: the run started with that key
        runs = [store.read_json(one) for one in store.list_keys(f"{settings.s3_prefix}/fake-mage/")]
        return 1 if any(run["trigger_key"] == key for run in runs) else None

    record = apply_decision(store, settings, night(), quality(), "1", start, None, find)  # Mage reruns the step

    assert record["retraining_triggered"] and record["retraining_run_id"] == 1
    assert load_state(store, settings).last_retraining_run == 1
    assert json.loads(store.read_bytes(started[0]))["trigger_key"] == f"{settings.game_title}:{DAY}:retraining"
