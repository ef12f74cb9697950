"""Send alerts to the webhook off the hot path, with retries and backoff, and never the same alert twice.

``submit_alert`` returns at once: a worker thread posts ``{"text": ...}`` to ``ALERT_WEBHOOK_URL``, retrying
connection errors and 429/5xx answers with exponential backoff (urllib3's ``Retry``, which also honours
``Retry-After``), ``ALERT_ATTEMPTS`` times in all. Each alert's key is claimed in S3 before it is posted
(``<title>/alerts/sent/<hash>.json``, ``status`` sending, then sent or failed): a key that is sending or sent is
never posted again, by this process or another; a failed one may be tried again by a later event. Nothing here
raises: a webhook that is down costs a log line, never a pipeline run. The hooks (``notify_*``) are the one-line
calls the lifecycle makes at its decision points.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from machine_learning.alerts.events import Alert, alert_for_transition, alerts_for_decision
from machine_learning.errors import NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

logger = logging.getLogger(__name__)

SENT, SENDING, FAILED, DUPLICATE, DISABLED = "sent", "sending", "failed", "duplicate", "disabled"
RETRY_STATUSES = (429, 500, 502, 503, 504)
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    """What became of one alert: ``sent``, ``duplicate`` (sent before), ``failed`` or ``disabled`` (no webhook)."""

    key: str
    status: str
    detail: str = ""


def marker_key(settings: Settings, alert: Alert) -> str:
    """Key of the S3 object that records an alert's delivery (the alert key, hashed to a safe name)."""
    digest = hashlib.sha256(alert.key.encode()).hexdigest()[:40]
    return f"{settings.s3_prefix}/alerts/sent/{digest}.json"


def post_with_retries(url: str, payload: dict[str, str], attempts: int, backoff: float, timeout: float = 5.0) -> None:
    """POST one JSON body, retrying connection errors and 429/5xx with exponential backoff.

    Args:
        url: The webhook.
        payload: The body.
        attempts: Tries in all (at least 1).
        backoff: urllib3's ``backoff_factor``: waits of ``backoff * 2 ** (n - 1)`` seconds between tries.
        timeout: Seconds for each try.

    Raises:
        requests.RequestException: Every try failed (the last error).

    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=attempts - 1,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        response = session.post(url, json=payload, timeout=timeout)
        response.raise_for_status()


def send_alert(
    store: ObjectStore,
    settings: Settings,
    alert: Alert,
    post: Callable[[str, dict[str, str], int, float], None] | None = None,
    backoff: float = 0.5,
) -> Delivery:
    """Deliver one alert now (in the calling thread), unless its key was sent or is being sent.

    Args:
        store: Where the delivery markers live.
        settings: The webhook, the number of attempts and the title prefix.
        alert: What to send.
        post: Posts a body (``post_with_retries`` by default; tests pass a fake).
        backoff: Backoff factor between attempts, in seconds.

    Returns:
        The delivery; never raises.

    """
    if not settings.alert_webhook_url:
        return Delivery(alert.key, DISABLED)
    with _in_flight_lock:
        if alert.key in _in_flight:
            return Delivery(alert.key, DUPLICATE, "being sent by this process")
        _in_flight.add(alert.key)
    try:
        return _deliver(store, settings, alert, post or post_with_retries, backoff)
    except Exception as error:  # noqa: BLE001 - an alert never fails its caller
        logger.warning("alert %s not sent: %s: %s", alert.key, type(error).__name__, error)
        return Delivery(alert.key, FAILED, f"{type(error).__name__}: {error}")
    finally:
        with _in_flight_lock:
            _in_flight.discard(alert.key)


def _deliver(
    store: ObjectStore,
    settings: Settings,
    alert: Alert,
    post: Callable[[str, dict[str, str], int, float], None],
    backoff: float,
) -> Delivery:
    key = marker_key(settings, alert)
    try:
        status = store.read_json(key).get("status")
    except NotFoundError:
        status = None
    if status in (SENT, SENDING):
        return Delivery(alert.key, DUPLICATE, f"already {status}")
    record = {"key": alert.key, "kind": alert.kind, "text": alert.text}
    store.write_json(key, {**record, "status": SENDING, "at": _now()})
    try:
        post(settings.alert_webhook_url, alert.payload(), settings.alert_attempts, backoff)
    except Exception as error:  # noqa: BLE001 - recorded, logged, and the key stays retryable
        detail = f"{type(error).__name__}: {str(error)[:300]}"
        store.write_json(key, {**record, "status": FAILED, "at": _now(), "error": detail})
        logger.warning("alert %s not delivered after %d attempt(s): %s", alert.key, settings.alert_attempts, detail)
        return Delivery(alert.key, FAILED, detail)
    store.write_json(key, {**record, "status": SENT, "at": _now()})
    return Delivery(alert.key, SENT)


def submit_alert(store: ObjectStore, settings: Settings, alert: Alert) -> threading.Thread | None:
    """Send an alert from a worker thread and return at once (``None`` when no webhook is set).

    The thread is not a daemon, so a short-lived process (``mage run``) still finishes its retries before exiting.
    """
    if not settings.alert_webhook_url:
        return None
    thread = threading.Thread(target=send_alert, args=(store, settings, alert), name=f"alert-{alert.kind}")
    thread.start()
    return thread


def notify_decision(store: ObjectStore, settings: Settings, record: dict[str, Any]) -> None:
    """Alert a live-quality drop (once per episode) and a started retraining: the nightly monitoring's hook."""
    _guarded(lambda: _submit_decision(store, settings, record))


def notify_transition(store: ObjectStore, settings: Settings, event: str, version: str, reason: str) -> None:
    """Alert a promotion or an automatic retreat, once per version: the rollout audit log's hook."""
    _guarded(lambda: _submit_all(store, settings, [alert_for_transition(settings.game_title, event, version, reason)]))


def _submit_decision(store: ObjectStore, settings: Settings, record: dict[str, Any]) -> None:
    if not settings.alert_webhook_url:
        return
    from machine_learning.monitoring.decision import load_state

    episode = load_state(store, settings).episode_started
    _submit_all(store, settings, alerts_for_decision(settings.game_title, record, episode))


def _submit_all(store: ObjectStore, settings: Settings, alerts: Sequence[Alert | None]) -> None:
    for alert in alerts:
        if alert is not None:
            submit_alert(store, settings, alert)


def _guarded(action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - alerts never fail the step that raised them
        logger.warning("alert not submitted: %s: %s", type(error).__name__, error)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
