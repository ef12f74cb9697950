"""Row-level validation of raw player data: valid rows are typed, invalid ones quarantined with reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from machine_learning.data.schema import (
    CATEGORY_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    LABEL_SPEC,
    NUMERIC_COLUMNS,
    CategoryColumn,
    NumericColumn,
)

REASON_COLUMN = "quarantine_reason"


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one batch.

    Attributes:
        clean: Valid rows with proper dtypes, in input order.
        quarantine: Invalid rows as they arrived (text), with a ``quarantine_reason`` column.

    """

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)

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
        raw: Text columns as produced by :func:`machine_learning.data.ingest.parse_raw_players`.

    Returns:
        The typed valid rows and the quarantined rows with their reasons.

    """
    reasons = pd.DataFrame(index=raw.index)
    typed: dict[str, pd.Series] = {}
    typed[ID_COLUMN], reasons[ID_COLUMN] = _check_numeric(raw[ID_COLUMN], NumericColumn(ID_COLUMN, 0, 2**62))
    duplicated = typed[ID_COLUMN].notna() & typed[ID_COLUMN].duplicated(keep=False)
    reasons["duplicate"] = np.where(duplicated, f"{ID_COLUMN}: duplicate", "")
    for spec in NUMERIC_COLUMNS:
        typed[spec.name], reasons[spec.name] = _check_numeric(raw[spec.name], spec)
    categories = [*CATEGORY_COLUMNS, *([LABEL_SPEC] if LABEL_COLUMN in raw.columns else [])]
    for category in categories:
        typed[category.name], reasons[category.name] = _check_category(raw[category.name], category)
    joined = reasons.apply(lambda row: "; ".join(reason for reason in row if reason), axis=1)
    bad = joined != "" if len(raw) else pd.Series(dtype=bool)
    clean = pd.DataFrame({column: typed[column] for column in raw.columns})[~bad]
    for spec in (NumericColumn(ID_COLUMN, 0, 0), *NUMERIC_COLUMNS):
        clean[spec.name] = clean[spec.name].astype("int64" if spec.integer else "float64")
    quarantine = raw[bad].assign(**{REASON_COLUMN: joined[bad]})
    kinds: Counter[str] = Counter(_reason_kind(reason) for column in reasons for reason in reasons[column] if reason)
    return ValidationResult(
        clean=clean.reset_index(drop=True), quarantine=quarantine.reset_index(drop=True), reasons=dict(kinds)
    )


def _check_numeric(values: pd.Series, spec: NumericColumn) -> tuple[pd.Series, pd.Series]:
    text = values.str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    missing = text == ""
    not_number = ~missing & (numbers.isna() | ~np.isfinite(numbers.fillna(0)))
    fraction = ~missing & ~not_number & spec.integer & (numbers % 1 != 0)
    out_of_range = ~missing & ~not_number & ~fraction & ((numbers < spec.low) | (numbers > spec.high))
    reason = pd.Series("", index=values.index)
    reason[missing] = f"{spec.name}: missing"
    reason[not_number] = f"{spec.name}: not a number (" + text[not_number] + ")"
    reason[fraction] = f"{spec.name}: not a whole number (" + text[fraction] + ")"
    bounds = f"outside [{spec.low:g}, {spec.high:g}]"
    reason[out_of_range] = f"{spec.name}: " + text[out_of_range] + f" {bounds}"
    return numbers.where(reason == ""), reason


def _check_category(values: pd.Series, spec: CategoryColumn) -> tuple[pd.Series, pd.Series]:
    text = values.str.strip()
    missing = text == ""
    unknown = ~missing & ~text.isin(spec.allowed)
    reason = pd.Series("", index=values.index)
    reason[missing] = f"{spec.name}: missing"
    reason[unknown] = f"{spec.name}: unknown category '" + text[unknown] + f"' (allowed: {', '.join(spec.allowed)})"
    return text, reason


def _reason_kind(reason: str) -> str:
    """Group reasons by column and kind, without the offending value, for summaries."""
    column, _, detail = reason.partition(": ")
    for kind in ("missing", "duplicate", "not a number", "not a whole number", "unknown category"):
        if detail.startswith(kind):
            return f"{column}: {kind}"
    return f"{column}: out of range"
