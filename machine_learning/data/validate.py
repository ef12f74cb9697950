"""Row-level validation of raw player data: valid rows are typed, invalid ones quarantined with reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from machine_learning.data.numeric_text import parse_plain_numbers
from machine_learning.data.schema import (
    CATEGORY_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    LABEL_SPEC,
    NUMERIC_COLUMNS,
    CategoryColumn,
    NumericColumn,
)
from machine_learning.errors import InvalidInputError

REASON_COLUMN = "quarantine_reason"


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one batch.

    Attributes:
        clean: Valid rows with proper dtypes, in input order.
        quarantine: Invalid rows as they arrived (text), with a ``quarantine_reason`` column.
        reasons: Count of failures per reason kind (column and kind, without the value).
        valid: One flag per input row, in input order: True where the row is in ``clean``.

    """

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def input_rows(self) -> int:
        """Number of rows validated."""
        return len(self.clean) + len(self.quarantine)

    @property
    def quarantine_share(self) -> float:
        """Share of rows that failed validation."""
        return len(self.quarantine) / self.input_rows if self.input_rows else 0.0

    def reason_counts(self) -> dict[str, int]:
        """Count quarantined rows per reason (a row with several reasons counts in each), most common first."""
        return dict(Counter(self.reasons).most_common())


def validate_players(raw: pd.DataFrame) -> ValidationResult:
    """Validate raw player rows against the schema.

    Checks missing values, numeric types and ranges, allowed categories (and labels, when the label column is
    present) and duplicate PlayerIDs (every row sharing an ID is quarantined: which one is right is unknown).

    Args:
        raw: Text columns as produced by :func:`machine_learning.data.ingest.parse_raw_players`. Batch scoring
            also passes Arrow text (CSV) and typed numbers (Parquet): these take vectorised paths with the same
            values, reasons and quarantined text (typed numbers are quarantined as the text a CSV would hold).
            Arrow text categories come back as ``Categorical`` columns over the allowed values (the predictor
            reads their codes; the batch writers write them as text), Python text ones as Python strings.

    Returns:
        The typed valid rows and the quarantined rows with their reasons.

    """
    # Each check returns its reasons only for failing rows (an empty Series when the column is clean), so a
    # clean batch of millions of rows costs little more than the numeric parsing itself.
    reasons: list[pd.Series] = []
    typed: dict[str, pd.Series] = {}
    typed[ID_COLUMN], id_reasons = _check_numeric(raw[ID_COLUMN], NumericColumn(ID_COLUMN, 0, 2**62))
    reasons.append(id_reasons)
    duplicated = typed[ID_COLUMN].notna() & typed[ID_COLUMN].duplicated(keep=False)
    reasons.append(pd.Series(f"{ID_COLUMN}: duplicate", index=raw.index[duplicated], dtype=object))
    for spec in NUMERIC_COLUMNS:
        typed[spec.name], column_reasons = _check_numeric(raw[spec.name], spec)
        reasons.append(column_reasons)
    categories = [*CATEGORY_COLUMNS, *([LABEL_SPEC] if LABEL_COLUMN in raw.columns else [])]
    for category in categories:
        typed[category.name], column_reasons = _check_category(raw[category.name], category)
        reasons.append(column_reasons)
    failures = pd.concat(reasons)
    joined = failures.groupby(level=0, sort=True).agg("; ".join) if len(failures) else failures
    bad = raw.index.isin(joined.index)
    clean = pd.DataFrame({column: typed[column] for column in raw.columns})
    if bad.any():  # a clean batch skips the copies of filtering
        clean = clean[~bad]
    for spec in (NumericColumn(ID_COLUMN, 0, 0), *NUMERIC_COLUMNS):
        dtype = "int64" if spec.integer else "float64"
        if clean[spec.name].dtype != dtype:
            clean[spec.name] = clean[spec.name].astype(dtype)
    rejected = raw[bad]
    quarantine = rejected.assign(
        **{column: as_text(rejected[column]) for column in raw.columns if rejected[column].dtype != object},
        **{REASON_COLUMN: joined.reindex(raw.index[bad]).to_numpy()},
    )
    kinds: Counter[str] = Counter(_reason_kind(reason) for reason in failures)
    clean.index = pd.RangeIndex(len(clean))
    return ValidationResult(
        clean=clean,
        quarantine=quarantine.reset_index(drop=True),
        reasons=dict(kinds),
        valid=~np.asarray(bad),
    )


