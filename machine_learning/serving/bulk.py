"""Decoding, validating and encoding /predict bodies in bulk, at a small fraction of the model's cost.

A request is decoded by msgspec straight into typed structs whose constraints are the pydantic schema's
(:mod:`machine_learning.serving.schemas`): strict JSON types, the schema's ranges and categories, unknown fields
refused, 1 to 10,000 players. The validation runs in msgspec's C decoder in the same pass as the parsing, then
the rows become one typed numpy array per column (the predictor's input) and duplicate PlayerIDs are found in
one vectorised step.

msgspec stops at the first problem, and its messages are not pydantic's. A body that msgspec refuses is
therefore handed to the pydantic model, which decides and lists every problem with the messages the API has
always given. msgspec accepts only bodies that pydantic accepts, with the same values (a unit test checks both
decisions and the values on many good and bad bodies): valid requests never pay for pydantic, bad ones get
the same answer as before.

The answer is encoded by msgspec too: one struct per prediction, floats written as their shortest exact text.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pandas as pd
from pydantic import ValidationError

from machine_learning.data.schema import CATEGORY_COLUMNS, FEATURE_COLUMNS, ID_COLUMN, LABELS, NUMERIC_COLUMNS
from machine_learning.serving.schemas import MAX_PLAYER_ID, MAX_PLAYERS, PredictRequest

SMALL_REQUEST = 128  # up to this many players, columns stay Python tuples
_SPECS = {spec.name: spec for spec in NUMERIC_COLUMNS}
_CATEGORIES = {spec.name: spec.allowed for spec in CATEGORY_COLUMNS}


def _bounded(name: str) -> Any:
    spec = _SPECS[name]
    kind = int if spec.integer else float
    return Annotated[kind, msgspec.Meta(ge=kind(spec.low), le=kind(spec.high))]


def _one_of(name: str) -> Any:
    return Literal[_CATEGORIES[name]]


class _Player(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    PlayerID: Annotated[int, msgspec.Meta(ge=0, le=MAX_PLAYER_ID)]
    Age: _bounded("Age")  # type: ignore[valid-type]
    Gender: _one_of("Gender")  # type: ignore[valid-type]
    Location: _one_of("Location")  # type: ignore[valid-type]
    GameGenre: _one_of("GameGenre")  # type: ignore[valid-type]
    PlayTimeHours: _bounded("PlayTimeHours")  # type: ignore[valid-type]
    InGamePurchases: _bounded("InGamePurchases")  # type: ignore[valid-type]
    GameDifficulty: _one_of("GameDifficulty")  # type: ignore[valid-type]
    SessionsPerWeek: _bounded("SessionsPerWeek")  # type: ignore[valid-type]
    AvgSessionDurationMinutes: _bounded("AvgSessionDurationMinutes")  # type: ignore[valid-type]
    PlayerLevel: _bounded("PlayerLevel")  # type: ignore[valid-type]
    AchievementsUnlocked: _bounded("AchievementsUnlocked")  # type: ignore[valid-type]


class _Body(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    players: Annotated[list[_Player], msgspec.Meta(min_length=1, max_length=MAX_PLAYERS)]


class _Prediction(msgspec.Struct, gc=False):
    PlayerID: int
    predicted_engagement: str
    probability_High: float
    probability_Medium: float
    probability_Low: float
    model_version: str
    variant: str


class _Answer(msgspec.Struct, gc=False):
    model_name: str
    model_version: str
    predictions: list[_Prediction]


_DECODER = msgspec.json.Decoder(_Body)
_ENCODER = msgspec.json.Encoder()
_FIELDS = (ID_COLUMN, *FEATURE_COLUMNS)
_GETTERS = {name: operator.attrgetter(name) for name in _FIELDS}
_DTYPES = {
    name: np.int64 if name == ID_COLUMN or (name in _SPECS and _SPECS[name].integer) else np.float64
    for name in _FIELDS
    if name not in _CATEGORIES
}
_CODES = {name: {category: code for code, category in enumerate(allowed)} for name, allowed in _CATEGORIES.items()}
_CATEGORY_DTYPES = {name: pd.CategoricalDtype(list(allowed)) for name, allowed in _CATEGORIES.items()}


class InvalidRequestError(Exception):
    """The body is not a valid request; ``errors`` are pydantic's error dicts (the API's 422 problems)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


@dataclass(frozen=True)
class DecodedRequest:
    """A valid request as columns: ``PlayerID`` and every feature, one array per column in player order."""

    player_ids: Sequence[int] | np.ndarray
    columns: dict[str, Sequence[Any] | np.ndarray | pd.Categorical]

    def __len__(self) -> int:
        """Return the number of players."""
        return len(self.player_ids)


def decode_request(body: bytes) -> DecodedRequest:
    """Decode and validate a /predict body into columns.

    Args:
        body: The raw JSON body.

    Returns:
        The players as typed columns.

    Raises:
        InvalidRequestError: The body is not a valid request (every problem listed, as pydantic words them),
            or it names a PlayerID twice.

    """
    try:
        players = _DECODER.decode(body).players
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_with_pydantic(body)
    if len(players) > SMALL_REQUEST:  # straight from the structs into typed arrays: no tuple per player
        ids = np.fromiter(map(_GETTERS[ID_COLUMN], players), dtype=np.int64, count=len(players))
        columns = {name: _struct_column(name, players) for name in FEATURE_COLUMNS}
        return _unique(DecodedRequest(ids, columns))
    # Struct fields are in column order: transposing their tuples gives the columns, values already typed.
    return _checked(dict(zip(_FIELDS, zip(*map(msgspec.structs.astuple, players), strict=True), strict=True)))


