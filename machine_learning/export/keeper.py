"""Keeps the verified ONNX export of the version serving now, built off the request path when first asked for.

Asking for the export (:meth:`OnnxExports.follow`, from ``GET /models/production`` or ``/model-version``) when the
serving version has none yet starts building it on a thread of its own (from the model cache: no MLflow call), so
neither a request nor a hot reload waits for the conversion. Until the export is verified the download answers
503; a refused export stays refused for that version, with its reason, and is never offered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from machine_learning.export.onnx_model import OnnxExport

logger = logging.getLogger(__name__)

BUILDING, READY, REFUSED = "building", "ready", "refused"


@dataclass(frozen=True)
class ExportState:
    """The export of one version: ``building``, ``ready`` (with the export) or ``refused`` (with the reason)."""

    version: str
    status: str
    export: OnnxExport | None = None
    reason: str | None = None


class OnnxExports:
    """Builds and holds the ONNX export of the serving version.

    Args:
        serving_version: The version serving now, or ``None`` (e.g. the provider's current model's version).
        build: Builds the verified export of a version (raises when it is refused).

    """

    def __init__(self, serving_version: Callable[[], str | None], build: Callable[[str], OnnxExport]) -> None:
        self._serving_version, self._build = serving_version, build
        self._state: ExportState | None = None
        self._lock = threading.Lock()

    def state(self) -> ExportState | None:
        """Return the export of the last version seen serving (``None`` before any)."""
        return self._state

    def follow(self) -> ExportState | None:
        """Return the serving version's export now; if it has none yet, build it on a background thread.

        Returns:
            The state, ``building`` while the serving version's export is being built (``None``: nothing serves).

        """
        version, state = self._serving_version(), self._state
        if version is None or (state is not None and state.version == version):
            return state
        if not self._lock.locked():  # one build at a time; a second caller finds the version built when it runs
            threading.Thread(target=self.refresh, name=f"onnx-export-{version}", daemon=True).start()
        return ExportState(version, BUILDING)

    def refresh(self) -> ExportState | None:
        """Build the serving version's export if it is not the one held; never raises.

        Returns:
            The state after the check.

        """
        with self._lock:
            version = self._serving_version()
            if version is None or (self._state is not None and self._state.version == version):
                return self._state
            self._state = ExportState(version, BUILDING)
            try:
                export = self._build(version)
            except Exception as error:  # noqa: BLE001 - a refused or failed export is reported, never offered
                reason = f"{type(error).__name__}: {str(error)[:500]}"
                logger.warning("no ONNX export of version %s: %s", version, reason)
                self._state = ExportState(version, REFUSED, reason=reason)
                return self._state
            logger.info(
                "ONNX export of version %s ready (%d bytes, %s)",
                version,
                len(export.content),
                export.verification.reason,
            )
            self._state = ExportState(version, READY, export=export)
            return self._state
