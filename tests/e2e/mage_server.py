"""One way to run a Mage server beside the live S3 + MLflow pair, shared by the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import ROOT, Stack, free_port

STACK = [sys.executable, str(ROOT / "scripts" / "stack.py")]


@contextmanager
def running_mage(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, title_prefix: str) -> Iterator[int]:
    """Start `mage start` on a free port with the stack's secrets; point this process at it under a new title.

    Yields:
        The Mage port. The server is stopped by process group afterwards, and its pid file must be gone.

    """
    port = free_port()
    env = {**os.environ, "LOCAL_STATE_DIR": str(live_stack.state), "MAGE_PORT": str(port)}
    started = subprocess.run([*STACK, "up", "--components", "mage"], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        live_stack.apply(monkeypatch, game_title=f"{title_prefix}-{uuid.uuid4().hex[:8]}")
        monkeypatch.setenv("MAGE_URL", f"http://127.0.0.1:{port}")
        yield port
    finally:
        subprocess.run([*STACK, "down", "--components", "mage"], env=env, capture_output=True, check=False)
        assert not (live_stack.state / "pids" / "mage.pid").exists(), "make down must stop Mage's process group"
