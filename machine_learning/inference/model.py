"""Loading a registered model by alias or version, cached locally by version.

The cache keeps every version it has loaded plus the last alias resolution, so a known version still scores
when MLflow is unreachable; an unknown one fails with a clear message.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.inference.compiled import PredictorChoice, select_predictor
from machine_learning.inference.fast_model import Predictor
from machine_learning.settings import Settings

if TYPE_CHECKING:
    from machine_learning.registry import VersionInfo

PRODUCTION = "production"  # machine_learning.registry.PRODUCTION, without importing mlflow to score a file

logger = logging.getLogger(__name__)


class ModelUnavailableError(MLOpsError):
    """No usable model: MLflow cannot be reached and the version is not in the local cache."""


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline, the registered version it came from, and its cache folder (for compiled trees)."""

    name: str
    version: str
    pipeline: Any
    cache_dir: Path | None = None

    @property
    def classes(self) -> list[str]:
        """Labels in the column order of ``predict_proba``."""
        return [str(label) for label in self.pipeline.classes_]

    @functools.cached_property
    def predictor_choice(self) -> PredictorChoice:
        """The fastest predictor checked equal to ``predict_proba``: tl2cgen, numpy, else the pipeline itself."""
        choice = select_predictor(self.pipeline, self.cache_dir)
        logger.info("%s version %s scores with the %s predictor: %s", self.name, self.version, choice.predictor.kind,
                    choice.reason)  # fmt: skip
        return choice

    @property
    def predictor(self) -> Predictor:
        """The predictor chosen by :attr:`predictor_choice` (its ``kind`` names it)."""
        return self.predictor_choice.predictor


def mlflow_reachable(settings: Settings, timeout: float = 2.0) -> bool:
    """Tell quickly whether the tracking server answers (the MLflow client itself retries for minutes)."""
    from machine_learning.health import check_mlflow

    return check_mlflow(settings, timeout).reachable


def get_alias_version(client: Any, settings: Settings, alias: str) -> VersionInfo | None:
    """Look an alias up in the registry (imported here: the registry imports mlflow)."""
    from machine_learning.registry import get_alias_version as lookup

    return lookup(client, settings, alias)


def resolve_version(client: Any, settings: Settings, alias: str = PRODUCTION) -> str:
    """Resolve an alias to a version, remembering the answer for when MLflow is down.

    Args:
        client: An ``MlflowClient``.
        settings: Model name and cache folder.
        alias: The alias to resolve.

    Returns:
        The version number as a string.

    Raises:
        NotFoundError: The alias is not set (for production: nothing has been promoted yet).
        ModelUnavailableError: MLflow is unreachable and the alias was never resolved on this machine.

    """
    pointer = _cache_root(settings) / "aliases" / f"{alias}.json"
    if not mlflow_reachable(settings):
        if pointer.exists():
            return str(json.loads(pointer.read_text())["version"])
        raise ModelUnavailableError(
            f"MLflow at {settings.mlflow_tracking_uri} is unreachable and no '{alias}' version of "
            f"{settings.model_name} is cached in {_cache_root(settings)}"
        )
    info = get_alias_version(client, settings, alias)
    if info is None:
        raise NotFoundError(
            f"model {settings.model_name} has no '{alias}' version yet: train and promote a model first"
        )
    remember_alias(pointer, info.version)
    return info.version


def remember_alias(pointer: Path, version: str) -> None:
    """Write the alias pointer atomically; a read-only or full cache only loses the memory, never the scoring."""
    staged = pointer.with_name(f".{pointer.name}.partial")
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(json.dumps({"version": version}))
        staged.replace(pointer)
    except OSError as error:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
        logger.warning("could not remember %s = v%s in the model cache (%s)", pointer.stem, version, error.strerror)


def load_model(settings: Settings, version: str) -> LoadedModel:
    """Load a registered version, from the local cache when present, else from MLflow into the cache.

    Args:
        settings: Model name, MLflow location and cache folder.
        version: Registered version number.

    Returns:
        The loaded model.

    Raises:
        ModelUnavailableError: The version is not cached and MLflow is unreachable.

    """
    target = _cache_root(settings) / "versions" / check_model_version(version)
    if not (target / "MLmodel").exists():
        if not mlflow_reachable(settings):
            raise ModelUnavailableError(
                f"version {version} of {settings.model_name} is not cached on this machine and MLflow at "
                f"{settings.mlflow_tracking_uri} is unreachable"
            )
        _download(settings, version, target)
    return LoadedModel(settings.model_name, str(version), _load_pipeline(target), target)


def _load_pipeline(folder: Path) -> Any:
    """Load a cached MLflow sklearn model; a (cloud)pickled one without importing mlflow (seconds of start-up).

    This reads the ``sklearn`` flavor of the ``MLmodel`` file exactly as ``mlflow.sklearn.load_model`` does for
    the pickle formats; any other format is left to mlflow.
    """
    import yaml

    flavor = (yaml.safe_load((folder / "MLmodel").read_text()) or {}).get("flavors", {}).get("sklearn", {})
    pickled = flavor.get("pickled_model")
    if flavor.get("serialization_format") in ("pickle", "cloudpickle") and pickled and "/" not in pickled:
        import cloudpickle

        with open(folder / pickled, "rb") as handle:
            return cloudpickle.load(handle)  # our own registered model, loaded as mlflow itself loads it
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(folder))


def check_model_version(version: Any) -> str:
    """Check that a model version is a registered version number (it names a folder of the cache).

    Raises:
        InvalidInputError: Not a whole number of at most 9 digits (``../x``, ``1e3``, ``-1``...).

    """
    text = str(version)
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 9):
        raise InvalidInputError(f"model version must be a registered version number like 3, got {text[:40]!r}")
    return str(int(text))


def load_production_model(client: Any, settings: Settings, version: str | None = None) -> LoadedModel:
    """Load the production model (or an explicit version) for scoring.

    Args:
        client: An ``MlflowClient``.
        settings: Model name, MLflow location and cache folder.
        version: A specific version instead of the ``production`` alias.

    Returns:
        The loaded model.

    """
    return load_model(settings, version or resolve_version(client, settings))


def _download(settings: Settings, version: str, target: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Download beside the target and rename: a half-downloaded model is never taken for a cached one.
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        try:
            path = mlflow.artifacts.download_artifacts(f"models:/{settings.model_name}/{version}", dst_path=staging)
        except mlflow.exceptions.MlflowException as error:
            raise NotFoundError(f"model {settings.model_name} has no version {version}: {error.message}") from None
        shutil.rmtree(target, ignore_errors=True)
        Path(path).rename(target)


def _cache_root(settings: Settings) -> Path:
    return Path(settings.model_cache_dir).expanduser() / settings.model_name
