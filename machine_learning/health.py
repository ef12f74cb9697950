"""Reachability of the services a step depends on, checked in seconds rather than after minutes of retries.

MLflow's client retries a failed request 7 times with exponential backoff by default, so a stopped tracking server
made a training run fail after 4-13 minutes. :func:`limit_mlflow_retries` caps that (the environment can still
override it), and :func:`require_mlflow` is the preflight a step that needs MLflow runs first.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from machine_learning.errors import ServiceUnavailableError
from machine_learning.settings import Settings

# MLflow's own knobs (mlflow.environment_variables); set only where the environment does not set them.
MLFLOW_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Dependency:
    """Whether one service answered, how fast, and what went wrong if not."""

    name: str
    url: str
    reachable: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def limit_mlflow_retries(settings: Settings) -> None:
    """Make MLflow requests fail within seconds when the server is down (unless the environment says otherwise)."""
    for name, value in MLFLOW_RETRIES.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(settings.mlflow_timeout_seconds)))


def check_url(name: str, url: str, timeout: float = CHECK_TIMEOUT_SECONDS) -> Dependency:
    """Ask a service's health URL; any HTTP answer below 500 means it is up (a 401 still proves it answers).

    Args:
        name: The service, for messages.
        url: Its health or root URL.
        timeout: Seconds to wait.

    Returns:
        Whether it answered, and why not.

    """
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - URL from settings
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Dependency(name, url, False, f"not reachable: {reason}", round(time.perf_counter() - started, 3))
    seconds = round(time.perf_counter() - started, 3)
    if status >= 500:
        return Dependency(name, url, False, f"answered HTTP {status}", seconds)
    return Dependency(name, url, True, "ok", seconds)


def check_mlflow(settings: Settings, timeout: float = CHECK_TIMEOUT_SECONDS) -> Dependency:
    """Check the MLflow tracking server (a local ``file:`` store is always reachable)."""
    uri = settings.mlflow_tracking_uri
    if not uri.startswith(("http://", "https://")):
        return Dependency("mlflow", uri, True, "local store", 0.0)
    return check_url("mlflow", f"{uri.rstrip('/')}/health", timeout)


def check_s3(settings: Settings, timeout: float = CHECK_TIMEOUT_SECONDS) -> Dependency:
    """Check the S3 endpoint (AWS's own S3 is taken as reachable: no endpoint is configured)."""
    if not settings.s3_endpoint_url:
        return Dependency("s3", "aws", True, "AWS S3", 0.0)
    return check_url("s3", settings.s3_endpoint_url, timeout)


def require_mlflow(settings: Settings) -> None:
    """Fail at once, with a clear message, when the MLflow tracking server does not answer.

    Raises:
        ServiceUnavailableError: MLflow is not reachable.

    """
    limit_mlflow_retries(settings)
    status = check_mlflow(settings)
    if not status.reachable:
        raise ServiceUnavailableError(
            f"MLflow at {settings.mlflow_tracking_uri} is {status.detail}; is the stack running? try 'make up'"
        )


class DependencyMonitor:
    """The serving API's view of its dependencies, checked at most every ``max_age`` seconds (``/health``)."""

    def __init__(self, settings: Settings, max_age: float = 10.0) -> None:
        self.settings = settings
        self.max_age = max_age
        self._checked_at = float("-inf")
        self._last: list[Dependency] = []

    def check(self) -> list[Dependency]:
        """Return each dependency's reachability, from the last check when it is recent."""
        if time.monotonic() - self._checked_at > self.max_age:
            timeout = 1.0  # /health must answer fast even when a dependency hangs
            self._last = [check_mlflow(self.settings, timeout), check_s3(self.settings, timeout)]
            self._checked_at = time.monotonic()
        return self._last
