"""The online serving API: POST /predict, GET /health, GET /model-version (FastAPI on uvicorn, 127.0.0.1).

``create_app`` builds everything from its arguments (nothing happens at import time); ``main`` runs it with one
uvicorn worker on ``SERVING_PORT`` (default 8080). Scoring uses the provider's current model, which follows the
``production`` alias, so a promotion is served without a restart.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline

from machine_learning.errors import ConfigurationError
from machine_learning.export.keeper import OnnxExports
from machine_learning.export.serving import add_export_routes, describe_export
from machine_learning.health import DependencyMonitor
from machine_learning.inference.fast_model import TREE_WALK_MAX_ROWS
from machine_learning.serving.bulk import InvalidRequestError, decode_request, encode_predictions
from machine_learning.serving.provider import Provider, ServingModel, build_provider
from machine_learning.serving.schemas import (
    EXAMPLE_REQUEST,
    ChallengerVersion,
    DependencyHealth,
    ErrorResponse,
    Health,
    ModelVersion,
    PredictRequest,
    PredictResponse,
    Problem,
)
from machine_learning.settings import Settings, load_settings

if TYPE_CHECKING:
    from machine_learning.rollout.router import Rollout

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-API-Token"  # noqa: S105 - a header name, not a secret
MAX_PROBLEMS_LISTED = 100
_REQUEST_REF = {"$ref": "#/components/schemas/PredictRequest"}
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 415, 422, 503)}
_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _REQUEST_REF, "example": EXAMPLE_REQUEST}},
}


def create_app(
    settings: Settings,
    provider: Provider,
    dependencies: DependencyMonitor | None = None,
    rollout: Rollout | None = None,
) -> FastAPI:
    """Build the serving API.

    Args:
        settings: Token, body-size limit and model name.
        provider: Supplies the current model; started and stopped with the app.
        dependencies: Checks MLflow and S3 for ``/health``; by default those of ``settings``.
        rollout: The challenger beside production (canary or shadow), if serving runs one; started and stopped
            with the app.

    Returns:
        The FastAPI application.

    Raises:
        ConfigurationError: ``SERVING_TOKEN`` is empty (the API never serves unauthenticated).

    """
    from machine_learning.titles.serving import add_title_routes

    if not settings.serving_token:
        raise ConfigurationError(
            "SERVING_TOKEN is empty: refusing to serve without authentication. Set it (make up generates one "
            "in .local/stack/stack.env)."
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        provider.start()
        if rollout is not None:
            rollout.start()
        try:
            yield
        finally:
            provider.stop()
            if rollout is not None:
                rollout.stop()

    # Swagger UI's assets come from the installed fastapi-offline package, so /docs works without internet.
    app = FastAPIOffline(title="Player engagement", version="1", lifespan=lifespan, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    require_token = _token_check(settings.serving_token)
    exports = add_export_routes(app, settings, provider, require_token)  # GET /models/production (ONNX)
    _add_routes(app, provider, require_token, settings.serving_max_body_bytes, rollout, exports)
    _add_health(app, provider, dependencies or DependencyMonitor(settings))
    add_title_routes(app, settings, provider, require_token)  # /titles/{title}/... (machine_learning/titles/)
    if rollout is not None:
        from machine_learning.rollout.serving import add_rollout_routes

        add_rollout_routes(app, rollout, require_token)
    from machine_learning.predlog.serving import add_prediction_log

    add_prediction_log(app, settings, require_token, rollout=rollout)
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


def _add_routes(
    app: FastAPI, provider: Provider, require_token: Any, max_bytes: int, rollout: Rollout | None, exports: OnnxExports
) -> None:
    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        dependencies=[Depends(require_token)],
        openapi_extra={"requestBody": _REQUEST_BODY},
    )
    async def predict(http_request: Request) -> Response:
        """Predict the engagement of one or many players (1 to 10,000), one prediction per player, in order."""
        # The token was checked by the dependency, before any byte of the body is read.
        request = await decode_predict_request(http_request, max_bytes)
        model = _current(provider)
        plan = rollout.plan() if rollout is not None else None
        if rollout is not None and plan is not None:  # a challenger beside production: the rollout routes
            if len(request) > TREE_WALK_MAX_ROWS:
                body, shadow = await run_in_threadpool(rollout.answer, plan, model, request)
            else:
                body, shadow = rollout.answer(plan, model, request)
            return Response(body, media_type="application/json", background=shadow)
        return Response(await score_predict_request(model, request), media_type="application/json")

    @app.get("/model-version", response_model=ModelVersion, responses=_ERRORS, dependencies=[Depends(require_token)])
    async def model_version() -> ModelVersion:
        """Return the model version serving now; poll it to notice a promotion."""
        model = _current(provider)
        return ModelVersion(
            model_name=model.name,
            model_version=model.version,
            loaded_at=model.loaded_at.isoformat(),
            predictor=model.predictor.kind,
            challenger=_challenger(rollout),
            onnx_export=describe_export(model.version, exports.follow()),
        )


def _add_health(app: FastAPI, provider: Provider, dependencies: DependencyMonitor) -> None:
    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        """200 when a model serves ('degraded' when MLflow or S3 is unreachable), else 503 ('no model')."""
        status = provider.status()
        model = status.model
        reached = await run_in_threadpool(dependencies.check)
        degraded = not all(one.reachable for one in reached)
        body = Health(
            status=("degraded" if degraded else "ok") if model else "no model",
            model_name=model.name if model else status.model_name,
            model_version=model.version if model else None,
            loaded_at=model.loaded_at.isoformat() if model else None,
            last_check_at=status.last_check_at.isoformat() if status.last_check_at else None,
            last_reload_error=status.last_error,
            reloading=status.loading,
            dependencies={
                one.name: DependencyHealth(reachable=one.reachable, detail=one.detail, url=one.url) for one in reached
            },
        )
        return JSONResponse(body.model_dump(), status_code=200 if model else 503)


def _challenger(rollout: Rollout | None) -> ChallengerVersion | None:
    described = rollout.describe() if rollout is not None else None
    return ChallengerVersion(**described) if described else None


def _current(provider: Provider) -> ServingModel:
    model = provider.current()
    if model is None:
        raise HTTPException(503, "no model: nothing is in production yet, or it is still loading")
    return model


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


async def decode_predict_request(http_request: Request, max_bytes: int) -> Any:
    """Read and validate a ``/predict`` body in bulk (msgspec, into columns); a bad one is a 422 as always."""
    _require_json(http_request)
    body = await read_body(http_request, max_bytes)
    try:
        return decode_request(body)
    except InvalidRequestError as error:
        raise RequestValidationError(error.errors) from None


async def score_predict_request(model: ServingModel, request: Any) -> bytes:
    """Score a decoded request with one model and encode the answer (big batches off the event loop)."""
    predictor = model.predictor
    if len(request) > TREE_WALK_MAX_ROWS:  # big batches: keep the event loop free meanwhile
        probabilities = await run_in_threadpool(predictor.predict_proba, request.columns)
    else:
        probabilities = predictor.predict_proba(request.columns)
    return encode_predictions(model.name, model.version, predictor.classes, request.player_ids, probabilities)


def _require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (``application/json``, any parameters such as a charset)."""
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() != "application/json":
        shown = f"'{declared[:60]}'" if declared else "missing"
        raise HTTPException(415, f"Content-Type must be application/json (got {shown})")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Read the body within ``max_bytes``, refusing a larger one as early as possible.

    A declared Content-Length over the limit is refused without reading a byte; a streamed (chunked) body is
    counted as it arrives and refused as soon as it passes the limit.

    Args:
        request: The request, its token already checked.
        max_bytes: Largest accepted body.

    Returns:
        The body.

    Raises:
        HTTPException: 413 (too large) or 400 (a Content-Length that is not a number).

    """
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise HTTPException(400, "invalid Content-Length")
    too_large = HTTPException(413, f"request body larger than {max_bytes} bytes")
    if declared is not None and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def main() -> None:
    """Run the API with one uvicorn worker on ``SERVING_HOST``:``SERVING_PORT`` (default 127.0.0.1:8080).

    Containers set ``SERVING_HOST=0.0.0.0`` so the load balancer can reach them; locally it stays on loopback.
    """
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from machine_learning.rollout.router import build_rollout

        settings = load_settings()
        app = create_app(settings, build_provider(settings), rollout=build_rollout(settings))
    except ConfigurationError as error:
        sys.exit(f"error: {error}")
    host = os.environ.get("SERVING_HOST", "127.0.0.1")
    port = int(os.environ.get("SERVING_PORT", "8080"))
    # No access log: one line per request costs more than scoring does. Errors are still logged.
    uvicorn.run(app, host=host, port=port, workers=1, access_log=False, log_level="info")
