"""The operator API served by uvicorn on a free loopback port in this process, for live tests and MCP clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from machine_learning.operator.actions import OperatorServices
from machine_learning.operator.app import create_app
from machine_learning.settings import Settings
from tests.conftest import free_port


@contextmanager
def serve_operator(settings: Settings, services: OperatorServices) -> Iterator[str]:
    """Run the operator API until the block ends; yield its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the operator API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
