"""A small HTTP client of the operator API (standard library only), raising one-line errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class OperatorError(Exception):
    """The operator API refused or failed a call; the message is its one-line ``detail``."""


@dataclass(frozen=True)
class OperatorClient:
    """Calls the operator API at ``url`` with a bearer token.

    Attributes:
        url: The operator API, e.g. ``http://127.0.0.1:8090``.
        timeout: Seconds per call.

    """

    url: str
    timeout: float = 120.0

    def call(
        self, method: str, path: str, token: str | None, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """Make one call and return the decoded JSON answer.

        Args:
            method: ``GET`` or ``POST``.
            path: The operation's path, e.g. ``/status``.
            token: The bearer token (``None`` sends none, and the API answers 401).
            query: Query parameters; ``None`` values are left out.
            body: A JSON body for ``POST``.

        Returns:
            The answer's JSON.

        Raises:
            OperatorError: The API answered with a 4xx or 5xx (its ``detail``), or could not be reached.

        """
        params = {k: v for k, v in (query or {}).items() if v is not None}
        target = self.url.rstrip("/") + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = None if body is None and method == "GET" else json.dumps(body or {}).encode()
        request = urllib.request.Request(target, data=data, method=method)  # noqa: S310 - the configured API
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", token if token.lower().startswith("bearer ") else f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise OperatorError(f"operator API {error.code}: {_detail(error)}") from None
        except OSError as error:
            raise OperatorError(
                f"cannot reach the operator API at {self.url} ({error}); is 'make up' running?"
            ) from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("detail", error.reason))
    except (ValueError, AttributeError):
        return str(error.reason)
