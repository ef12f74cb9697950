"""CSV injection: text a spreadsheet would run as a formula is neutralised, plain numbers stay numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from machine_learning.data.formulas import neutralise_formula_cells


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"]
)
def test_formula_cells_get_a_quote_prefix(cell):
    out = neutralise_formula_cells(pd.DataFrame({"Gender": [cell]}))
    assert out["Gender"].iloc[0] == "'" + cell


@pytest.mark.parametrize("cell", ["Male", "-3", "+4.5", "-1e3", "", "a=b", " =1"])
def test_other_cells_are_unchanged(cell):
    out = neutralise_formula_cells(pd.DataFrame({"Gender": [cell]}))
    assert out["Gender"].iloc[0] == cell


def test_numeric_columns_and_the_input_frame_are_unchanged():
    frame = pd.DataFrame({"Age": [-3, 5], "Gender": ["=1", "Male"]})
    out = neutralise_formula_cells(frame)
    assert out["Age"].tolist() == [-3, 5]
    assert frame["Gender"].tolist() == ["=1", "Male"]