def enforce_quarantine_share(
    quarantined: int, total: int, reasons: dict[str, int], limit: float, source: str, detail: str = ""
) -> None:
    """Reject a batch whose share of invalid rows is above the limit, naming the most common problems.

    Args:
        quarantined: Invalid rows.
        total: Rows validated.
        reasons: Failures per reason kind, most common first.
        limit: Largest acceptable share of invalid rows (``MAX_QUARANTINE_SHARE``).
        source: The batch's name, for the message.
        detail: Appended to the message (e.g. the first rejected rows).

    Raises:
        InvalidInputError: The share is above the limit.

    """
    share = quarantined / total if total else 0.0
    if share <= limit:
        return
    top = ", ".join(f"{reason} ({count} rows)" for reason, count in list(reasons.items())[:5])
    raise InvalidInputError(
        f"{source}: {quarantined} of {total} rows ({share:.1%}) failed validation, more than the {limit:.1%} "
        f"allowed (MAX_QUARANTINE_SHARE): {top}{detail}"
    )


def _check_numeric(values: pd.Series, spec: NumericColumn) -> tuple[pd.Series, pd.Series]:
    numbers = _parse_numbers(values, spec)
    failed = numbers.isna() | np.isinf(numbers)
    reasons = []
    if failed.any():
        # Retry the failures with whitespace stripped (stripping every cell of a big batch costs seconds).
        text = as_text(values[failed]).astype(str).str.strip()
        retried = pd.to_numeric(text, errors="coerce")
        numbers = numbers.astype("float64")
        numbers[failed] = retried
        bad = retried.isna() | np.isinf(retried)
        missing = bad & (text == "")
        reasons.append(pd.Series(f"{spec.name}: missing", index=text.index[missing], dtype=object))
        reasons.append(f"{spec.name}: not a number (" + text[bad & ~missing] + ")")
        numbers[text.index[bad]] = np.nan
    fraction = (numbers % 1 != 0) & numbers.notna() if spec.integer else pd.Series(False, index=values.index)
    out_of_range = ~fraction & ((numbers < spec.low) | (numbers > spec.high))
    if fraction.any():
        reasons.append(f"{spec.name}: not a whole number (" + values[fraction].astype(str).str.strip() + ")")
    if out_of_range.any():
        shown = values[out_of_range].astype(str).str.strip()
        reasons.append(f"{spec.name}: " + shown + f" outside [{spec.low:g}, {spec.high:g}]")
    bad_rows = fraction | out_of_range
    return (numbers.where(~bad_rows) if bad_rows.any() else numbers), _concat(reasons)


