"""What the prediction log holds: one row per player of every answered ``/predict`` call (pure functions).

The request path only keeps the raw request and response bodies (:class:`Exchange`); they are decoded here, in
the background writer, in bulk. Both bodies were produced or validated by serving, so the players of the request
and the predictions of the answer are in the same order, one to one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import pandas as pd

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABELS

LOG_FOLDER = "prediction-log"
PROBABILITY_COLUMNS = tuple(f"probability_{label}" for label in LABELS)
PREDICTED_COLUMN = "predicted_engagement"
# The columns of a log file, in order: the call, the player's fields, the answer.
LOG_COLUMNS = (
    "request_id", "logged_at", "date", "latency_ms", "players_in_request", "model_name", "variant",
    "model_version", ID_COLUMN, *FEATURE_COLUMNS, PREDICTED_COLUMN, *PROBABILITY_COLUMNS,
)  # fmt: skip
_TITLE_PATH = re.compile(r"^/titles/([a-z0-9][a-z0-9-]{1,40}[a-z0-9])/predict$")
_PREDICTION_MARK = b'"PlayerID"'


@dataclass(frozen=True)
class Exchange:
    """One answered ``/predict`` call as the request path hands it over: raw bodies, no decoding yet.

    Attributes:
        title: The game title whose log it goes to.
        request_id: The call's id (the client's ``X-Request-ID``, else a fresh one).
        received_at: When the request arrived (seconds since the epoch).
        latency_ms: From the request's arrival to its answer's last byte handed to the server.
        request_body: The request as received (valid: only 200 answers are logged).
        response_body: The answer as sent.
        rows: How many predictions the answer holds.
        players: Which of the request's players the answer is about, by position (``None``: all of them, in
            order). A shadow answer covers only the challenger's players.

    """

    title: str
    request_id: str
    received_at: float
    latency_ms: float
    request_body: bytes
    response_body: bytes
    rows: int
    players: tuple[int, ...] | None = None


def count_predictions(response_body: bytes) -> int:
    """Count the predictions of an answer without decoding it (a byte scan in C, microseconds)."""
    return response_body.count(_PREDICTION_MARK)


def title_of_path(path: str, default_title: str) -> str:
    """Return the title whose log a call goes to: the one in ``/titles/<title>/predict``, else the serving title."""
    matched = _TITLE_PATH.match(path)
    return matched.group(1) if matched else default_title


def rows_from_exchanges(exchanges: list[Exchange]) -> pd.DataFrame:
    """Decode calls into log rows: the call's id, time and latency, the player's fields, variant, version, answer.

    Args:
        exchanges: Answered calls, in any order.

    Returns:
        One row per prediction with :data:`LOG_COLUMNS` plus ``title``; ``date`` is the UTC day of the call.

    """
    players: list[dict[str, object]] = []
    answers: list[dict[str, object]] = []
    calls: list[tuple[str, str, datetime, str, float, int, str]] = []
    for exchange in exchanges:
        asked = msgspec.json.decode(exchange.request_body)["players"]
        if exchange.players is not None:
            asked = [asked[index] for index in exchange.players]
        answer = msgspec.json.decode(exchange.response_body)
        predictions = answer["predictions"]
        if len(asked) != len(predictions):  # cannot happen for a 200 answer; never misalign rows if it did
            continue
        at = datetime.fromtimestamp(exchange.received_at, tz=UTC)
        day = at.date().isoformat()  # per call: formatting a whole column costs ~40 us a row
        call = (exchange.title, exchange.request_id, at, day, exchange.latency_ms, len(asked), answer["model_name"])
        players.extend(asked)
        answers.extend(predictions)
        calls.extend([call] * len(asked))
    if not calls:
        return pd.DataFrame(columns=["title", *LOG_COLUMNS])
    frame = pd.DataFrame(calls, columns=["title", "request_id", "logged_at", "date", "latency_ms",
                                         "players_in_request", "model_name"])  # fmt: skip
    asked_frame = pd.DataFrame.from_records(players, columns=list(FEATURE_COLUMNS))
    answered = pd.DataFrame.from_records(
        answers, columns=[ID_COLUMN, "variant", "model_version", PREDICTED_COLUMN, *PROBABILITY_COLUMNS]
    )
    frame = pd.concat([frame, answered, asked_frame], axis=1)
    frame["model_version"] = frame["model_version"].astype(str)
    return frame[["title", *LOG_COLUMNS]]


def log_prefix(title: str, day: str | None = None) -> str:
    """Key prefix of a title's prediction log, or of one day's partition."""
    return f"{title}/{LOG_FOLDER}/" + (f"date={day}/" if day else "")


def batch_key(title: str, day: str, now: datetime | None = None) -> str:
    """Key of a new log file: ``<title>/prediction-log/date=D/part-<time>-<uuid>.parquet`` (never overwritten)."""
    at = now or datetime.now(UTC)
    return f"{log_prefix(title, day)}part-{at:%H%M%S%f}-{uuid.uuid4().hex}.parquet"
