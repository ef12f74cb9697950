"""The model behind the serving API: follows the ``production`` alias and swaps versions without a restart.

A background thread checks the alias every ``serving_reload_seconds``. When it points at a new version, that
version is loaded, compiled into the fast predictor and checked on probe rows *before* it replaces the current
one; any failure is logged and reported by ``/health`` while the old model keeps serving. With no production
model yet the provider has nothing to serve (the API answers 503) and picks up the first one when it appears.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from mlflow import MlflowClient

from machine_learning.data.schema import LABELS
from machine_learning.errors import NotFoundError
from machine_learning.inference.fast_model import Predictor, probe_columns
from machine_learning.inference.model import LoadedModel, load_model, resolve_version
from machine_learning.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """A loaded version ready to score: its name, version, fast predictor and when it was loaded."""

    name: str
    version: str
    predictor: Predictor
    loaded_at: datetime


@dataclass(frozen=True)
class ProviderStatus:
    """What ``/health`` reports: the model serving (if any), the last alias check and its error (if any)."""

    model_name: str
    model: ServingModel | None
    last_check_at: datetime | None
    last_error: str | None
    loading: str | None = None  # e.g. "version 4 since 2026-11-23T12:56:40+00:00" while a reload runs


class Provider(Protocol):
    """What the API needs from a model provider (tests pass a fake)."""

    def current(self) -> ServingModel | None:
        """Return the model to score with now, or ``None`` before the first one is loaded."""

    def status(self) -> ProviderStatus:
        """Return the current model and how the last reload went."""

    def start(self) -> None:
        """Start following the production alias."""

    def stop(self) -> None:
        """Stop following it."""


class ModelProvider:
    """Holds the current model and reloads it when the production alias moves.

    Args:
        model_name: Registered model name, for status reports.
        resolve: Returns the version the production alias points at (raises NotFoundError when unset).
        load: Loads a version.
        interval_seconds: Time between two alias checks.
        missing_ok: When the alias is unset (``resolve`` raises NotFoundError), drop the model instead of
            keeping it, and report no error (the rollout's challenger, which comes and goes).

    """

    def __init__(
        self,
        model_name: str,
        resolve: Callable[[], str],
        load: Callable[[str], LoadedModel],
        interval_seconds: float,
        missing_ok: bool = False,
    ) -> None:
        self._model_name, self._missing_ok = model_name, missing_ok
        self._resolve, self._load = resolve, load
        self._interval = interval_seconds
        self._model: ServingModel | None = None
        self._last_check_at: datetime | None = None
        self._last_error: str | None = None
        self._loading: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_lock = threading.Lock()

    def current(self) -> ServingModel | None:
        """Return the model to score with now (one attribute read: a swap is atomic for readers)."""
        return self._model

    def status(self) -> ProviderStatus:
        """Return the current model, the time of the last alias check and its error, if it failed."""
        return ProviderStatus(self._model_name, self._model, self._last_check_at, self._last_error, self._loading)

    def refresh(self) -> bool:
        """Check the alias once and swap in its version if it changed; never raises.

        Returns:
            Whether a new version now serves.

        """
        with self._refresh_lock:
            try:
                version = self._resolve()
            except NotFoundError as error:
                if self._missing_ok:
                    self._model = None
                self._record(None if self._missing_ok else f"no production model yet: {error}")
                return False
            except Exception as error:  # noqa: BLE001 - MLflow down or erroring: keep serving what we have
                self._record(f"alias check failed, serving version {self._version()}: {_describe(error)}")
                return False
            if self._model is not None and self._model.version == version:
                self._record(None)
                return False
            # Shown by /health meanwhile: the MLflow client retries failed downloads for minutes.
            self._loading = f"version {version} since {datetime.now(UTC).isoformat()}"
            try:
                self._model = prepare_model(self._load(version))
            except Exception as error:  # noqa: BLE001 - whatever breaks a reload, the old model keeps serving
                self._record(f"loading version {version} failed, serving version {self._version()}: {_describe(error)}")
                return False
            finally:
                self._loading = None
            logger.info("serving %s version %s (%s predictor)", self._model_name, version, self._kind())
            freeze_heap()
            self._record(None)
            return True

    def start(self) -> None:
        """Start the background thread; its first check runs at once, so startup never waits for MLflow."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._follow, name="model-provider", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (waits for a check in progress, at most a few seconds)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _follow(self) -> None:
        while not self._stopping.is_set():
            self.refresh()
            self._stopping.wait(self._interval)

    def _record(self, error: str | None) -> None:
        if error is not None and error != self._last_error:
            logger.warning("%s", error)  # once per distinct error, not every few seconds
        self._last_check_at, self._last_error = datetime.now(UTC), error

    def _version(self) -> str:
        return self._model.version if self._model else "none"

    def _kind(self) -> str:
        return self._model.predictor.kind if self._model else "none"


def freeze_heap() -> None:
    """Move every object alive now (modules, the model) out of the garbage collector's view.

    A big request allocates tens of thousands of short-lived objects; each full collection they trigger would
    otherwise walk the whole heap of the loaded libraries and models, milliseconds every few requests. Frozen
    objects are still freed when nothing refers to them; only reference cycles among them stay (a replaced
    model's, at most, once per reload).
    """
    gc.collect()
    gc.freeze()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:500]}"


def prepare_model(loaded: LoadedModel) -> ServingModel:
    """Compile a loaded version's fast predictor and check it can score before it may serve.

    Args:
        loaded: The loaded version.

    Returns:
        The model ready to serve.

    Raises:
        ValueError: The model does not predict the engagement labels, or fails on probe rows.

    """
    if set(loaded.classes) != set(LABELS):
        raise ValueError(f"version {loaded.version} predicts {loaded.classes}, not {list(LABELS)}")
    predictor = loaded.predictor  # tl2cgen-compiled trees, else numpy, each checked against predict_proba
    probabilities = predictor.predict_proba(probe_columns(4))
    if probabilities.shape != (4, len(LABELS)):
        raise ValueError(f"version {loaded.version} returned probabilities of shape {probabilities.shape}")
    return ServingModel(loaded.name, loaded.version, predictor, datetime.now(UTC))


def build_provider(settings: Settings) -> ModelProvider:
    """Build the provider that follows the ``production`` alias in MLflow (no network call is made here).

    Args:
        settings: MLflow location, model name, cache folder and reload interval.

    Returns:
        A provider; call ``start()`` to begin following the alias.

    """
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    return ModelProvider(
        settings.model_name,
        resolve=lambda: resolve_version(client, settings),
        load=lambda version: load_model(settings, version),
        interval_seconds=settings.serving_reload_seconds,
    )
