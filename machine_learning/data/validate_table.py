"""Validation of an Arrow table column by column: :func:`validate_players`' results without a pandas frame.

Batch scoring reads Arrow tables (CSV text, Parquet typed numbers). Nearly every row of a real batch is plainly
valid, so each column gets one vectorised check that accepts only values the row-wise rules certainly accept
with the same typed value: plain numbers inside the range (parsed by :mod:`machine_learning.data.numeric_text`,
bit-for-bit ``to_numeric``), finite typed numbers, categories spelled exactly as allowed, unique ids. The few
rows that fail a check (and every row sharing a duplicate id) go through :func:`validate_players` itself, so
their reasons, quarantined text and typed values are the row-wise path's by construction; a test compares the
two paths on every kind of bad cell. Tables that this check does not cover (ids that are not plain numbers,
column types other than text and numbers) are validated by :func:`validate_players` whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
from machine_learning.data.validate import REASON_COLUMN, ValidationResult, as_text, validate_players

_ID_SPEC = NumericColumn(ID_COLUMN, 0, 2**62)
_NUMERIC = {spec.name: spec for spec in NUMERIC_COLUMNS}


@dataclass(frozen=True)
class TableValidation:
    """The outcome of validating one table, the valid rows as typed columns.

    Attributes:
        columns: Valid rows per column, in input order: int64 / float64 arrays for numbers, ``Categorical``
            over the allowed values for categories (Python strings when the table came as Python text).
        quarantine: Invalid rows as they arrived (text), with a ``quarantine_reason`` column.
        reasons: Count of failures per reason kind.
        valid: One flag per input row: True where the row is in ``columns``.

    """

    columns: dict[str, Any]
    quarantine: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def clean_rows(self) -> int:
        """Number of valid rows."""
        return int(self.valid.sum())

    def clean_frame(self) -> pd.DataFrame:
        """Return the valid rows as the frame :func:`validate_players` gives (its ``clean``)."""
        return pd.DataFrame(self.columns)


def validate_player_table(table: pa.Table) -> TableValidation:
    """Validate a table of raw player rows (schema columns only, in canonical order), as validate_players does.

    Args:
        table: Text columns (CSV) or typed numbers and text (Parquet).

    Returns:
        The typed valid rows, the quarantined rows with their reasons, and the per-row flags.

    """
    checked = _check_columns(table)
    if checked is None:  # not covered by the column checks: the row-wise path on the whole table
        return from_validation_result(validate_players(frame_for_validation(table)))
    values, passed = checked
    suspect = ~np.logical_and.reduce(list(passed.values()))
    suspect |= pd.Series(values[ID_COLUMN]).duplicated(keep=False).to_numpy()
    if not suspect.any():
        empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in [*table.column_names, REASON_COLUMN]})
        return TableValidation(_with_categories(values, table), empty, {}, np.ones(table.num_rows, dtype=bool))
    # Every row sharing an id is a suspect, so the row-wise duplicate check sees each group whole.
    rows = np.flatnonzero(suspect)
    checked_rows = validate_players(frame_for_validation(table.take(pa.array(rows))))
    accepted = rows[checked_rows.valid]
    valid = ~suspect
    valid[accepted] = True
    columns = {}
    for name, column in values.items():
        if len(accepted):
            column = column.copy()
            column[accepted] = _as_values(checked_rows.clean[name], column)
        columns[name] = column[valid]
    return TableValidation(_with_categories(columns, table), checked_rows.quarantine, checked_rows.reasons, valid)


def _with_categories(columns: dict[str, np.ndarray], table: pa.Table) -> dict[str, Any]:
    """Category columns' codes as ``Categorical`` over the allowed values (what the predictor reads)."""
    typed: dict[str, Any] = dict(columns)
    for spec in _category_specs(table):
        typed[spec.name] = pd.Categorical.from_codes(columns[spec.name], categories=list(spec.allowed))
    return typed


def from_validation_result(result: ValidationResult) -> TableValidation:
    """Express a :func:`validate_players` result as a :class:`TableValidation`."""
    columns = {
        name: result.clean[name].array
        if isinstance(result.clean[name].dtype, pd.CategoricalDtype)
        else result.clean[name].to_numpy()
        for name in result.clean.columns
    }
    return TableValidation(columns, result.quarantine, result.reasons, result.valid)


def frame_for_validation(table: pa.Table) -> pd.DataFrame:
    """Turn an Arrow table into the frame :func:`validate_players` expects (numbers typed, text as Arrow text).

    Numbers stay typed and text stays Arrow text: validation checks both as it checks a CSV's text. Any other
    type (booleans, dates, dictionaries...) is turned into the text a CSV would hold.
    """
    frame = table.to_pandas(types_mapper=_arrow_strings)
    for column in frame.columns:
        if not _typed_for_validation(frame[column]):
            frame[column] = as_text(frame[column])
    return frame


def _check_columns(table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """Each column's values and which cells certainly pass (category columns as codes), or None: not covered."""
    if table.num_rows == 0:
        return None
    values: dict[str, np.ndarray] = {}
    passed: dict[str, np.ndarray] = {}
    categories = {spec.name: spec for spec in _category_specs(table)}
    for name in table.column_names:
        column = table.column(name)
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if name in categories:
            checked = _check_category(array, categories[name])
        else:
            checked = _check_number(array, _ID_SPEC if name == ID_COLUMN else _NUMERIC[name])
        if checked is None:
            return None
        values[name], passed[name] = checked
    if not passed[ID_COLUMN].all():  # the row-wise duplicate check compares ids as it parsed them
        return None
    return values, passed


def _check_number(array: pa.Array, spec: NumericColumn) -> tuple[np.ndarray, np.ndarray] | None:
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parsed = parse_plain_numbers(array.fill_null("") if array.null_count else array, integer=spec.integer)
        numbers = parsed.values
        passed = np.ones(len(array), dtype=bool) if parsed.parsed is None else parsed.parsed.copy()
    elif (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and not pa.types.is_float16(kind):
        numbers = array.to_numpy(zero_copy_only=False)  # nulls: NaN (floats) or a float array (integers)
        passed = np.isfinite(numbers) if numbers.dtype.kind == "f" else np.ones(len(numbers), dtype=bool)
        if spec.integer and numbers.dtype.kind == "f":
            passed &= np.where(passed, numbers, 0) % 1 == 0
    else:
        return None
    with np.errstate(invalid="ignore"):
        passed &= (numbers >= spec.low) & (numbers <= spec.high)
    target = "int64" if spec.integer else "float64"
    return np.where(passed, numbers, 0).astype(target), passed


def _check_category(array: pa.Array, spec: CategoryColumn) -> tuple[np.ndarray, np.ndarray] | None:
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    found = pc.index_in(array.fill_null("") if array.null_count else array, value_set=pa.array(spec.allowed))
    codes = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
    return codes, codes >= 0


def _as_values(checked: pd.Series, like: np.ndarray) -> np.ndarray:
    """Return the row-wise path's typed values in the column's representation (category codes, numbers)."""
    if isinstance(checked.dtype, pd.CategoricalDtype):
        return np.asarray(checked.cat.codes, dtype=like.dtype)
    return checked.to_numpy(dtype=like.dtype)


def _category_specs(table: pa.Table) -> list[CategoryColumn]:
    return [*CATEGORY_COLUMNS, *([LABEL_SPEC] if LABEL_COLUMN in table.column_names else [])]


def _arrow_strings(dtype: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(dtype) if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) else None


def _typed_for_validation(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.ArrowDtype):
        return True
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
