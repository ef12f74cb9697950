"""Export command: the production model (or a version) as a verified ONNX file for game clients."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from machine_learning.cli.common import _step
from machine_learning.errors import InvalidInputError
from machine_learning.settings import Settings


def _export_onnx(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.cli.inference import _production_version
    from machine_learning.export.onnx_model import export_model
    from machine_learning.inference.model import check_model_version, load_model

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InvalidInputError(f"{out} exists: pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise InvalidInputError(f"folder {out.parent} does not exist")
    version = check_model_version(args.version) if args.version is not None else None
    model = _step("load model", lambda: load_model(settings, version or _production_version(settings)))
    export = _step(
        f"export v{model.version} to ONNX and verify it",
        lambda: export_model(model.pipeline, model.name, model.version, model.cache_dir),
    )
    staged = out.with_name(f".{out.name}.partial")
    staged.write_bytes(export.content)
    staged.replace(out)  # written only once verified, and never half
    print(f"{model.name} v{model.version} -> {out} ({len(export.content)} bytes, ETag {export.etag})")
    print(f"verified: {export.verification.reason}")


def add_commands(commands: Any) -> None:
    """Register the export command on the ``mlops`` sub-command parser."""
    export = commands.add_parser("export-onnx", help="write the production model as a verified ONNX file")
    export.add_argument("--version", help="export this registered version instead of 'production'")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.set_defaults(command=_export_onnx)
