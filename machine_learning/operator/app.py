"""The operator API (FastAPI): status, pipeline runs, promotion, rollback, decisions, live quality, cleanup.

Every operation needs a bearer token of a role that may perform it (``roles.py``): none or an unknown one gets
401, a role without the permission 403. Bad input gets a 4xx with one line saying what is wrong. The OpenAPI
document (``openapi.json`` beside this file, checked against the code by a test) is OpenAPI 3.0, so it serves as
an agent's action-group schema as it is. ``main`` runs it on ``OPERATOR_HOST``:``OPERATOR_PORT`` (127.0.0.1:8090).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from machine_learning.errors import ConfigurationError, MLOpsError
from machine_learning.operator import actions
from machine_learning.operator.actions import OperatorServices, default_services
from machine_learning.operator.openapi import to_openapi_30
from machine_learning.operator.roles import Permission, Role, check_access, role_tokens
from machine_learning.operator.schemas import (
    DAY_PATTERN,
    DEFAULT_ROLLBACK_REASON,
    PIPELINE_PATTERN,
    TITLE_PATTERN,
    ApprovalResponse,
    CleanupRequest,
    CleanupResponse,
    DecisionResponse,
    ErrorResponse,
    LiveQualityResponse,
    PipelineRunRequest,
    PipelineRunResponse,
    PromotionResponse,
    ReasonRequest,
    RollbackRequest,
    RollbackResponse,
    StatusResponse,
)
from machine_learning.settings import Settings, load_settings
from machine_learning.titles.operator import add_title_operations

logger = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_bearer = HTTPBearer(auto_error=False, description="A role's token: viewer, operator or approver.")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "No bearer token, or an unknown one.",
        403: "The token's role may not perform this operation.",
        404: "The title, pipeline, run, decision or model version does not exist.",
        422: "The request is invalid; detail says what to change.",
        502: "A service behind the API (Mage, MLflow, S3, AWS) answered with an error.",
    }.items()
}

TitleQuery = Annotated[
    str | None,
    Query(
        pattern=TITLE_PATTERN,
        description="The game title; omit it for the title this API manages. Another title gets 404.",
    ),
]


PipelineName = Annotated[
    str, PathParam(pattern=PIPELINE_PATTERN, description="A pipeline, e.g. training or batch_inference.")
]
RunId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The run id startPipelineRun returned.")]
DayQuery = Annotated[str | None, Query(pattern=DAY_PATTERN, description="A night, YYYY-MM-DD; default the latest.")]
VersionPath = Annotated[
    str, PathParam(pattern=r"^[0-9]{1,9}$", description="A registered model version number, e.g. 3.")
]
DaysQuery = Annotated[int, Query(ge=1, le=90, description="Days in the window ending on day.")]


def create_app(settings: Settings, services: OperatorServices | None = None) -> FastAPI:
    """Build the operator API.

    Args:
        settings: The title, the role tokens and everything the actions need.
        services: How actions reach Mage, S3/MLflow and AWS (default: from the settings).

    Returns:
        The FastAPI application.

    Raises:
        ConfigurationError: A role's token is missing, short or shared (the API never runs unauthenticated).

    """
    tokens = role_tokens(settings)
    deps = services or default_services(settings)
    app = FastAPI(
        title="Player-engagement MLOps operator API",
        version="1.0.0",
        description=(
            "Drive the ML lifecycle of one game title: read the model status, start a Mage pipeline and follow "
            "its run, promote the candidate or roll production back, read the latest monitoring decision and "
            "live quality, and clean up AWS resources. Send 'Authorization: Bearer <token>' of the role "
            "viewer (reads), operator (reads and acts) or approver (reads, approves and rejects)."
        ),
        docs_url=None,
        redoc_url=None,
    )

    def require(permission: Permission) -> Callable[..., Role]:
        def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Role:
            access = check_access(credentials.credentials if credentials else None, tokens, permission)
            if not access.allowed:
                headers = {"WWW-Authenticate": "Bearer"} if access.status == 401 else None
                raise HTTPException(access.status, access.reason, headers=headers)
            return access.role or Role.VIEWER  # an allowed access always carries its role

        return check

    def title_of(title: TitleQuery = None) -> str:
        if title is not None and title != settings.game_title:
            raise HTTPException(404, f"title {title!r} is not managed here; this API manages {settings.game_title!r}")
        return settings.game_title

    reader = [Depends(require(Permission.READ)), Depends(title_of)]
    actor = [Depends(require(Permission.OPERATE)), Depends(title_of)]
    approver = [Depends(require(Permission.APPROVE)), Depends(title_of)]
    _add_routes(app, settings, deps, reader, actor, approver)
    add_title_operations(app, settings, deps, require(Permission.READ), require(Permission.OPERATE))
    from machine_learning.predlog.operator import add_online_quality_operation

    add_online_quality_operation(app, settings, deps, reader)  # GET /prediction-log/quality
    _add_relay(app, settings, deps)
    app.add_exception_handler(MLOpsError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def _add_routes(
    app: FastAPI, settings: Settings, deps: OperatorServices, reader: list[Any], actor: list[Any], approver: list[Any]
) -> None:
    @app.get("/status", operation_id="getStatus", response_model=StatusResponse, dependencies=reader, responses=_ERRORS)
    def get_status() -> dict[str, Any]:
        """Show which model versions are in production, waiting as candidate, and kept as previous.

        Each comes with its test scores and the last selection decision. Call this first to learn the state of the
        title; previous is what rollbackProduction would put back.
        """
        return actions.read_status(settings)

    @app.post(
        "/pipelines/{pipeline}/runs",
        operation_id="startPipelineRun",
        status_code=202,
        response_model=PipelineRunResponse,
        dependencies=actor,
        responses=_ERRORS,
    )
    def start_pipeline_run(body: PipelineRunRequest, pipeline: PipelineName) -> dict[str, Any]:
        """Start a Mage pipeline run and return its run id at once, without waiting.

        Pipelines: data_preparation, training, model_selection, batch_inference, performance_monitoring,
        performance_reports, retraining, online_inference. Follow the run with getPipelineRun until finished is true.
        """
        return actions.start_run(settings, deps, pipeline, body.variables)

    @app.get(
        "/pipelines/{pipeline}/runs/{run_id}",
        operation_id="getPipelineRun",
        response_model=PipelineRunResponse,
        dependencies=reader,
        responses=_ERRORS,
    )
    def get_pipeline_run(pipeline: PipelineName, run_id: RunId) -> dict[str, Any]:
        """Show the current status of a pipeline run: initial, running, completed, failed or cancelled.

        A failed run also names its failed blocks and its first error. Poll every few seconds until finished is true.
        """
        return actions.read_run(deps, pipeline, run_id)

    @app.post(
        "/promotions", operation_id="promoteCandidate", response_model=PromotionResponse, dependencies=actor,
        responses=_ERRORS,
    )  # fmt: skip
    def promote_candidate() -> dict[str, Any]:
        """Compare the candidate with production on the same recent players; promote it only if it wins.

        The candidate must win by the promotion margin. Returns the decision and the reason with its numbers;
        promoted false changes nothing.
        """
        return actions.promote(settings, deps)

    @app.post(
        "/rollbacks", operation_id="rollbackProduction", response_model=RollbackResponse, dependencies=actor,
        responses=_ERRORS,
    )  # fmt: skip
    def rollback_production(body: RollbackRequest | None = None) -> dict[str, Any]:
        """Put the previous model version back into production at once.

        Use it when the production model is clearly worse than the one before; 404 when there is no previous version.
        """
        return actions.rollback(settings, deps, body.reason if body else DEFAULT_ROLLBACK_REASON)

    @app.post(
        "/versions/{version}/approval", operation_id="approveVersion", response_model=ApprovalResponse,
        dependencies=approver, responses=_ERRORS,
    )  # fmt: skip
    def approve_version(version: VersionPath, body: ReasonRequest) -> dict[str, Any]:
        """Approve a model version that waits for approval (or runs as the canary), and promote it.

        Under PROMOTION_POLICY=manual a winning candidate waits as pending-approval until approved; getStatus and
        the audit log show it. A rejected version cannot be approved (422). Needs the approver role.
        """
        return actions.decide_approval(settings, deps, version, True, body.reason)

    @app.post(
        "/versions/{version}/rejection", operation_id="rejectVersion", response_model=ApprovalResponse,
        dependencies=approver, responses=_ERRORS,
    )  # fmt: skip
    def reject_version(version: VersionPath, body: ReasonRequest) -> dict[str, Any]:
        """Reject a model version: it is never promoted, and leaves pending-approval and the canary.

        The version in production cannot be rejected (422): roll it back instead. Needs the approver role.
        """
        return actions.decide_approval(settings, deps, version, False, body.reason)

    @app.get(
        "/decisions/latest", operation_id="getLatestDecision", response_model=DecisionResponse, dependencies=reader,
        responses=_ERRORS,
    )  # fmt: skip
    def get_latest_decision(day: DayQuery = None) -> dict[str, Any]:
        """Show the latest nightly monitoring decision, or that of a given night.

        It says whether live quality dropped and retraining was started (with its run id), and whether the drift
        tests warned, with the reason.
        """
        return actions.read_decision(settings, deps, _checked_day(day))

    @app.get(
        "/live-quality", operation_id="getLiveQuality", response_model=LiveQualityResponse, dependencies=reader,
        responses=_ERRORS,
    )  # fmt: skip
    def get_live_quality(day: DayQuery = None, days: DaysQuery = 7) -> dict[str, Any]:
        """Show the accuracy of what production served (and of a shadow candidate) per labelled day.

        The window is the given number of days ending on day. Labels arrive weekly, so recent days may have no rows.
        """
        return actions.read_live_quality(settings, deps, _checked_day(day), days)

    @app.post(
        "/cleanup", operation_id="cleanupResources", response_model=CleanupResponse, dependencies=actor,
        responses=_ERRORS,
    )  # fmt: skip
    def cleanup_resources(body: CleanupRequest) -> dict[str, Any]:
        """List the AWS resources tagged with this title and an environment, and delete them if confirmed.

        A dry run (the default) deletes nothing; to delete, set dry_run false and repeat the environment in
        confirm_environment. A JSON backup of the list is written before anything is deleted.
        """
        return actions.cleanup(settings, deps, body.model_dump())

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "title": settings.game_title}


def _add_relay(app: FastAPI, settings: Settings, deps: OperatorServices) -> None:
    """Mage's own failure notification (its Slack config) posts here; the alert goes on with retries, once."""

    @app.post("/alerts/mage/{token}", include_in_schema=False, status_code=202)
    async def relay_mage_failure(token: str, request: Request) -> dict[str, str]:
        known = settings.alert_relay_token
        if not known or not hmac.compare_digest(token, known):
            raise HTTPException(404, "Not Found")
        try:
            payload = json.loads(await request.body())
        except ValueError:
            raise HTTPException(422, "body is not JSON") from None
        return {"alert": actions.relay_failure(settings, deps, payload)}


