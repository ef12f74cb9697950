"""Data preparation: validate a raw batch, quarantine bad rows, and publish the processed datasets atomically.

Layout under ``<bucket>/<game_title>/processed/``: each run writes its objects under ``runs/<run_id>/`` and then
``latest.json`` (the manifest) is replaced in one PUT. Readers follow the manifest, so a run that fails part-way
is never seen and earlier runs stay intact.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.schema import DEMOGRAPHIC_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.data.validate import REASON_COLUMN, ValidationResult, enforce_quarantine_share, validate_players
from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri, read_source_bytes, to_parquet_bytes


@dataclass(frozen=True)
class PreparedData:
    """What a preparation run published (this is also the content of the manifest)."""

    run_id: str
    source: str
    input_rows: int
    processed_rows: int
    quarantined_rows: int
    quarantine_reasons: dict[str, int]
    fingerprint: str
    players_uri: str
    features_uri: str
    quarantine_uri: str
    created_at: str
    label_days_uri: str = ""  # PlayerID -> label_day of rows that came from labelled days (retraining data)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dict (used as the manifest and as Mage block output)."""
        return asdict(self)


def manifest_key(settings: Settings) -> str:
    """Key of the manifest that points at the latest processed dataset."""
    return f"{settings.s3_prefix}/processed/latest.json"


def load_raw_players(source: str, store: ObjectStore | None) -> pd.DataFrame:
    """Read and parse a raw labelled player CSV from a local path or an S3 URI.

    Args:
        source: Local path or ``s3://`` URI of a CSV (optionally gzip-compressed).
        store: Object store whose client reads S3 URIs (not needed for local files).

    Returns:
        The raw rows as text columns.

    Raises:
        InvalidInputError: The file is empty, not a CSV, or misses columns.
        NotFoundError: The file does not exist.

    """
    return parse_raw_players(read_source_bytes(source, store), source, require_label=True)


def prepare_players(
    raw: pd.DataFrame,
    store: ObjectStore,
    settings: Settings,
    source: str,
    label_days: pd.DataFrame | None = None,
) -> PreparedData:
    """Validate raw rows and publish processed, feature and quarantine tables as Parquet.

    Args:
        raw: Raw rows (text columns) including the label.
        store: Where to write.
        settings: Title prefix and the maximum share of invalid rows.
        source: Where the rows came from, recorded in the manifest.
        label_days: ``PlayerID`` and ``label_day`` of the rows that came from labelled days, published beside
            the players so training can weigh rows by age.

    Returns:
        A description of what was published.

    Raises:
        InvalidInputError: More rows are invalid than ``max_quarantine_share`` allows; nothing is written.

    """
    result = validate_players(raw)
    check_quarantine_share(result, settings.max_quarantine_share, source)
    return publish_prepared(result, store, settings, source, label_days)


def publish_prepared(
    result: ValidationResult,
    store: ObjectStore,
    settings: Settings,
    source: str,
    label_days: pd.DataFrame | None = None,
) -> PreparedData:
    """Publish an accepted validation result: run objects first, the manifest last (the commit point).

    Args:
        result: A validation result that passed :func:`check_quarantine_share`.
        store: Where to write.
        settings: Title prefix.
        source: Where the rows came from, recorded in the manifest.
        label_days: Optional ``PlayerID`` -> ``label_day`` table, published with the run.

    Returns:
        A description of what was published.

    """
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    base = f"{settings.s3_prefix}/processed/runs/{run_id}"
    # Serialise everything before the first write, so a bad frame cannot leave a half-published run.
    payloads = {
        "players": to_parquet_bytes(result.clean),
        "features": to_parquet_bytes(result.clean[[ID_COLUMN, *DEMOGRAPHIC_COLUMNS]]),
        "quarantine": to_parquet_bytes(result.quarantine),
        **({"label_days": to_parquet_bytes(label_days)} if label_days is not None else {}),
    }
    uris = {name: store.write_bytes(f"{base}/{name}.parquet", data) for name, data in payloads.items()}
    prepared = PreparedData(
        run_id=run_id,
        source=source,
        input_rows=result.input_rows,
        processed_rows=len(result.clean),
        quarantined_rows=len(result.quarantine),
        quarantine_reasons=result.reason_counts(),
        fingerprint=fingerprint_frame(result.clean),
        players_uri=uris["players"],
        features_uri=uris["features"],
        quarantine_uri=uris["quarantine"],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        label_days_uri=uris.get("label_days", ""),
    )
    store.write_json(manifest_key(settings), prepared.to_dict())
    return prepared


def check_quarantine_share(result: ValidationResult, limit: float, source: str) -> None:
    """Reject a batch whose share of invalid rows is above the limit, naming the problems.

    Args:
        result: The validation outcome.
        limit: Largest acceptable share of quarantined rows.
        source: The batch's name, for the message.

    Raises:
        InvalidInputError: The share is above the limit.

    """
    examples = result.quarantine[[ID_COLUMN, REASON_COLUMN]].head(3).to_dict("records")
    enforce_quarantine_share(
        len(result.quarantine), result.input_rows, result.reason_counts(), limit, source, f"; first rows: {examples}"
    )


def load_prepared_players(store: ObjectStore, settings: Settings) -> pd.DataFrame:
    """Read the latest processed (valid, typed, labelled) player table.

    Args:
        store: Where the processed data lives.
        settings: Title prefix.

    Returns:
        The processed rows of the run the manifest points at; with a ``label_day`` column (empty for rows
        without one) when the run came from retraining data.

    Raises:
        NotFoundError: No preparation run has been published for this title yet.

    """
    try:
        manifest = PreparedData(**store.read_json(manifest_key(settings)))
    except NotFoundError:
        raise NotFoundError(
            f"no processed data for game title '{settings.game_title}': run data preparation first"
        ) from None
    _, key = parse_s3_uri(manifest.players_uri)
    frame = store.read_parquet(key)
    if LABEL_COLUMN not in frame.columns:
        raise InvalidInputError(f"{manifest.players_uri} has no {LABEL_COLUMN} column")
    if manifest.label_days_uri:
        days = store.read_parquet(parse_s3_uri(manifest.label_days_uri)[1])
        frame = frame.merge(days, on=ID_COLUMN, how="left", validate="one_to_one")
        frame["label_day"] = frame["label_day"].fillna("")
    return frame


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Return a stable content hash of a table (row order and values), recorded with every model trained on it."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(hashed + ",".join(frame.columns).encode()).hexdigest()[:16]
