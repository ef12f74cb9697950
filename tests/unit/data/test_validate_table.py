import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from unit_helpers import raw_frame, raw_rows

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN, NUMERIC_COLUMNS
from machine_learning.data.validate import validate_players
from machine_learning.data.validate_table import frame_for_validation, validate_player_table

# Cells of every kind the row-wise rules treat specially: valid only once stripped, exponents, fractions,
# bounds, infinities, empty, text, long decimals, signs, leading zeros.
BAD_CELLS = {
    "Age": [" 30 ", "4", "0", "1e1", "25.5", "25.0", "-3", "121", "5", "120", "x", "", "+7", "007", "inf", "NaN"],
    "PlayTimeHours": ["", "inf", "168.5", "16.271118760553215", " 3.5", "-0.0", ".5", "1.", "0.000000000000000000123"],
    "AvgSessionDurationMinutes": ["-1", "1440", "1440.0001", "1e3", "abc", "12345678901234567890"],
    "InGamePurchases": ["2", "1", "0", "True"],
    "Gender": [" Female ", "Robot", "", "male", "Male "],
    "Location": ["Mars", " Europe", "USA"],
    "EngagementLevel": ["", "Extreme", " High"],
    ID_COLUMN: ["1000", "1001", "1003"],  # duplicates of other rows' ids, all plain
}


def assert_same(table: pa.Table) -> None:
    """The column-wise validation gives exactly what validate_players gives on the same rows."""
    expected = validate_players(frame_for_validation(table))
    got = validate_player_table(table)

    pd.testing.assert_frame_equal(got.clean_frame(), expected.clean)
    pd.testing.assert_frame_equal(got.quarantine, expected.quarantine)
    assert got.reasons == expected.reasons
    assert got.valid.tolist() == expected.valid.tolist()


def text_table(frame: pd.DataFrame) -> pa.Table:
    """The text columns as the batch reader hands a CSV chunk over."""
    return pa.Table.from_pandas(frame, preserve_index=False).cast(pa.schema([(c, pa.string()) for c in frame]))


@pytest.mark.parametrize("column", sorted(BAD_CELLS))
@pytest.mark.parametrize("labelled", [True, False])
def test_each_kind_of_bad_cell_gives_the_row_wise_result(column, labelled):
    if column == LABEL_COLUMN and not labelled:
        pytest.skip("the label is only checked when present")
    cells = BAD_CELLS[column]
    frame = raw_frame(raw_rows(len(cells) + 3, **{column: dict(enumerate(cells))}))

    assert_same(text_table(frame if labelled else frame.drop(columns=[LABEL_COLUMN])))


@pytest.mark.parametrize("seed", range(6))
def test_random_mixtures_of_bad_cells_give_the_row_wise_result(seed):
    rng = np.random.default_rng(seed)
    rows = 200
    changes = {
        column: {int(row): str(rng.choice(cells)) for row in rng.choice(rows, size=8, replace=False)}
        for column, cells in BAD_CELLS.items()
    }

    assert_same(text_table(raw_frame(raw_rows(rows, **changes))))


@pytest.mark.parametrize(
    "ids", [["7", " 7", "8"], ["7", "7.0", "8"], ["x", "7", "7"]], ids=["space", "decimal", "text"]
)
def test_ids_that_are_not_plain_numbers_are_compared_as_the_row_wise_path_parses_them(ids):
    frame = raw_frame(raw_rows(5, **{ID_COLUMN: dict(enumerate(ids))}))

    assert_same(text_table(frame))
    assert not validate_player_table(text_table(frame)).valid[:2].any() or ids[0] == "x"


def test_typed_numbers_give_the_row_wise_result():
    frame = raw_frame(raw_rows(8)).drop(columns=[LABEL_COLUMN])
    typed = frame.astype({spec.name: "float64" for spec in NUMERIC_COLUMNS} | {ID_COLUMN: "int64"})
    typed.loc[1, "Age"] = 25.5
    typed.loc[2, "PlayTimeHours"] = np.nan
    typed.loc[3, "PlayTimeHours"] = np.inf
    typed.loc[4, "SessionsPerWeek"] = 500
    table = pa.Table.from_pandas(typed, preserve_index=False)

    assert_same(table)
    assert_same(table.set_column(1, "Age", pa.array([25, None, 30, 31, 32, 33, 34, 35], pa.int64())))


def test_columns_of_other_types_are_validated_as_their_text():
    table = text_table(raw_frame(raw_rows(4)).drop(columns=[LABEL_COLUMN]))
    table = table.set_column(table.schema.get_field_index("InGamePurchases"), "InGamePurchases", pa.array([True] * 4))

    assert_same(table)
    assert validate_player_table(table).reasons == {"InGamePurchases: not a number": 4}
