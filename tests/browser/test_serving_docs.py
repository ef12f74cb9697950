"""Serving's /docs in a real headless Chromium: it renders offline and its example body is a valid request.

Uses Debian's Chromium (``apt-get install -y chromium``) driven by Playwright for Python; Playwright's own browser
download is never used. Skipped, saying how to install it, when no Chromium is found.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from machine_learning.serving.app import create_app
from machine_learning.serving.provider import ProviderStatus, ServingModel, prepare_model
from machine_learning.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit" / "serving"))

pytestmark = pytest.mark.browser
TOKEN = "browser-test-serving-token"


@dataclass
class _Provider:
    model: ServingModel | None

    def current(self) -> ServingModel | None:
        return self.model

    def status(self) -> ProviderStatus:
        return ProviderStatus("browser-test", self.model, datetime.now(UTC), None)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    import uvicorn
    from serving_helpers import tiny_model

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(game_title="browser-test", serving_token=TOKEN), _Provider(prepare_model(tiny_model())))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_docs_render_offline_and_the_shown_example_is_a_valid_request(browser, server_url):
    page = browser.new_page()  # type: ignore[attr-defined]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server_url}/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/predict", "/model-version", "/health"} <= {path.strip() for path in paths}
    assert all(url.startswith(server_url) for url in requested), requested  # nothing from a CDN

    page.locator(".opblock-post .opblock-summary").first.click()
    page.get_by_role("button", name="Try it out").click()
    shown = page.locator("textarea.body-param__text").input_value()
    status = page.evaluate(
        """async ([body, token]) => (await fetch('/predict', {method: 'POST', body,
               headers: {'Content-Type': 'application/json', 'X-API-Token': token}})).status""",
        [shown, TOKEN],
    )
    assert json.loads(shown)["players"], shown
    assert status == 200
    page.close()