def _struct_column(name: str, players: list[_Player]) -> np.ndarray | pd.Categorical:
    return _typed_column(name, map(_GETTERS[name], players), len(players))


def _unique(request: DecodedRequest) -> DecodedRequest:
    """Return the request, unless a PlayerID is given twice (then raise the 422 problems naming them)."""
    duplicates = duplicate_ids(np.asarray(request.player_ids))
    if duplicates:
        raise InvalidRequestError(duplicates)
    return request


def _decode_with_pydantic(body: bytes) -> DecodedRequest:
    """Decode with the reference pydantic model: it decides, and words every problem as the API always has."""
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError as error:
        raise InvalidRequestError([dict(item) for item in error.errors(include_input=False)]) from None
    return _checked({name: [getattr(player, name) for player in request.players] for name in _FIELDS})


def _checked(values: dict[str, Sequence[Any]]) -> DecodedRequest:
    """Typed arrays for big requests (small ones keep their tuples: numpy's per-array cost dominates there).

    In a big request, categories become ``Categorical`` codes over the allowed values, which the predictors
    map per category rather than per row (the values were validated against those categories).
    """
    if len(values[ID_COLUMN]) <= SMALL_REQUEST:
        columns: dict[str, Sequence[Any] | np.ndarray | pd.Categorical] = dict(values)
        ids = columns.pop(ID_COLUMN)
        if len(set(ids)) == len(ids):
            return DecodedRequest(ids, columns)
        return _unique(DecodedRequest(np.asarray(ids, dtype=np.int64), columns))
    ids = np.array(values[ID_COLUMN], dtype=np.int64)
    columns = {name: _typed_column(name, column, len(ids)) for name, column in values.items() if name != ID_COLUMN}
    return _unique(DecodedRequest(ids, columns))


def _typed_column(name: str, values: Iterable[Any], count: int) -> np.ndarray | pd.Categorical:
    """One column as the predictor takes it: categories as ``Categorical`` codes, numbers as a typed array."""
    if name in _CODES:
        codes = np.fromiter(map(_CODES[name].__getitem__, values), dtype=np.int8, count=count)
        return pd.Categorical.from_codes(codes, dtype=_CATEGORY_DTYPES[name], validate=False)
    return np.fromiter(values, dtype=_DTYPES[name], count=count)


def duplicate_ids(ids: np.ndarray) -> list[dict[str, Any]]:
    """One problem per PlayerID given more than once, naming the ID and its positions (vectorised).

    Args:
        ids: The request's PlayerIDs in order.

    Returns:
        Error dicts in pydantic's shape (``loc``, ``msg``, ``type``), empty when every ID is unique.

    """
    if len(ids) < 2:
        return []
    ordered = np.sort(ids)
    repeated = ordered[1:] == ordered[:-1]
    if not repeated.any():
        return []
    problems = []
    for value in np.unique(ordered[1:][repeated]):
        positions = np.flatnonzero(ids == value)
        listed = ", ".join(str(position) for position in positions[:10])
        problems.append(
            {
                "loc": ("players", int(positions[0]), ID_COLUMN),
                "msg": f"PlayerID {int(value)} is given {len(positions)} times (players {listed}): "
                "each player once per request",
                "type": "duplicate",
            }
        )
    return problems


def encode_predictions(
    model_name: str,
    model_version: str,
    classes: list[str],
    player_ids: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    variants: Iterable[str] | None = None,
    versions: Iterable[str] | None = None,
) -> bytes:
    """Render the predictions as JSON, the same fields and values as batch ``predict_players``.

    Args:
        model_name: The model that scored.
        model_version: Its version (production's when a challenger scored some rows).
        classes: Column order of ``probabilities``.
        player_ids: One ID per row of ``probabilities``.
        probabilities: Shape (players, classes).
        variants: Per row, ``production`` or ``challenger`` (default: every row ``production``).
        versions: Per row, the version that scored it (default: ``model_version``).

    Returns:
        The response body (a ``PredictResponse``); floats keep full precision.

    """
    labels = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)].tolist()
    by_label = [probabilities[:, classes.index(label)].tolist() for label in LABELS]
    if len(labels) != len(player_ids):
        raise ValueError(f"{len(player_ids)} PlayerIDs for {len(labels)} rows of probabilities")
    if variants is None or versions is None:
        versions, variants = itertools.repeat(model_version), itertools.repeat("production")
    # map() over the struct type: no Python frame per prediction (a tenth of the time at 10,000 players)
    predictions = list(map(_Prediction, _as_list(player_ids), labels, *by_label, versions, variants))
    return _ENCODER.encode(_Answer(model_name, model_version, predictions))


def _as_list(values: Sequence[int] | np.ndarray) -> list[int]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)
