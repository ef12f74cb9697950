"""The online serving API: POST /predict, GET /health, GET /model-version (FastAPI on uvicorn, 127.0.0.1).

``create_app`` builds everything from its arguments (nothing happens at import time); ``main`` runs it with one
uvicorn worker on ``SERVING_PORT`` (default 8080). Scoring uses the provider's current model, which follows the
``production`` alias, so a promotion is served without a restart.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import ValidationError

from machine_learning.data.schema import FEATURE_COLUMNS, LABELS
from machine_learning.errors import ConfigurationError
from machine_learning.inference.fast_model import TREE_WALK_MAX_ROWS
from machine_learning.serving.provider import Provider, ServingModel, build_provider
from machine_learning.serving.schemas import (
    ErrorResponse,
    Health,
    ModelVersion,
    Player,
    PredictRequest,
    PredictResponse,
    Problem,
)
from machine_learning.settings import Settings, load_settings

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-API-Token"  # noqa: S105 - a header name, not a secret
MAX_PROBLEMS_LISTED = 100
_REQUEST_REF = {"$ref": "#/components/schemas/PredictRequest"}
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 422, 503)}


def create_app(settings: Settings, provider: Provider) -> FastAPI:
    """Build the serving API.

    Args:
        settings: Token, body-size limit and model name.
        provider: Supplies the current model; started and stopped with the app.

    Returns:
        The FastAPI application.

    Raises:
        ConfigurationError: ``SERVING_TOKEN`` is empty (the API never serves unauthenticated).

    """
    if not settings.serving_token:
        raise ConfigurationError(
            "SERVING_TOKEN is empty: refusing to serve without authentication. Set it (make up generates one "
            "in .local/stack/stack.env)."
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        provider.start()
        try:
            yield
        finally:
            provider.stop()

    app = FastAPI(title="Player engagement", version="1", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.serving_max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    _add_routes(app, provider, _token_check(settings.serving_token))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """Build the OpenAPI schema once, adding the request body models that /predict parses itself."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        request = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request.pop("$defs", {}))
        components["PredictRequest"] = request
        app.openapi_schema = schema
    return app.openapi_schema


def _token_check(expected: str) -> Any:
    header = APIKeyHeader(name=TOKEN_HEADER, auto_error=False, description="The serving token (SERVING_TOKEN)")

    def require_token(token: str | None = Security(header)) -> None:
        if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            raise HTTPException(401, f"missing or invalid {TOKEN_HEADER} header")

    return require_token


def _add_routes(app: FastAPI, provider: Provider, require_token: Any) -> None:
    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        dependencies=[Depends(require_token)],
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_REF}}}},
    )
    async def predict(http_request: Request) -> Response:
        """Predict the engagement of one or many players (1 to 10,000), one prediction per player, in order."""
        # Parsed here rather than by FastAPI: pydantic's JSON parser is twice as fast as json.loads + validation,
        # and the token is checked before the body is parsed at all.
        try:
            request = PredictRequest.model_validate_json(await http_request.body())
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_input=False)) from None
        model = _current(provider)
        columns = player_columns(request.players)
        if len(request.players) > TREE_WALK_MAX_ROWS:  # big batches: keep the event loop free meanwhile
            probabilities = await run_in_threadpool(model.predictor.predict_proba, columns)
        else:
            probabilities = model.predictor.predict_proba(columns)
        body = prediction_body(model, [player.PlayerID for player in request.players], probabilities)
        return Response(body, media_type="application/json")

    @app.get("/model-version", response_model=ModelVersion, responses=_ERRORS, dependencies=[Depends(require_token)])
    async def model_version() -> ModelVersion:
        """Return the model version serving now; poll it to notice a promotion."""
        model = _current(provider)
        return ModelVersion(
            model_name=model.name,
            model_version=model.version,
            loaded_at=model.loaded_at.isoformat(),
            predictor=model.predictor.kind,
        )

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        """200 when a model serves, else 503 ('no model'); also the last reload error, if any."""
        status = provider.status()
        model = status.model
        body = Health(
            status="ok" if model else "no model",
            model_name=model.name if model else status.model_name,
            model_version=model.version if model else None,
            loaded_at=model.loaded_at.isoformat() if model else None,
            last_check_at=status.last_check_at.isoformat() if status.last_check_at else None,
            last_reload_error=status.last_error,
            reloading=status.loading,
        )
        return JSONResponse(body.model_dump(), status_code=200 if model else 503)


