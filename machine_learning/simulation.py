"""A daily player simulator with controllable drift, for exercising monitoring and retraining end to end.

Each simulated day is a batch of players sampled (with replacement) from a labelled source table, usually the
shipped dataset, with optional drift applied. It is written where batch inference reads the day's batch; the
players' ground truth is kept hidden under ``<title>/simulator/truth/date=D/`` and published to
``<title>/labels/date=D/`` for every simulated day of an ISO week when its Sunday is simulated, so labels arrive
late, a week at a time, as they would from a real game.

PlayerIDs: player ``i`` of day ``D`` gets ``D.toordinal() * 1_000_000 + i`` (an int64 of about 7.4e11 for
2026). Days never share IDs, and every ID is above the shipped data's (9000-49033), so the simulated players
never collide with the training data or with one another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.prepare import load_raw_players
from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.data.validate import validate_players
from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.inference.batch import as_day, daily_batch_input
from machine_learning.monitoring.data import labels_key
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri, to_parquet_bytes

NEW_GENRE = "Strategy"
# kind -> what it does; strength s is in [0, 1] and 0 means no change. Concept changes alter the inputs while each
# player keeps the label of the source row it was drawn from (the same engagement now looks different), so a model
# trained before gets worse. Label-consistent shifts draw a different mix of real players, whose labels still fit
# their inputs: the inputs drift, the model stays right.
DRIFT_KINDS: dict[str, str] = {
    "session_length": "concept change, shorter sessions: AvgSessionDurationMinutes x (1 - s), in whole minutes",
    "sessions_per_week": "concept change, fewer sessions: SessionsPerWeek x (1 - s), rounded to a whole number",
    "genre_mix": "a new genre mix: a share s of the players switch to Strategy (labels kept)",
    "playtime": "less play: PlayTimeHours x (1 - s)",
    "casual_players": "label-consistent: a share s of the players are drawn from the real Low-engagement players",
    "genre_players": "label-consistent: a share s of the players are drawn from the real Strategy players",
}
# Label-consistent kinds: which real players a share of the day is drawn from.
_MIX_KINDS: dict[str, tuple[str, str]] = {
    "casual_players": (LABEL_COLUMN, "Low"),
    "genre_players": ("GameGenre", NEW_GENRE),
}
IDS_PER_DAY = 1_000_000
SOURCE_ENV = "SIMULATOR_SOURCE"
DATASET_NAME = "online_gaming_behavior_dataset.csv.gz"


@dataclass(frozen=True)
class SimulatedDay:
    """What one simulated day wrote.

    Attributes:
        day: The day, ``YYYY-MM-DD``.
        players: Players in the day's batch.
        drift: Drift kind -> strength applied.
        batch_uri: The batch (raw schema, no label) that batch inference reads for the day.
        truth_uri: The day's hidden ground truth.
        labels_published: Days whose labels were published by this call (only when ``day`` is a Sunday).

    """

    day: str
    players: int
    drift: dict[str, float]
    batch_uri: str
    truth_uri: str
    labels_published: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    def describe(self) -> str:
        """One line for people: the day, its size and drift, where it went, and any labels published."""
        drift = ", ".join(f"{kind}={strength:g}" for kind, strength in self.drift.items())
        line = f"{self.day}: {self.players} players ({f'drift {drift}' if drift else 'no drift'}) -> {self.batch_uri}"
        if self.labels_published:
            line += f"; labels published for {self.labels_published[0]}..{self.labels_published[-1]}"
        return line


def parse_drift(specs: Sequence[str]) -> dict[str, float]:
    """Parse ``kind=strength`` drift specifications (as given to ``mlops simulate --drift``).

    Args:
        specs: One ``kind=strength`` text per drift; see ``DRIFT_KINDS`` for the kinds.

    Returns:
        Kind -> strength, in the order given.

    Raises:
        InvalidInputError: Unknown kind, malformed or out-of-range strength, or a kind given twice.

    """
    drift: dict[str, float] = {}
    for spec in [specs] if isinstance(specs, str) else specs:
        kind, equals, text = spec.partition("=")
        kind = kind.strip()
        if not equals or kind not in DRIFT_KINDS:
            raise InvalidInputError(f"drift {spec!r} is not KIND=STRENGTH with KIND one of {_allowed_kinds()}")
        if kind in drift:
            raise InvalidInputError(f"drift {kind!r} is given twice: give each kind once")
        try:
            drift[kind] = float(text)
        except ValueError:
            raise InvalidInputError(f"drift {spec!r}: strength must be a number in [0, 1]") from None
    return check_drift(drift)


def check_drift(drift: Mapping[str, float]) -> dict[str, float]:
    """Check drift kinds and strengths.

    Args:
        drift: Kind -> strength.

    Returns:
        The same drift as a plain dict of floats.

    Raises:
        InvalidInputError: Unknown kind, or a strength outside [0, 1].

    """
    for kind, strength in drift.items():
        if kind not in DRIFT_KINDS:
            raise InvalidInputError(f"unknown drift kind {kind!r}: use one of {_allowed_kinds()}")
        if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
            raise InvalidInputError(f"drift {kind}={strength}: strength must be in [0, 1]")
    return {kind: float(strength) for kind, strength in drift.items()}


def simulate_players(
    source: pd.DataFrame, day: date, players: int, drift: Mapping[str, float], seed: int
) -> pd.DataFrame:
    """Draw one day of players from a labelled source table and apply drift.

    The simulator's world: every simulated player is as engaged as the source row it was drawn from (its label
    is that row's ``EngagementLevel``); drift changes how the game is played, not how engaged players are, so
    a model trained on the source data sees inputs it has not learned while the truth stays put. The same
    ``(day, seed)`` always gives the same players, and a drift changes only its own column.

    Args:
        source: Typed, labelled players (``validate_players(...).clean`` of a labelled file).
        day: The simulated day; it fixes the PlayerIDs and, with ``seed``, the random draws.
        players: How many players to draw (1 to 1,000,000).
        drift: Kind -> strength in [0, 1] (see ``DRIFT_KINDS``).
        seed: Non-negative random seed.

    Returns:
        The day's players in the raw schema's column order, label included, with new unique PlayerIDs;
        ``attrs["drift"]`` records the drift applied.

    Raises:
        InvalidInputError: Bad drift, player count or seed, or a source without rows or columns.

    """
    strengths = check_drift(drift)
    _check_request(players, seed)
    missing = [column for column in required_columns(True) if column not in source.columns]
    if missing:
        raise InvalidInputError(f"the simulator's source misses column(s): {', '.join(missing)}")
    if source.empty:
        raise InvalidInputError("the simulator's source has no rows: give it a labelled player file")
    rng = np.random.default_rng([seed, day.toordinal()])
    rows = rng.integers(0, len(source), size=players)
    # Drawn whatever the drift, so adding a drift changes its own column and leaves every other value as is.
    switches = rng.random(players) < strengths.get("genre_mix", 0.0)
    rows = _mix_rows(source, rows, strengths, rng)
    frame = source[list(required_columns(True))].iloc[rows].reset_index(drop=True)
    frame[ID_COLUMN] = day.toordinal() * IDS_PER_DAY + np.arange(players, dtype="int64")
    if "session_length" in strengths:  # the shipped data reports whole minutes
        minutes = frame["AvgSessionDurationMinutes"] * (1.0 - strengths["session_length"])
        frame["AvgSessionDurationMinutes"] = np.rint(minutes).astype(frame["AvgSessionDurationMinutes"].dtype)
    if "sessions_per_week" in strengths:
        sessions = frame["SessionsPerWeek"] * (1.0 - strengths["sessions_per_week"])
        frame["SessionsPerWeek"] = np.rint(sessions).astype(frame["SessionsPerWeek"].dtype)
    if "playtime" in strengths:
        frame["PlayTimeHours"] = frame["PlayTimeHours"] * (1.0 - strengths["playtime"])
    frame.loc[switches, "GameGenre"] = NEW_GENRE
    frame.attrs["drift"] = strengths
    return frame


def _mix_rows(
    source: pd.DataFrame, rows: np.ndarray, strengths: Mapping[str, float], rng: np.random.Generator
) -> np.ndarray:
    """Redraw a share of the day's players from a subset of the real players (label-consistent shifts)."""
    for kind, (column, value) in _MIX_KINDS.items():
        if strengths.get(kind, 0.0) <= 0.0:
            continue
        subset = np.flatnonzero(source[column].astype(str).to_numpy() == value)
        if len(subset) == 0:
            raise InvalidInputError(f"drift {kind}: the source has no player with {column} = {value}")
        chosen = rng.random(len(rows)) < strengths[kind]
        rows = rows.copy()
        rows[chosen] = subset[rng.integers(0, len(subset), size=int(chosen.sum()))]
    return rows


