"""Title names: safe as an S3 prefix, in MLflow model and experiment names and as one URL path segment (pure)."""

from __future__ import annotations

import re
from typing import Any

from machine_learning.errors import InvalidInputError

MIN_LENGTH, MAX_LENGTH = 3, 42
# Top-level prefixes and words the install uses itself: a title of that name would share their keys or URLs.
RESERVED_NAMES = frozenset({"mlflow", "evidently", "titles", "locks", "models", "health", "predict", "docs", "api"})
_ALLOWED = re.compile(r"^[a-z0-9-]+$")


def check_title_name(name: Any) -> str:
    """Check that a name can name a title everywhere it is used; return it unchanged.

    A title names its S3 prefix (``<title>/``), its MLflow experiment and registered model
    (``<title>-engagement``), its Evidently project, its Mage triggers (``<title>-<pipeline>-...``) and the URL
    ``/titles/<title>/predict``. Lowercase letters, digits and single dashes, 3 to 42 characters, starting and
    ending with a letter or digit, fit all of them (the same rule as ``GAME_TITLE``).

    Args:
        name: The proposed name.

    Returns:
        The name.

    Raises:
        InvalidInputError: One line saying what is wrong with the name.

    """
    if not isinstance(name, str):
        raise InvalidInputError(f"a title name must be text, got {type(name).__name__}")
    shown = repr(name[:60])
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise InvalidInputError(f"title name {shown} must be {MIN_LENGTH}-{MAX_LENGTH} characters, got {len(name)}")
    if name != name.lower() and _ALLOWED.match(name.lower()):
        raise InvalidInputError(f"title name {shown} must be lowercase: try {name.lower()!r}")
    if not _ALLOWED.match(name):
        bad = sorted({char for char in name if not _ALLOWED.match(char)})
        raise InvalidInputError(
            f"title name {shown} may hold only lowercase letters, digits and dashes, not {''.join(bad)!r}"
        )
    if name.startswith("-") or name.endswith("-"):
        raise InvalidInputError(f"title name {shown} must start and end with a letter or a digit")
    if "--" in name:
        raise InvalidInputError(f"title name {shown} must not hold two dashes in a row")
    if name in RESERVED_NAMES:
        raise InvalidInputError(f"title name {shown} is reserved (used by the install itself); choose another")
    return name
