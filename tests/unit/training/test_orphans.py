"""Orphaned training runs: closed when their process is gone or they ran for hours, never while they work."""

from __future__ import annotations

from machine_learning.training.orphans import HOST_TAG, PID_TAG, orphan_reason

NOW = 1_800_000_000.0


def _tags(host: str = "here", pid: str = "123") -> dict[str, str]:
    return {HOST_TAG: host, PID_TAG: pid}


def test_a_run_whose_process_ended_on_this_host_is_an_orphan():
    reason = orphan_reason(_tags(), int(NOW * 1000) - 60_000, NOW, "here", alive=lambda pid: False)
    assert reason == "its process 123 on here ended without closing it"


def test_a_running_training_or_one_on_another_host_is_left_alone():
    recent = int(NOW * 1000) - 60_000
    assert orphan_reason(_tags(), recent, NOW, "here", alive=lambda pid: True) is None
    assert orphan_reason(_tags(host="elsewhere"), recent, NOW, "here", alive=lambda pid: False) is None


def test_a_run_that_has_run_for_hours_is_an_orphan_anywhere():
    hours_ago = int((NOW - 7 * 3600) * 1000)
    reason = orphan_reason(_tags(host="elsewhere"), hours_ago, NOW, "here", alive=lambda pid: True)
    assert reason is not None and "running for 7.0 hours" in reason