def publish_simulated_day(store: ObjectStore, settings: Settings, day: date, players: pd.DataFrame) -> SimulatedDay:
    """Write a simulated day: its batch, its hidden truth and, on a Sunday, the labels of the whole week.

    Everything is serialised and validated before the first write, so a frame that does not pass the
    package's own validation writes nothing. Each object is one PUT (never partial); the truth is written
    before the batch, so every batch that can be scored has truth to publish at the end of the week.

    Args:
        store: Where to write (the bucket of ``settings``).
        settings: Bucket and title prefix.
        day: The simulated day.
        players: The day's players, label included (from :func:`simulate_players`, whose ``attrs["drift"]``
            is reported back).

    Returns:
        What was written.

    Raises:
        InvalidInputError: Columns are missing.
        MLOpsError: Some rows fail validation (a bug in the simulator); nothing is written.

    """
    day_text = day.isoformat()
    batch_uri = daily_batch_input(settings, day_text)
    batch, truth = _checked_payloads(players, batch_uri)
    truth_uri = store.write_bytes(truth_key(settings, day_text), to_parquet_bytes(truth))
    store.write_bytes(parse_s3_uri(batch_uri)[1], batch, content_type="text/csv")
    published = publish_week_labels(store, settings, day) if day.isoweekday() == 7 else []
    drift = {str(kind): float(value) for kind, value in players.attrs.get("drift", {}).items()}
    return SimulatedDay(day_text, len(players), drift, batch_uri, truth_uri, published)


