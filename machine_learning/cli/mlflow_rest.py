"""Read the registry's aliases over MLflow's REST API, for ``mlops status``.

Why not ``MlflowClient``: importing the ``mlflow`` package takes 2-10 s on a busy machine, while ``status``
should answer in well under 2 s. Three GET requests of the documented REST API
(``/api/2.0/mlflow/registered-models/alias``) are all it needs. Credentials are the ones MLflow's own client
reads: ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (basic auth) or ``MLFLOW_TRACKING_TOKEN``.
"""

from __future__ import annotations

import os
from typing import Any

from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings

ALIASES = ("production", "candidate", "previous")  # the order of machine_learning.registry.ALIASES
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def read_alias_versions(settings: Settings, session: Any = None) -> dict[str, dict[str, Any] | None]:
    """Return, per alias, the version it points at (``name``, ``version``, ``run_id``, ``tags``) or ``None``.

    Args:
        settings: MLflow location and model name.
        session: A ``requests.Session`` (one is created when omitted).

    Returns:
        One entry per alias, in the order production, candidate, previous.

    Raises:
        MLOpsError: MLflow answered with an error other than "no such alias or model".

    """
    http, url = _session(settings, session)
    return {alias: _read_alias(http, url, settings.model_name, alias) for alias in ALIASES}


def read_alias_version(settings: Settings, alias: str, session: Any = None) -> dict[str, Any] | None:
    """Return the version one alias points at (as :func:`read_alias_versions`), or ``None``."""
    http, url = _session(settings, session)
    return _read_alias(http, url, settings.model_name, alias)


def _session(settings: Settings, session: Any) -> tuple[Any, str]:
    import requests

    http = session or requests.Session()
    if os.environ.get("MLFLOW_TRACKING_USERNAME"):
        http.auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
        http.headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    return http, f"{settings.mlflow_tracking_uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias"


def _read_alias(http: Any, url: str, model: str, alias: str) -> dict[str, Any] | None:
    response = http.get(url, params={"name": model, "alias": alias}, timeout=10)
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if not response.ok:
        if payload.get("error_code") in _MISSING:
            return None
        detail = payload.get("message") or response.text[:200] or response.reason
        raise MLOpsError(f"MLflow answered {response.status_code} for alias {alias!r} of {model}: {detail}")
    version = payload["model_version"]
    return {
        "name": model,
        "version": str(version["version"]),
        "run_id": str(version.get("run_id", "")),
        "tags": {tag["key"]: tag["value"] for tag in version.get("tags", [])},
    }
