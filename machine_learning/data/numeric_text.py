"""Vectorised parsing of plain numbers in Arrow text columns, equal to what ``pandas.to_numeric`` gives.

``pd.to_numeric`` on Python strings costs about 0.4 s per million cells, most of a batch's validation time. The
cells of a real batch are nearly all plain numbers (digits, at most one decimal point). This module parses those
with Arrow kernels and numpy, and reports which cells it did not parse, so that the caller can hand them to
``to_numeric`` and keep its exact messages for bad values.

The values must be bit-for-bit those of ``to_numeric`` (training data is parsed by it): integers are exact, and
decimals reproduce pandas' parser (``precise_xstrtod``), which is not always correctly rounded: it accumulates at
most 17 digits in a double (rounding once the value passes 2**53) and then divides by a power of ten.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_DIGITS = 18  # the digits of a plain number must fit an int64
_PANDAS_DIGITS = 17  # pandas' parser ignores digits after the 17th
_EXACT_DIGITS = 15  # up to 15 digits, the accumulated value is exact (below 2**53)
# The powers of ten as the C compiler reads the literals 1e0..1e308 (correctly rounded, like float("1eN")).
_POWERS_OF_TEN = np.array([float(f"1e{exponent}") for exponent in range(309)])
_INTEGER_POWERS = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)
_TENS, _ONES = np.divmod(np.arange(100, dtype=np.int8), np.int8(10))  # the digits of 0..99


@dataclass(frozen=True)
class ParsedNumbers:
    """Values of the cells that are plain numbers.

    Attributes:
        values: int64 (integer parsing) or float64 values; meaningless where ``parsed`` is False.
        parsed: Which cells were plain numbers. None means all of them.

    """

    values: np.ndarray
    parsed: np.ndarray | None


def parse_plain_numbers(text: pa.Array, integer: bool) -> ParsedNumbers:
    """Parse the plain-number cells of a text column.

    Args:
        text: Non-null strings.
        integer: Parse digit-only cells as exact int64 (decimals are then left unparsed); otherwise parse digits
            with an optional decimal point as float64 (whole numbers exactly, like to_numeric's int64 result).

    Returns:
        The values and which cells they are valid for.

    """
    # Check before casting: a cast that fails costs twenty times one that succeeds.
    whole = _is_plain(text)
    if integer or whole.all():
        values = _cast_integers(text, whole)
        return ParsedNumbers(values if integer else values.astype("float64"), None if whole.all() else whole)
    point = pc.find_substring(text, ".").to_numpy(zero_copy_only=False)  # int32, like the lengths: half the memory
    length = pc.binary_length(text).to_numpy(zero_copy_only=False)
    mantissa, plain = _mantissas(text, point, length)
    whole_digits = np.where(point >= 0, point, length)
    fraction_digits = np.where(point >= 0, length - point - 1, 0)
    values = _pandas_decimals(mantissa, whole_digits, fraction_digits)
    return ParsedNumbers(values, None if plain.all() else plain)


def _mantissas(text: pa.Array, point: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the digits of each cell without its (first) decimal point as an int64, and which cells are plain.

    Cells are grouped by where their point is: removing a fixed slice is a copy, unlike a substring search.
    A plain cell has 1 to MAX_DIGITS digits and at most one point (a second one is not a digit).
    """
    mantissa = np.zeros(len(text), dtype=np.int64)
    plain = np.zeros(len(text), dtype=bool)
    candidate = length <= MAX_DIGITS + 1
    for position in (np.flatnonzero(np.bincount(point[candidate] + 1)) - 1).tolist():
        rows = candidate & (point == position)
        everything = bool(rows.all())
        part = text if everything else text.filter(pa.array(rows))
        if position >= 0:
            part = pc.binary_replace_slice(part, start=position, stop=position + 1, replacement="")
        ok = _is_plain(part)
        found = _cast_integers(part, ok)
        if everything:
            mantissa, plain = found, ok
        else:
            mantissa[rows], plain[rows] = found, ok
    return mantissa, plain


def _cast_integers(text: pa.Array, plain: np.ndarray) -> np.ndarray:
    """Exact int64 values of the plain cells (0 elsewhere)."""
    if plain.all():
        return np.asarray(pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False))
    values = np.zeros(len(text), dtype=np.int64)
    values[plain] = pc.cast(text.filter(pa.array(plain)), pa.int64()).to_numpy(zero_copy_only=False)
    return values


def _is_plain(digits: pa.Array) -> np.ndarray:
    """Cells whose digits (the text without its decimal point) are 1 to MAX_DIGITS ASCII digits."""
    is_digits = pc.ascii_is_decimal(digits).to_numpy(zero_copy_only=False)
    length = pc.binary_length(digits).to_numpy(zero_copy_only=False)
    return np.asarray(is_digits & (length <= MAX_DIGITS), dtype=bool)


def _pandas_decimals(mantissa: np.ndarray, whole: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """``precise_xstrtod`` of plain decimals: digits accumulated in a double, then scaled by a power of ten.

    Args:
        mantissa: The cell's digits as one integer (0 where the cell is not plain).
        whole: Digits before the point.
        fraction: Digits after it.

    """
    # Digits after the 17th are dropped: in the whole part each one raises the exponent, decimals just vanish.
    whole_used = np.minimum(whole, _PANDAS_DIGITS)
    fraction_used = np.minimum(fraction, _PANDAS_DIGITS - whole_used)
    used = whole_used + fraction_used
    dropped = whole + fraction - used
    kept = mantissa // _INTEGER_POWERS[dropped] if dropped.any() else mantissa
    exponent = (whole - whole_used) - fraction_used
    # The first 15 digits accumulate exactly; the 16th and 17th are added one rounding step at a time.
    extra = np.maximum(used - _EXACT_DIGITS, 0)
    if extra.any():  # extra is 0, 1 or 2: the last `extra` digits are added one at a time, as pandas does
        head, rest = np.divmod(kept, _INTEGER_POWERS[extra])
        number = head.astype("float64")
        number = np.where(extra >= 1, number * 10.0 + np.where(extra == 2, _TENS[rest], rest), number)
        number = np.where(extra == 2, number * 10.0 + _ONES[rest], number)
    else:
        number = kept.astype("float64")
    scaled = number / _POWERS_OF_TEN[np.clip(-exponent, 0, 308)]
    up = exponent > 0
    if up.any():
        scaled[up] = number[up] * _POWERS_OF_TEN[np.clip(exponent[up], 0, 308)]
    return scaled