def publish_week_labels(store: ObjectStore, settings: Settings, week_end: date) -> list[str]:
    """Publish the hidden truth of every simulated day of the ISO week ending on ``week_end`` as labels.

    Args:
        store: Where the truth is kept and the labels go.
        settings: Title prefix.
        week_end: The week's Sunday.

    Returns:
        The days whose labels were published, oldest first (days that were not simulated are skipped).

    """
    monday = week_end - timedelta(days=week_end.isoweekday() - 1)
    published = []
    for one in (monday + timedelta(days=offset) for offset in range(7)):
        try:
            truth = store.read_bytes(truth_key(settings, one.isoformat()))
        except NotFoundError:  # a day of the week that was not simulated
            continue
        store.write_bytes(labels_key(settings, one.isoformat()), truth)
        published.append(one.isoformat())
    return published


def truth_key(settings: Settings, day: str) -> str:
    """Key of a simulated day's hidden ground truth (PlayerID, EngagementLevel)."""
    return f"{settings.s3_prefix}/simulator/truth/date={day}/labels.parquet"


def default_source() -> str:
    """Return the simulator's source: ``SIMULATOR_SOURCE`` when set, else the shipped dataset in the repository."""
    return os.environ.get(SOURCE_ENV) or str(Path(__file__).resolve().parent.parent / "data" / DATASET_NAME)


