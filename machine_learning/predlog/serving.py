"""The prediction log inside the serving API: a capture in front of ``/predict`` and ``GET /prediction-log/stats``.

:class:`CaptureMiddleware` is a plain ASGI middleware (no per-request task or copy beyond keeping the body
chunks): for a ``POST .../predict`` answered with 200 it hands the raw request and answer to the log, with the
call's id, time and latency. Any other answer (401, 413, 415, 422, 503) is never logged. The answer carries
the call's id as ``X-Request-ID`` (the client's own, when it sent one), so a player's complaint can be found in
the log.

In shadow mode the challenger scores its players after the answer went out (:mod:`machine_learning.rollout.router`);
:class:`ShadowCapture` logs those answers too, as variant ``shadow`` with the call's id, so the shadow's live
quality can be measured from the log. The call being answered reaches it through a context variable set by the
middleware (the shadow runs in the same request's context, in a worker thread).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import Depends, FastAPI

from machine_learning.predlog.records import Exchange, count_predictions, title_of_path
from machine_learning.predlog.writer import PredictionLog
from machine_learning.settings import Settings

if TYPE_CHECKING:
    from machine_learning.rollout.router import Rollout
    from machine_learning.serving.bulk import DecodedRequest
    from machine_learning.serving.provider import ServingModel

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,100}$")


@dataclass(frozen=True)
class Call:
    """The ``/predict`` call being answered: what a shadow answer needs to be logged beside production's."""

    title: str
    request_id: str
    received_at: float
    request: list[bytes]  # the body's chunks, complete once the route has read it


_CALL: ContextVar[Call | None] = ContextVar("prediction_log_call", default=None)


class CaptureMiddleware:
    """Hands every answered ``/predict`` call (status 200) to the prediction log.

    Args:
        app: The ASGI application behind it.
        log: The prediction log.
        title: The serving title (calls to ``/titles/<title>/predict`` go to that title's log).

    """

    def __init__(self, app: Any, log: PredictionLog, title: str) -> None:
        self.app, self.log, self.title = app, log, title

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the call through; keep the bodies of a ``POST .../predict`` and queue it once answered."""
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/predict"):
            await self.app(scope, receive, send)
            return
        started, received_at = time.perf_counter(), time.time()
        asked = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = asked.decode() if _REQUEST_ID.match(asked) else uuid.uuid4().hex
        request: list[bytes] = []
        answer: list[bytes] = []
        status = 0
        _CALL.set(Call(title_of_path(scope["path"], self.title), request_id, received_at, request))

        async def receiving() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            elif message["type"] == "http.response.body" and status == 200:
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    latency_ms = (time.perf_counter() - started) * 1000.0
                    await send(message)
                    self._queue(scope["path"], request_id, received_at, latency_ms, request, answer)
                    return
            await send(message)

        await self.app(scope, receiving, sending)

    def _queue(
        self, path: str, request_id: str, received_at: float, latency_ms: float, request: list[bytes],
        answer: list[bytes],
    ) -> None:  # fmt: skip
        body = b"".join(answer)
        rows = count_predictions(body)
        if rows:
            title = title_of_path(path, self.title)
            self.log.offer(Exchange(title, request_id, received_at, latency_ms, b"".join(request), body, rows))


class ShadowCapture:
    """Logs the challenger's shadow answers as variant ``shadow`` (the rollout's ``shadow_listener``).

    Args:
        log: The prediction log.

    """

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def __call__(
        self, challenger: ServingModel, request: DecodedRequest, rows: list[int], probabilities: np.ndarray,
        seconds: float,
    ) -> None:  # fmt: skip
        """Queue the shadow's answer for its players of the call being answered (outside a call: nothing)."""
        from machine_learning.rollout.router import SHADOW_VARIANT
        from machine_learning.serving.bulk import encode_predictions

        call = _CALL.get()
        if call is None or not rows:
            return
        player_ids = np.asarray(request.player_ids)[rows]
        body = encode_predictions(
            challenger.name, challenger.version, challenger.predictor.classes, player_ids, probabilities,
            variants=[SHADOW_VARIANT] * len(rows), versions=[challenger.version] * len(rows),
        )  # fmt: skip
        exchange = Exchange(call.title, call.request_id, call.received_at, seconds * 1000.0, b"".join(call.request),
                            body, len(rows), tuple(rows))  # fmt: skip
        self.log.offer(exchange)


def build_prediction_log(settings: Settings, sink: Any | None = None) -> PredictionLog:
    """Build the log that writes to the title's bucket (no connection is made here).

    Args:
        settings: Bucket, endpoint and the ``PREDICTION_LOG_*`` bounds.
        sink: Writes one file (key, bytes); default: a PUT to the bucket.

    Returns:
        The log, not started.

    """
    if sink is None:
        from machine_learning.storage import make_store

        store = make_store(settings)

        def sink(key: str, data: bytes) -> None:
            store.write_bytes(key, data)

    bounds = settings.prediction_log_max_rows, settings.prediction_log_batch_rows, settings.prediction_log_flush_seconds
    return PredictionLog(sink, *bounds)


def add_prediction_log(
    app: FastAPI, settings: Settings, require_token: Any, log: PredictionLog | None = None,
    rollout: Rollout | None = None,
) -> PredictionLog | None:  # fmt: skip
    """Log every answered ``/predict`` call when ``PREDICTION_LOG`` is on; add ``GET /prediction-log/stats``.

    The log is started and stopped (with a last flush) with the app.

    Args:
        app: The serving API.
        settings: ``PREDICTION_LOG`` and its bounds; the title.
        require_token: The API's token dependency.
        log: The log to use (default: :func:`build_prediction_log`).
        rollout: The challenger beside production, if any: its shadow answers are logged too.

    Returns:
        The log, or ``None`` when it is off.

    """
    enabled = settings.prediction_log == "on"
    active = (log or build_prediction_log(settings)) if enabled else None

    @app.get("/prediction-log/stats", dependencies=[Depends(require_token)])
    async def prediction_log_stats() -> dict[str, Any]:
        """Predictions written to the log, waiting, and lost (dropped with the queue full, or in failed writes)."""
        if active is None:
            return {"enabled": False}
        return active.stats().to_dict()

    if active is None:
        return None
    app.add_middleware(CaptureMiddleware, log=active, title=settings.game_title)
    if rollout is not None:
        rollout.shadow_listener = ShadowCapture(active)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        active.start()
        try:
            async with inner(running) as state:
                yield state
        finally:
            active.stop()

    app.router.lifespan_context = lifespan
    return active
