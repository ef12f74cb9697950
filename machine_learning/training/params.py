"""Training parameters a run may choose: an allowed list of the classifier's settings, checked before any work.

A parameter set is checked completely (names, JSON types, ranges) before data is published, a model is fitted
or an MLflow run is opened, so a refused set leaves nothing behind. Ranges beyond what scikit-learn itself checks
(``HistGradientBoostingClassifier._parameter_constraints``, applied here through ``set_params`` and the same
validation ``fit`` runs) bound the cost of a run: a trigger token must not buy a week of CPU.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from machine_learning.errors import InvalidInputError

PREFIX = "classifier__"
# name -> (JSON types accepted, inclusive upper bound for numbers or None). None as a value means "no limit"
# where scikit-learn allows it (max_depth, max_leaf_nodes).
ALLOWED_PARAMS: dict[str, tuple[tuple[type, ...], float | None]] = {
    "learning_rate": ((int, float), 10.0),
    "max_iter": ((int,), 2000),
    "max_leaf_nodes": ((int, type(None)), 1024),
    "max_depth": ((int, type(None)), 64),
    "min_samples_leaf": ((int,), 100_000),
    "l2_regularization": ((int, float), 1e6),
    "max_features": ((int, float), 1.0),
    "max_bins": ((int,), 255),
    "early_stopping": ((bool, str), None),
    "validation_fraction": ((int, float, type(None)), 1.0),
    "n_iter_no_change": ((int,), 1000),
    "tol": ((int, float), 1.0),
    "class_weight": ((str, dict, type(None)), None),
}


def allowed_param_names() -> list[str]:
    """Return the parameter names a run may set, in ``set_params`` form (``classifier__max_iter``...)."""
    return [f"{PREFIX}{name}" for name in ALLOWED_PARAMS]


def parse_training_params(params: Any) -> dict[str, Any]:
    """Check a parameter set (a mapping or its JSON text) completely, without side effects.

    Args:
        params: ``None``, a mapping in ``set_params`` form, or JSON text of one.

    Returns:
        The parameters as a plain dict (empty when none were given).

    Raises:
        InvalidInputError: Not a JSON object, an unknown name, a wrong type, or a value out of range; the
            message names the parameter and what is allowed.

    """
    if params is None or params == "":
        return {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"params is not valid JSON ({error.msg} at character {error.pos})") from None
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            raise InvalidInputError(f"params is not usable JSON ({str(error)[:100]})") from None
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"params must be a JSON object of parameters, got {type(params).__name__}")
    checked = {str(name): _check_one(str(name), value) for name, value in params.items()}
    _check_with_sklearn(checked)
    return checked


def _check_one(name: str, value: Any) -> Any:
    short = name.removeprefix(PREFIX)
    if not name.startswith(PREFIX) or short not in ALLOWED_PARAMS:
        raise InvalidInputError(f"params: {name!r} cannot be set by a run; allowed: {', '.join(allowed_param_names())}")
    types, upper = ALLOWED_PARAMS[short]
    number = _as_float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        kinds = " or ".join("null" if kind is type(None) else _JSON_NAMES[kind] for kind in types)
        raise InvalidInputError(f"params: {name} must be {kinds}, got {json.dumps(value, default=str)[:60]}")
    if number is not None and (not math.isfinite(number) or (upper is not None and number > upper)):
        raise InvalidInputError(f"params: {name} must be a finite number at most {upper:g}, got {str(value)[:40]}")
    return value


def _as_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf


_JSON_NAMES = {int: "an integer", float: "a number", bool: "true/false", str: "text", dict: "an object"}


def _check_with_sklearn(params: dict[str, Any]) -> None:
    """Apply scikit-learn's own constraints (ranges, choices) the way ``fit`` would, without fitting."""
    if not params:
        return
    from sklearn.ensemble import HistGradientBoostingClassifier

    classifier = HistGradientBoostingClassifier()
    classifier.set_params(**{name.removeprefix(PREFIX): value for name, value in params.items()})
    try:
        classifier._validate_params()
    except (ValueError, TypeError) as error:
        detail = " ".join(str(error).split())
        named = re.match(r"The '(\w+)' parameter of \w+ (.*)", detail)
        detail = f"{PREFIX}{named[1]} {named[2]}" if named else detail
        raise InvalidInputError(f"params: {detail[:300]}") from None