def _checked_day(day: str | None) -> str | None:
    from machine_learning.run_variables import check_day

    return None if day is None else check_day(day, "day")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI 3.0 document (FastAPI writes 3.1; agents' action groups read 3.0)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        app.openapi_schema = to_openapi_30(schema)
    return app.openapi_schema


async def _service_error(_: Request, error: MLOpsError) -> JSONResponse:
    status = 503 if isinstance(error, ConfigurationError) else error.http_status
    status = 502 if status == 500 else status
    return JSONResponse({"detail": str(error).splitlines()[0][:500], "errors": []}, status_code=status)


async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = [
        {"field": ".".join(str(part) for part in item.get("loc", ())), "reason": str(item.get("msg", "invalid"))}
        for item in error.errors()[:50]
    ]
    detail = "invalid request: " + "; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5])
    return JSONResponse({"detail": detail, "errors": problems}, status_code=422)


def main() -> None:
    """Run the API with one uvicorn worker on ``OPERATOR_HOST``:``OPERATOR_PORT`` (default 127.0.0.1:8090)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(load_settings())
    except ConfigurationError as error:
        sys.exit(f"error: {error}")
    host = os.environ.get("OPERATOR_HOST", "127.0.0.1")
    port = int(os.environ.get("OPERATOR_PORT", "8090"))
    uvicorn.run(app, host=host, port=port, workers=1, access_log=False, log_level="info")
