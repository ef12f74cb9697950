"""Container health probe: exit 0 when the URL answers HTTP 200, 1 otherwise (the images have no curl).

Usage: healthcheck.py URL
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float = 5.0) -> bool:
    """Return whether ``url`` answers with HTTP 200 within ``timeout`` seconds.

    Args:
        url: A loopback http:// URL inside the container.
        timeout: Seconds to wait for the answer.

    Returns:
        True on HTTP 200.

    """
    if not url.startswith("http://"):
        return False
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http:// checked above
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(0 if len(sys.argv) == 2 and probe(sys.argv[1]) else 1)