def load_source_players(source: str, store: ObjectStore | None) -> pd.DataFrame:
    """Read a labelled raw file with the package's own parsing and validation; invalid rows are left out.

    Args:
        source: Local path or ``s3://`` URI of a labelled player CSV (optionally gzip).
        store: Reads S3 URIs.

    Returns:
        The typed valid rows.

    Raises:
        NotFoundError: The file does not exist.
        InvalidInputError: It is not a labelled player file, or has no valid row.

    """
    if not source.startswith("s3://") and not Path(source).is_file():
        raise NotFoundError(f"simulator source {source} does not exist: pass --source or set {SOURCE_ENV}")
    clean = validate_players(load_raw_players(source, store)).clean
    if clean.empty:
        raise InvalidInputError(f"simulator source {source} has no valid rows")
    return clean


def run_simulation(
    settings: Settings,
    day: date | str,
    players: int,
    drift_specs: Sequence[str],
    seed: int,
    source_path: str | None = None,
) -> dict[str, Any]:
    """Simulate and publish one day (what ``mlops simulate`` runs).

    Args:
        settings: Where to write.
        day: The day, a date or ``YYYY-MM-DD``.
        players: Players to simulate.
        drift_specs: ``kind=strength`` texts.
        seed: Random seed.
        source_path: Labelled source file; default :func:`default_source`.

    Returns:
        :class:`SimulatedDay` as a dict, plus ``seed``, ``source`` and a one-line ``summary``.

    Raises:
        InvalidInputError: Bad day, drift, player count, seed or source.

    """
    from machine_learning.services import connect

    # Check the arguments before reading anything: a typo fails fast and offline.
    drift = parse_drift(drift_specs)
    when = date.fromisoformat(as_day(day, name="day"))
    _check_request(players, seed)
    source = source_path or default_source()
    store = connect(settings).store
    frame = simulate_players(load_source_players(source, store), when, players, drift, seed)
    simulated = publish_simulated_day(store, settings, when, frame)
    return {**simulated.to_dict(), "seed": seed, "source": source, "summary": simulated.describe()}


def _checked_payloads(players: pd.DataFrame, batch_uri: str) -> tuple[bytes, pd.DataFrame]:
    """Render the batch CSV and validate exactly those bytes (plus the labels) before anything is written."""
    missing = [column for column in required_columns(True) if column not in players.columns]
    if missing:
        raise InvalidInputError(f"simulated players miss column(s): {', '.join(missing)}")
    columns = players[list(required_columns(False))]
    # Whole-valued float columns (e.g. minutes) are written as integers, like the shipped CSV.
    whole = [name for name, values in columns.items() if values.dtype.kind == "f" and _all_whole(values)]
    batch = columns.astype(dict.fromkeys(whole, "int64")).to_csv(index=False).encode()
    parsed = parse_raw_players(batch, batch_uri, require_label=False)
    parsed[LABEL_COLUMN] = players[LABEL_COLUMN].astype(str).to_numpy()
    result = validate_players(parsed)
    if len(result.quarantine):
        raise MLOpsError(
            f"simulated batch for {batch_uri} has {len(result.quarantine)} invalid rows "
            f"({result.reason_counts()}): a simulator bug; nothing was written"
        )
    return batch, result.clean[[ID_COLUMN, LABEL_COLUMN]]


def _all_whole(values: pd.Series) -> bool:
    numbers = values.to_numpy()
    return bool(np.isfinite(numbers).all() and (numbers % 1 == 0).all())


def _check_request(players: int, seed: int) -> None:
    if not 1 <= players <= IDS_PER_DAY:
        raise InvalidInputError(f"players must be between 1 and {IDS_PER_DAY:,} per day, got {players}")
    if seed < 0:
        raise InvalidInputError(f"seed must be >= 0, got {seed}")


def _allowed_kinds() -> str:
    return ", ".join(DRIFT_KINDS)
