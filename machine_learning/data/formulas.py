"""CSV injection: cells a spreadsheet would run as formulas are neutralised in the CSV files we write.

The OWASP rule: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote, so Excel, LibreOffice and Google Sheets show it as text. A plain number such as ``-3`` (which
a spreadsheet reads as the number anyway) is left as it is, so quarantined values stay readable.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise_formula_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells cannot run as spreadsheet formulas (numeric columns are unchanged).

    Args:
        frame: A table about to be written as CSV.

    Returns:
        The same table; text cells starting with a formula character (other than plain numbers) get a ``'``
        prefix.

    """
    text_columns = [
        column
        for column in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_datetime64_any_dtype(frame[column])
    ]
    if not text_columns:
        return frame
    out = frame.copy()
    for column in text_columns:
        values = out[column].astype("string")
        risky = values.str.startswith(FORMULA_STARTS, na=False) & ~values.str.fullmatch(_PLAIN_NUMBER.pattern, na=False)
        if risky.any():
            out[column] = values.where(~risky, "'" + values)
    return out
