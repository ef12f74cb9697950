"""Per-title locks in S3, so that two runs of one decision (model selection, the nightly decision) never overlap.

A lock is one object, ``<title>/locks/<name>.json``, created with a conditional PUT (``If-None-Match: *``): of two
runs that try at once, exactly one creates it. The object names its owner (host, process, time) and a lease. A
lock whose owner died is taken over with a compare-and-set on the object's ETag (``If-Match``), so two runs that
both find it stale cannot both take it: the owner is known dead when it ran on this host and its process is gone
(the local stack, where Mage is killed by process group), or when its lease has run out (anywhere else).

Why our own code rather than a library: the locks must live where the title's data lives (S3, with no other
service to run), and AWS S3, SeaweedFS and moto all implement the conditional writes this needs; the libraries
that offer S3 locks need DynamoDB or Redis.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

DEFAULT_LEASE_SECONDS = 1800.0
DEFAULT_WAIT_SECONDS = 120.0
_POLL_SECONDS = 1.0


class LockBusyError(MLOpsError):
    """Another run holds the lock, and did not let go of it in time."""

    http_status = 409


@dataclass(frozen=True)
class Lease:
    """Who holds a lock, since when and until when (``expires_at`` is Unix seconds)."""

    name: str
    owner: str
    host: str
    pid: int
    acquired_at: str
    expires_at: float

    def describe(self) -> str:
        """One line naming the holder."""
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
        return f"{self.owner} (pid {self.pid} on {self.host}) since {self.acquired_at}, lease until {until}"


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds: its lease and the ETag that proves the object is still ours."""

    key: str
    lease: Lease
    etag: str


def lock_key(settings: Settings, name: str) -> str:
    """Key of a title's lock object."""
    return f"{settings.s3_prefix}/locks/{name}.json"


def is_stale(lease: Lease, now: float, host: str, alive: Callable[[int], bool]) -> bool:
    """Tell whether a lease can be taken over (pure but for ``alive``): expired, or its owner here is gone."""
    return now >= lease.expires_at or (lease.host == host and not alive(lease.pid))


def acquire_lock(
    store: ObjectStore,
    key: str,
    name: str,
    owner: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> HeldLock:
    """Take a lock, waiting up to ``wait_seconds`` for its holder to let go.

    Args:
        store: The title's bucket.
        key: The lock object's key (:func:`lock_key`).
        name: What the lock guards, for messages.
        owner: Who takes it (e.g. ``model-selection``), for messages.
        lease_seconds: How long the lock is ours without renewal if this process dies on another host.
        wait_seconds: How long to wait for another holder.
        on_wait: Told once, with the holder, when the lock is busy.

    Returns:
        The held lock.

    Raises:
        LockBusyError: Another live run still holds it after ``wait_seconds``.

    """
    host, pid = socket.gethostname(), os.getpid()
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        now = time.time()
        lease = Lease(name, owner, host, pid, datetime.now(UTC).isoformat(timespec="seconds"), now + lease_seconds)
        body = json.dumps(asdict(lease)).encode()
        etag = put_if(store, key, body, IfNoneMatch="*")
        if etag:
            return HeldLock(key, lease, etag)
        current = _read_lease(store, key)
        if current is None:
            continue  # released between our two requests
        held, held_etag = current
        if is_stale(held, now, host, process_alive):
            etag = put_if(store, key, body, IfMatch=held_etag)  # compare-and-set: one taker wins
            if etag:
                return HeldLock(key, lease, etag)
            continue
        if time.monotonic() >= deadline:
            raise LockBusyError(f"{name} is already running: held by {held.describe()}; try again when it is done")
        if on_wait and not told:
            on_wait(f"waiting for {name}: held by {held.describe()}")
            told = True
        time.sleep(_POLL_SECONDS)


def release_lock(store: ObjectStore, held: HeldLock) -> None:
    """Let go of a lock if it is still ours (a holder that outlived its lease may have lost it)."""
    current = _read_lease(store, held.key)
    if current is not None and current[1] == held.etag:
        store.client.delete_object(Bucket=store.bucket, Key=held.key)


@contextmanager
def title_lock(
    store: ObjectStore,
    settings: Settings,
    name: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
) -> Iterator[HeldLock]:
    """Hold one of a title's locks for the ``with`` block (released on errors too)."""
    held = acquire_lock(
        store,
        lock_key(settings, name),
        f"{name} for '{settings.game_title}'",
        name,
        lease_seconds,
        wait_seconds,
        on_wait=print,
    )
    try:
        yield held
    finally:
        release_lock(store, held)


def put_if(store: ObjectStore, key: str, body: bytes, **condition: Any) -> str | None:
    """Make a conditional PUT; return the new ETag, or ``None`` when the condition did not hold."""
    try:
        response = store.client.put_object(
            Bucket=store.bucket, Key=key, Body=body, ContentType="application/json", **condition
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
            return None
        raise
    return str(response["ETag"])


def _read_lease(store: ObjectStore, key: str) -> tuple[Lease, str] | None:
    try:
        response = store.client.get_object(Bucket=store.bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    try:
        payload = json.loads(response["Body"].read())
        lease = Lease(**{field: payload[field] for field in Lease.__dataclass_fields__})
    except (ValueError, KeyError, TypeError):
        lease = Lease("?", "unreadable lock", "?", 0, "?", 0.0)  # a damaged lock object is stale
    return lease, str(response["ETag"])


def process_alive(pid: int) -> bool:
    """Tell whether a process of this host is alive (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