def _current(provider: Provider) -> ServingModel:
    model = provider.current()
    if model is None:
        raise HTTPException(503, "no model: nothing is in production yet, or it is still loading")
    return model


def player_columns(players: Sequence[Player]) -> dict[str, list[Any]]:
    """Turn validated players into raw feature columns, the predictor's input.

    Args:
        players: Validated request rows.

    Returns:
        One list per feature column, in player order.

    """
    return {name: [getattr(player, name) for player in players] for name in FEATURE_COLUMNS}


def prediction_body(model: ServingModel, player_ids: Sequence[int], probabilities: np.ndarray) -> bytes:
    """Render the predictions as JSON, the same fields and values as batch ``predict_players``.

    Args:
        model: The model that scored.
        player_ids: One ID per row of ``probabilities``.
        probabilities: Shape (players, classes), columns in ``model.predictor.classes`` order.

    Returns:
        The response body (a ``PredictResponse``); floats keep full precision.

    """
    classes = model.predictor.classes
    labels = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)].tolist()
    by_label = [probabilities[:, classes.index(label)].tolist() for label in LABELS]
    version = json.dumps(model.version)
    # A format template is ~3x faster than json.dumps of dicts; repr of a float is its exact JSON number.
    template = (
        '{{"PlayerID":{},"predicted_engagement":"{}",'
        + ",".join(f'"probability_{label}":{{!r}}' for label in LABELS)
        + f',"model_version":{version}}}}}'
    )
    rows = ",".join(template.format(*row) for row in zip(player_ids, labels, *by_label, strict=True))
    return f'{{"model_name":{json.dumps(model.name)},"model_version":{version},"predictions":[{rows}]}}'.encode()


async def _invalid_input(_: Request, error: Exception) -> JSONResponse:
    """422 listing each problem: the field (``players.0.Age``) and the reason; never echoes the input."""
    items = error.errors() if isinstance(error, RequestValidationError) else []
    problems = [_problem(item) for item in items]
    body = ErrorResponse(
        detail=f"invalid input: {len(problems)} problem(s)",
        errors=problems[:MAX_PROBLEMS_LISTED],
        error_count=len(problems),
    )
    return JSONResponse(body.model_dump(), status_code=422)


def _problem(item: Any) -> Problem:
    location = [str(part) for part in item.get("loc", ())]
    if location and location[0] == "body":
        location = location[1:]
    reason = str(item.get("msg", "invalid"))
    if item.get("type") == "json_invalid":
        reason = f"malformed JSON: {item.get('ctx', {}).get('error', reason)}"
        location = []
    return Problem(field=".".join(location) or "body", reason=reason, type=str(item.get("type", "invalid")))


class BodySizeLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, checked before anything parses it.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise the body is read (also
    when chunked) and counted as it arrives, and refused as soon as it passes the limit.

    Args:
        app: The wrapped ASGI app.
        max_bytes: Largest accepted body.

    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Buffer the body within the limit, then hand it to the app as one message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, 413 if declared.isdigit() else 400)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send, 413)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Any, status: int) -> None:
        detail = f"request body larger than {self.max_bytes} bytes" if status == 413 else "invalid Content-Length"
        body = json.dumps(ErrorResponse(detail=detail).model_dump()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Any) -> Any:
    """Return a receive callable giving the buffered body once, then deferring to the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


def main() -> None:
    """Run the API with one uvicorn worker on ``SERVING_HOST``:``SERVING_PORT`` (default 127.0.0.1:8080).

    Containers set ``SERVING_HOST=0.0.0.0`` so the load balancer can reach them; locally it stays on loopback.
    """
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        app = create_app(settings, build_provider(settings))
    except ConfigurationError as error:
        sys.exit(f"error: {error}")
    host = os.environ.get("SERVING_HOST", "127.0.0.1")
    port = int(os.environ.get("SERVING_PORT", "8080"))
    # No access log: one line per request costs more than scoring does. Errors are still logged.
    uvicorn.run(app, host=host, port=port, workers=1, access_log=False, log_level="info")
