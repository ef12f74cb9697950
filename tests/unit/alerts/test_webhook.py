"""Alerts reach a local webhook once, with retries, off the caller's path, and never fail the caller."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from machine_learning.alerts import webhook
from machine_learning.alerts.events import Alert
from machine_learning.alerts.webhook import DISABLED, DUPLICATE, FAILED, SENT, marker_key, send_alert, submit_alert
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from tests.conftest import free_port

ALERT = Alert("promotion", "promotion/unit-test/v3", "[unit-test] v3 promoted to production")


class Receiver:
    """A tiny webhook on a free loopback port: records every body, fails the first ``failures`` with 503."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.bodies: list[dict[str, str]] = []
        self.failures, self.delay = failures, delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(receiver.delay)
                receiver.bodies.append(body)
                failing = len(receiver.bodies) <= receiver.failures
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    original = webhook.post_with_retries
    monkeypatch.setattr(webhook, "post_with_retries", lambda url, body, tries, _: original(url, body, tries, 0.01))


def _with_hook(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, alert_webhook_url=url, alert_attempts=4)


def test_an_alert_is_retried_until_delivered_and_never_sent_twice(
    receiver: Receiver, store: ObjectStore, settings: Settings
) -> None:
    settings = _with_hook(settings, receiver.url)
    assert send_alert(store, settings, ALERT).status == SENT
    assert receiver.bodies == [{"text": ALERT.text}] * 3  # two 503s, then delivered
    assert send_alert(store, settings, ALERT).status == DUPLICATE
    assert send_alert(store, settings, dataclasses.replace(ALERT, text="reworded")).status == DUPLICATE
    assert len(receiver.bodies) == 3
    assert store.read_json(marker_key(settings, ALERT))["status"] == SENT


def test_a_webhook_that_is_down_fails_quietly_and_the_alert_stays_sendable(
    store: ObjectStore, settings: Settings
) -> None:
    port = free_port()  # nothing listens here
    down = _with_hook(settings, f"http://127.0.0.1:{port}/hook")
    delivery = send_alert(store, down, ALERT)  # no exception
    assert delivery.status == FAILED and "Connection" in delivery.detail
    assert store.read_json(marker_key(down, ALERT))["status"] == FAILED
    later = Receiver()
    try:
        assert send_alert(store, _with_hook(settings, later.url), ALERT).status == SENT
        assert later.bodies == [{"text": ALERT.text}]
    finally:
        later.close()


def test_submitting_returns_at_once_while_the_webhook_is_slow(store: ObjectStore, settings: Settings) -> None:
    slow = Receiver(delay=1.0)
    try:
        started = time.monotonic()
        thread = submit_alert(store, _with_hook(settings, slow.url), ALERT)
        assert time.monotonic() - started < 0.5
        assert thread is not None
        thread.join(10)
        assert slow.bodies == [{"text": ALERT.text}]
    finally:
        slow.close()


def test_concurrent_submissions_of_one_alert_send_it_once(
    receiver: Receiver, store: ObjectStore, settings: Settings
) -> None:
    receiver.failures = 0
    settings = _with_hook(settings, receiver.url)
    threads = [submit_alert(store, settings, ALERT) for _ in range(5)]
    for thread in threads:
        assert thread is not None
        thread.join(10)
    assert receiver.bodies == [{"text": ALERT.text}]


def test_without_a_webhook_nothing_is_sent_or_written(store: ObjectStore, settings: Settings, fake_s3) -> None:
    assert send_alert(store, settings, ALERT).status == DISABLED
    assert submit_alert(store, settings, ALERT) is None
    assert not store.list_keys(f"{settings.s3_prefix}/alerts/")


def test_the_hooks_never_raise(settings: Settings, receiver: Receiver) -> None:
    broken = ObjectStore(client=None, bucket="unit-bucket")  # every S3 call fails
    settings = _with_hook(settings, receiver.url)
    webhook.notify_decision(broken, settings, {"day": "2026-11-26", "retraining_needed": True})
    webhook.notify_transition(broken, settings, "promoted", "3", "beats the margin")
    webhook.notify_transition(broken, settings, "canary-withdrawn", "3", "p99 above the limit")
