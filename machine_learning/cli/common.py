"""Helpers shared by the command modules: progress lines, argument types."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from machine_learning.errors import InvalidInputError


def _is_local(source: str) -> bool:
    return not source.startswith("s3://")


def _step(label: str, action: Callable[[], Any]) -> Any:
    """Run one step with progress output, so long steps are never silent."""
    print(f"-> {label} ...", flush=True)
    started = time.perf_counter()
    value = action()
    print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)
    return value


def positive_number(text: str) -> float:
    """``argparse`` type: a finite number above 0 (refuses ``nan``, ``inf``, 0 and negatives)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """``argparse`` type: a whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, got {value:,}")
        return value

    return parse


def json_object(text: str, option: str) -> dict[str, Any]:
    """Parse an option's JSON object, with a one-line message naming the option when it is not one."""
    import json

    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidInputError(f"{option} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value
