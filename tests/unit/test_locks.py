"""Per-title locks: one holder at a time, a dead holder's lock taken over once, a busy lock named in the error."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from machine_learning.locks import Lease, LockBusyError, acquire_lock, is_stale, lock_key, release_lock, title_lock


def _lease(**changes) -> Lease:
    values = {"name": "x", "owner": "o", "host": "h", "pid": 1, "acquired_at": "t", "expires_at": 100.0}
    return Lease(**(values | changes))


def test_of_two_runs_that_take_a_lock_at_once_one_waits_for_the_other(store, settings):
    inside: list[int] = []
    overlaps: list[bool] = []
    barrier = threading.Barrier(2)

    def run(number: int) -> None:
        barrier.wait()
        with title_lock(store, settings, "model-selection", wait_seconds=30):
            overlaps.append(bool(inside))
            inside.append(number)
            time.sleep(0.2)
            inside.remove(number)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [False, False]
    assert not store.exists(lock_key(settings, "model-selection"))


def test_a_busy_lock_fails_with_its_holder_named(store, settings):
    key = lock_key(settings, "monitoring-decision")
    held = acquire_lock(store, key, "monitoring", "first")
    with pytest.raises(LockBusyError, match=rf"monitoring is already running: held by first \(pid {os.getpid()}"):
        acquire_lock(store, key, "monitoring", "second", wait_seconds=0)
    release_lock(store, held)
    acquire_lock(store, key, "monitoring", "second", wait_seconds=0)


def test_the_lock_of_a_process_that_died_here_is_taken_over(store, settings, fake_s3):
    key = lock_key(settings, "model-selection")
    dead = _lease(host=socket.gethostname(), pid=2**22 + 12345, expires_at=time.time() + 3600)
    fake_s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(dead.__dict__).encode())
    held = acquire_lock(store, key, "selection", "new", wait_seconds=0)
    assert held.lease.owner == "new"


def test_an_expired_lease_is_stale_and_a_live_one_elsewhere_is_not():
    assert is_stale(_lease(expires_at=10.0), now=20.0, host="here", alive=lambda pid: True)
    assert not is_stale(_lease(host="elsewhere"), now=20.0, host="here", alive=lambda pid: False)
    assert is_stale(_lease(host="here"), now=20.0, host="here", alive=lambda pid: False)


def test_release_leaves_a_lock_that_another_run_took_over(store, settings, fake_s3):
    key = lock_key(settings, "model-selection")
    held = acquire_lock(store, key, "selection", "first")
    fake_s3.put_object(Bucket=store.bucket, Key=key, Body=b'{"owner": "second"}')  # ours expired and was taken
    release_lock(store, held)
    assert store.exists(key)


def test_a_damaged_lock_object_is_taken_over(store, settings, fake_s3):
    key = lock_key(settings, "model-selection")
    fake_s3.put_object(Bucket=store.bucket, Key=key, Body=b"{trunc")
    assert acquire_lock(store, key, "selection", "new", wait_seconds=0).lease.owner == "new"
