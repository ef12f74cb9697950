"""``GET /models/production``: the verified ONNX model of the serving version, for game clients.

The answer carries the version as a strong ``ETag``; a client sending it back in ``If-None-Match`` gets
``304 Not Modified`` without the body. The same token as ``/predict`` is required. 503 while nothing serves
or the export is still being built (with ``Retry-After``); 404 when the serving version's export was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from machine_learning.export.keeper import READY, REFUSED, ExportState, OnnxExports
from machine_learning.export.onnx_model import MEDIA_TYPE, OnnxExport, export_model
from machine_learning.export.schemas import DOWNLOAD_PATH, OnnxExportInfo
from machine_learning.serving.provider import Provider
from machine_learning.settings import Settings

RETRY_SECONDS = 2


@dataclass(frozen=True)
class Download:
    """What to answer a download: a status, a message for errors, and the export to send (200 / 304)."""

    status: int
    detail: str
    export: OnnxExport | None = None


def decide_download(serving_version: str | None, state: ExportState | None, if_none_match: str | None) -> Download:
    """Decide the answer of ``GET /models/production``.

    Args:
        serving_version: The production version serving now (``None``: none yet).
        state: The export held (it may be of an older version).
        if_none_match: The request's ``If-None-Match`` header.

    Returns:
        200 with the export, 304 when the client has it, 404 when it was refused, 503 when not ready yet.

    """
    if serving_version is None:
        return Download(503, "no model: nothing is in production yet, or it is still loading")
    if state is None or state.version != serving_version or state.status not in (READY, REFUSED):
        return Download(503, f"the ONNX export of version {serving_version} is being built and verified: retry shortly")
    if state.status == REFUSED or state.export is None:
        return Download(404, f"no verified ONNX export of version {serving_version}: {state.reason}")
    if _matches(if_none_match, state.export.etag):
        return Download(304, "not modified", state.export)
    return Download(200, "ok", state.export)


def describe_export(serving_version: str | None, state: ExportState | None) -> OnnxExportInfo | None:
    """Describe the serving version's export for ``/model-version`` (``None`` when nothing serves)."""
    if serving_version is None:
        return None
    if state is None or state.version != serving_version:
        return OnnxExportInfo(available=False, status="building")
    export = state.export
    return OnnxExportInfo(
        available=state.status == READY,
        status=state.status,  # type: ignore[arg-type]
        etag=export.etag if export else None,
        size_bytes=len(export.content) if export else None,
        max_abs_diff=export.verification.max_abs_diff if export else None,
        reason=state.reason,
    )


def build_exports(settings: Settings, provider: Provider) -> OnnxExports:
    """Follow the provider's production model and export each version it serves, from the model cache."""
    from machine_learning.inference.model import load_model

    def build(version: str) -> OnnxExport:
        loaded = load_model(settings, version)  # cached by the provider's load: no MLflow call
        return export_model(loaded.pipeline, loaded.name, version, loaded.cache_dir)

    return OnnxExports(lambda: _serving_version(provider), build)


def add_export_routes(
    app: FastAPI, settings: Settings, provider: Provider, require_token: Any, exports: OnnxExports | None = None
) -> OnnxExports:
    """Add ``GET /models/production``, served by an exporter following the provider's production model.

    Args:
        app: The serving app.
        settings: Model name and cache folder.
        provider: The production model provider.
        require_token: The token dependency of ``/predict``.
        exports: The exporter (default: :func:`build_exports`).

    Returns:
        The exporter, for ``/model-version``.

    """
    keeper = exports or build_exports(settings, provider)

    @app.get(
        DOWNLOAD_PATH,
        dependencies=[Depends(require_token)],
        response_class=Response,
        responses={
            200: {"content": {MEDIA_TYPE: {}}, "description": "the ONNX model; ETag: the version"},
            304: {"description": "the client's If-None-Match names the serving version"},
            **{
                code: {"description": text}
                for code, text in (
                    (401, "no or a wrong token"),
                    (404, "export refused"),
                    (503, "no model yet, or the export is being built"),
                )
            },
        },
    )
    async def production_model(request: Request) -> Response:
        """Download the production model as ONNX (one [N,1] input per raw column; outputs label, probabilities)."""
        answer = decide_download(_serving_version(provider), keeper.follow(), request.headers.get("if-none-match"))
        if answer.export is None:
            headers = {"Retry-After": str(RETRY_SECONDS)} if answer.status == 503 else None
            return JSONResponse({"detail": answer.detail}, status_code=answer.status, headers=headers)
        export = answer.export
        headers = {"ETag": export.etag, "Cache-Control": "no-cache", "X-Model-Version": export.version}
        if answer.status == 304:
            return Response(status_code=304, headers=headers)
        headers["Content-Disposition"] = f'attachment; filename="{export.model_name}-v{export.version}.onnx"'
        return Response(export.content, media_type=MEDIA_TYPE, headers=headers)

    return keeper


def _serving_version(provider: Provider) -> str | None:
    model = provider.current()
    return model.version if model is not None else None


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison: any listed tag (``W/`` ignored) equal to ours, or ``*``."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)
