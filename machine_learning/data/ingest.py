"""Reading raw player files (CSV, optionally gzip-compressed) into text columns for validation."""

from __future__ import annotations

import gzip
import io
import warnings
import zlib

import pandas as pd

from machine_learning.data.schema import LABEL_COLUMN, required_columns
from machine_learning.errors import InvalidInputError

_GZIP_MAGIC = b"\x1f\x8b"


def parse_raw_players(data: bytes, name: str, require_label: bool = True) -> pd.DataFrame:
    """Parse a raw player CSV into a DataFrame of strings, one row per input line.

    Values stay text so that validation can say exactly what was wrong with each row.

    Args:
        data: The file's bytes (plain or gzip-compressed CSV; CRLF or LF line endings).
        name: The file's name or URI, used in error messages.
        require_label: Whether the label column must be present.

    Returns:
        The rows with the schema's columns (the label too, when present), all as strings.

    Raises:
        InvalidInputError: The file is empty, not a text CSV, or misses required columns.

    """
    text = _decode(data, name)
    if not text.strip():
        raise InvalidInputError(f"{name} is empty")
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row has more fields than the header, then drops them: refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # index_col=False: rows ending in a comma must not shift every value one column left.
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False
            )
    except pd.errors.ParserWarning:
        raise InvalidInputError(
            f"{name} is not a readable CSV file: some rows have more fields than the header"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        detail = " ".join(str(error).split())
        raise InvalidInputError(f"{name} is not a readable CSV file: {detail}") from None
    frame = select_schema_columns(frame, name, require_label)
    if frame.empty:
        raise InvalidInputError(f"{name} has a header but no rows")
    return frame


def select_schema_columns(frame: pd.DataFrame, name: str, require_label: bool) -> pd.DataFrame:
    """Check a frame's header against the schema and keep only the schema's columns.

    Args:
        frame: Rows read from a file (any extra columns are dropped).
        name: The file's name or URI, for messages.
        require_label: Whether the label column must be present.

    Returns:
        The schema's columns (and the label when present), in canonical order, with a fresh index.

    Raises:
        InvalidInputError: Required columns are missing (or none of them is there: not a player file).

    """
    frame.columns = [str(column).strip() for column in frame.columns]
    check_unique_columns(list(frame.columns), name)
    missing = [column for column in required_columns(require_label) if column not in frame.columns]
    if missing:
        if len(missing) >= len(required_columns(require_label)) - 1:
            raise InvalidInputError(f"{name} is not a player file: its header has none of the expected columns")
        raise InvalidInputError(f"{name} is missing required column(s): {', '.join(missing)}")
    keep = [*required_columns(False), *([LABEL_COLUMN] if LABEL_COLUMN in frame.columns else [])]
    return frame[keep].reset_index(drop=True)


def check_unique_columns(columns: list[str], name: str) -> None:
    """Refuse a header that names a schema column twice (which value would be the player's?).

    pandas renames a repeated ``Age`` to ``Age.1``; Arrow and Parquet keep both names. Either way it is refused.

    Raises:
        InvalidInputError: A schema column appears more than once.

    """
    wanted = {*required_columns(require_label=False), LABEL_COLUMN}
    seen = set(columns)
    repeated = {column for column in columns if column in wanted and columns.count(column) > 1}
    repeated |= {
        base
        for column in columns
        if (base := column.rpartition(".")[0]) in wanted and base in seen and column.rpartition(".")[2].isdigit()
    }
    if repeated:
        raise InvalidInputError(f"{name}: its header names column(s) {', '.join(sorted(repeated))} more than once")


def _decode(data: bytes, name: str) -> str:
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise InvalidInputError(f"{name} is a damaged gzip file: {error}") from None
    if b"\x00" in data[:4096]:
        raise InvalidInputError(f"{name} is not a CSV file (it contains binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{name} is not a CSV file (it is not UTF-8 text)") from None
