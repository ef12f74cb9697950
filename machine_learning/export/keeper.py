"""Keeps the verified ONNX export of the version serving now, built in the background when a version loads.

A thread watches the serving provider (an attribute read every :data:`POLL_SECONDS`). When a new version serves,
it builds that version's export (from the model cache: no MLflow call) off the request path, so a hot reload is
never slowed by the conversion. Until the export is verified the download answers 503; a refused export stays
refused for that version, with its reason, and is never offered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from machine_learning.export.onnx_model import OnnxExport

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
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
        poll_seconds: Time between two looks at the serving version.

    """

    def __init__(
        self,
        serving_version: Callable[[], str | None],
        build: Callable[[str], OnnxExport],
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._serving_version, self._build, self._poll = serving_version, build, poll_seconds
        self._state: ExportState | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def state(self) -> ExportState | None:
        """Return the export of the last version seen serving (``None`` before any)."""
        return self._state

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

    def start(self) -> None:
        """Start the background thread."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._follow, name="onnx-export", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (waits for an export in progress, at most a few seconds)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _follow(self) -> None:
        while not self._stopping.is_set():
            self.refresh()
            self._stopping.wait(self._poll)
