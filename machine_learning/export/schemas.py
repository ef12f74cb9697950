"""What ``/model-version`` says about the ONNX export (imported by the serving schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DOWNLOAD_PATH = "/models/production"


class OnnxExportInfo(BaseModel):
    """Whether ``GET /models/production`` has a verified ONNX model of the serving version, and its ETag."""

    model_config = ConfigDict(protected_namespaces=())

    available: bool
    url: str = Field(
        default=DOWNLOAD_PATH, description="where to download it (same token as /predict; send the ETag back)"
    )
    status: Literal["building", "ready", "refused"]
    etag: str | None = Field(default=None, description='the ETag of GET /models/production: the version, quoted ("7")')
    size_bytes: int | None = None
    max_abs_diff: float | None = Field(default=None, description="largest |ONNX - predict_proba| on the probe rows")
    reason: str | None = Field(default=None, description="why the export is refused, if it is")