def _parse_numbers(values: pd.Series, spec: NumericColumn) -> pd.Series:
    """Numbers as ``to_numeric`` gives them, NaN where it fails; typed and Arrow text columns take fast paths."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values  # typed input (Parquet): the values as stored; NaN and inf fail as for text
    if not _is_arrow_text(values):
        return pd.to_numeric(values, errors="coerce")
    parsed = parse_plain_numbers(_arrow_array(values), integer=spec.integer)
    if parsed.parsed is None:
        return pd.Series(parsed.values, index=values.index)
    # The few cells that are not plain numbers ("1e3", " 7 ", "x"...) go through to_numeric, as in the text path.
    others = pd.to_numeric(values[~parsed.parsed].astype(object), errors="coerce").to_numpy()
    numbers = np.empty(len(values), dtype=np.result_type(parsed.values.dtype, others.dtype))
    numbers[parsed.parsed] = parsed.values[parsed.parsed]
    numbers[~parsed.parsed] = others
    return pd.Series(numbers, index=values.index)


def _check_category(values: pd.Series, spec: CategoryColumn) -> tuple[pd.Series, pd.Series]:
    if _is_arrow_text(values):
        return _check_arrow_category(values, spec)
    unknown_fast = ~values.isin(spec.allowed)
    if not unknown_fast.any():
        return values, _concat([])
    text = values.copy()
    text[unknown_fast] = values[unknown_fast].astype(str).str.strip()
    missing = unknown_fast & (text == "")
    unknown = unknown_fast & ~missing & ~text.isin(spec.allowed)
    reasons = [
        pd.Series(f"{spec.name}: missing", index=values.index[missing], dtype=object),
        f"{spec.name}: unknown category '" + text[unknown] + f"' (allowed: {', '.join(spec.allowed)})",
    ]
    return text, _concat(reasons)


def _check_arrow_category(values: pd.Series, spec: CategoryColumn) -> tuple[pd.Series, pd.Series]:
    """Check each distinct value once; valid rows become a ``Categorical`` over ``spec.allowed`` (no strings).

    The decisions are those of the text path: a value is valid as it is or with its whitespace stripped, and
    the reasons name the stripped value. Rows with a reason get no category (they are quarantined).
    """
    encoded = _arrow_array(values).dictionary_encode()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    position = {category: code for code, category in enumerate(spec.allowed)}
    allowed = ", ".join(spec.allowed)
    codes: list[int] = []
    reasons: list[str | None] = []
    for value in encoded.dictionary.to_pylist():
        stripped = value if value in position else value.strip()
        codes.append(position.get(stripped, -1))
        if stripped == "":
            reasons.append(f"{spec.name}: missing")
        else:
            known = stripped in position
            reasons.append(None if known else f"{spec.name}: unknown category '{stripped}' (allowed: {allowed})")
    row_codes = np.asarray(codes, dtype=np.int16)[indices] if codes else np.zeros(0, dtype=np.int16)
    column = pd.Series(pd.Categorical.from_codes(row_codes, categories=list(spec.allowed)), index=values.index)
    failing = np.flatnonzero(row_codes < 0)
    if not len(failing):
        return column, _concat([])
    texts = np.asarray(reasons, dtype=object)[indices[failing]]
    return column, pd.Series(texts, index=values.index[failing], dtype=object)


def as_text(values: pd.Series) -> pd.Series:
    """Cells as the text a CSV would hold (floats in their shortest round-trip form; missing values empty).

    Args:
        values: One column of any type (typed Parquet columns, Arrow strings, Python strings).

    Returns:
        The column as Python strings.

    """
    if pd.api.types.is_float_dtype(values.dtype):
        text = values.astype(str)  # numpy's shortest round-trip repr, vectorised
        text[values.isna()] = ""
        return text
    if values.dtype == object:
        return values
    return values.astype("string").fillna("").astype(object)


def _is_arrow_text(values: pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _arrow_array(values: pd.Series) -> pa.Array:
    """Return the column as one Arrow string array, missing cells empty (as in a CSV)."""
    array = pa.array(values.array)
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    return array.fill_null("") if array.null_count else array


def _concat(parts: list[pd.Series]) -> pd.Series:
    parts = [part for part in parts if len(part)]
    return pd.concat(parts) if parts else pd.Series(dtype=object)


def _reason_kind(reason: str) -> str:
    """Group reasons by column and kind, without the offending value, for summaries."""
    column, _, detail = reason.partition(": ")
    for kind in ("missing", "duplicate", "not a number", "not a whole number", "unknown category"):
        if detail.startswith(kind):
            return f"{column}: {kind}"
    return f"{column}: out of range"
