import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from unit_helpers import raw_frame, raw_rows

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN, NUMERIC_COLUMNS, required_columns
from machine_learning.data.validate import REASON_COLUMN, validate_players

INTEGER_COLUMNS = [ID_COLUMN, *(spec.name for spec in NUMERIC_COLUMNS if spec.integer)]
FLOAT_COLUMNS = [spec.name for spec in NUMERIC_COLUMNS if not spec.integer]
TEXT_COLUMNS = ["Gender", "Location", "GameGenre", "GameDifficulty", LABEL_COLUMN]


def test_valid_rows_are_typed_and_nothing_is_quarantined():
    result = validate_players(raw_frame(raw_rows(5)))

    assert result.quarantine.empty
    assert list(result.clean.columns) == list(required_columns(True))
    for column in INTEGER_COLUMNS:
        assert result.clean[column].dtype == "int64", column
    for column in FLOAT_COLUMNS:
        assert result.clean[column].dtype == "float64", column
    assert result.clean["PlayTimeHours"].tolist() == [10.5] * 5
    assert result.clean[TEXT_COLUMNS].map(type).eq(str).all().all()
    assert result.quarantine_share == 0.0
    assert result.reason_counts() == {}


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("Age", "twenty", "Age: not a number (twenty)"),
        ("Age", "NA", "Age: not a number (NA)"),
        ("PlayTimeHours", "inf", "PlayTimeHours: not a number (inf)"),
        ("SessionsPerWeek", "nan", "SessionsPerWeek: not a number (nan)"),
        ("Age", "25.5", "Age: not a whole number (25.5)"),
        ("PlayerLevel", "3.2", "PlayerLevel: not a whole number (3.2)"),
        (ID_COLUMN, "7.5", f"{ID_COLUMN}: not a whole number (7.5)"),
        ("Age", "200", "Age: 200 outside [5, 120]"),
        ("Age", "4", "Age: 4 outside [5, 120]"),
        ("InGamePurchases", "2", "InGamePurchases: 2 outside [0, 1]"),
        ("AvgSessionDurationMinutes", "-1", "AvgSessionDurationMinutes: -1 outside [0, 1440]"),
        ("PlayTimeHours", "168.5", "PlayTimeHours: 168.5 outside [0, 168]"),
        (ID_COLUMN, "-3", f"{ID_COLUMN}: -3 outside"),
        ("Age", "", "Age: missing"),
        ("PlayTimeHours", "   ", "PlayTimeHours: missing"),
        ("Gender", "", "Gender: missing"),
        (ID_COLUMN, "", f"{ID_COLUMN}: missing"),
        ("Gender", "male", "Gender: unknown category 'male'"),
        ("Location", "Mars", "Location: unknown category 'Mars' (allowed: Asia, Europe, Other, USA)"),
        ("GameGenre", "Puzzle", "GameGenre: unknown category 'Puzzle'"),
        ("GameDifficulty", "Insane", "GameDifficulty: unknown category 'Insane'"),
        (LABEL_COLUMN, "VeryHigh", f"{LABEL_COLUMN}: unknown category 'VeryHigh'"),
        (LABEL_COLUMN, "", f"{LABEL_COLUMN}: missing"),
    ],
)
def test_each_bad_value_is_quarantined_with_a_reason_naming_the_column(column, value, reason):
    rows = raw_rows(4, **{column: {2: value}})
    result = validate_players(raw_frame(rows))

    assert len(result.quarantine) == 1
    bad = result.quarantine.iloc[0]
    assert bad[REASON_COLUMN].startswith(reason)
    assert bad[column] == value  # the quarantined row is kept as it arrived
    assert bad[ID_COLUMN] == rows[2][ID_COLUMN] or column == ID_COLUMN
    assert result.clean[ID_COLUMN].tolist() == [1000, 1001, 1003]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("Age", " 30 ", 30),
        ("Age", "30.0", 30),
        ("Age", "1e1", 10),
        ("Age", "5", 5),
        ("Age", "120", 120),
        ("InGamePurchases", "1", 1),
        ("PlayTimeHours", "0", 0.0),
        ("PlayTimeHours", "168", 168.0),
        ("Gender", " Female ", "Female"),
    ],
)
def test_borderline_but_valid_values_are_accepted(column, value, expected):
    result = validate_players(raw_frame(raw_rows(2, **{column: {0: value}})))
    assert result.quarantine.empty
    assert result.clean[column].iloc[0] == expected


def test_duplicate_player_ids_quarantine_every_row_sharing_the_id():
    rows = raw_rows(5, PlayerID={1: "42", 3: "42"})
    result = validate_players(raw_frame(rows))

    assert result.quarantine[ID_COLUMN].tolist() == ["42", "42"]
    assert result.quarantine[REASON_COLUMN].str.contains(f"{ID_COLUMN}: duplicate").all()
    assert result.clean[ID_COLUMN].tolist() == [1000, 1002, 1004]
    assert result.reason_counts() == {f"{ID_COLUMN}: duplicate": 2}


def test_duplicate_ids_written_differently_are_still_duplicates():
    rows = raw_rows(3, PlayerID={0: "7", 2: "7.0"})
    result = validate_players(raw_frame(rows))
    assert sorted(result.quarantine[ID_COLUMN]) == ["7", "7.0"]


def test_missing_ids_are_not_reported_as_duplicates_of_each_other():
    rows = raw_rows(4, PlayerID={0: "", 1: ""})
    reasons = validate_players(raw_frame(rows)).quarantine[REASON_COLUMN]
    assert reasons.tolist() == [f"{ID_COLUMN}: missing", f"{ID_COLUMN}: missing"]


def test_a_row_with_several_problems_lists_them_all_and_counts_in_each():
    rows = raw_rows(3, Age={1: "x"}, Gender={1: "?"}, PlayerLevel={1: "-5"})
    result = validate_players(raw_frame(rows))

    reason = result.quarantine[REASON_COLUMN].iloc[0]
    assert [part.split(":")[0] for part in reason.split("; ")] == ["Age", "PlayerLevel", "Gender"]
    assert result.reason_counts() == {
        "Age: not a number": 1,
        "PlayerLevel: out of range": 1,
        "Gender: unknown category": 1,
    }


def test_clean_plus_quarantine_is_every_input_row_and_order_is_kept():
    changes = {"Age": {0: "abc", 5: "300"}, "Location": {3: "Moon"}, "PlayerID": {7: "1008", 8: "1008"}}
    rows = raw_rows(10, **changes)
    result = validate_players(raw_frame(rows))

    assert len(result.clean) + len(result.quarantine) == len(rows) == result.input_rows
    assert result.clean[ID_COLUMN].tolist() == [1001, 1002, 1004, 1006, 1009]
    assert result.quarantine[ID_COLUMN].tolist() == ["1000", "1003", "1005", "1008", "1008"]
    assert result.quarantine_share == pytest.approx(5 / 10)
    assert result.reason_counts() == {
        f"{ID_COLUMN}: duplicate": 2,
        "Age: not a number": 1,
        "Age: out of range": 1,
        "Location: unknown category": 1,
    }
    assert set(result.clean.index) == set(range(len(result.clean)))
    assert set(result.quarantine.index) == set(range(len(result.quarantine)))


def test_reason_counts_are_sorted_most_common_first():
    rows = raw_rows(6, Gender={0: "x", 1: "y", 2: "z"}, Age={3: ""})
    assert list(validate_players(raw_frame(rows)).reason_counts().items()) == [
        ("Gender: unknown category", 3),
        ("Age: missing", 1),
    ]


def test_labels_are_not_checked_when_the_column_is_absent():
    frame = raw_frame(raw_rows(3)).drop(columns=[LABEL_COLUMN])
    result = validate_players(frame)
    assert result.quarantine.empty
    assert LABEL_COLUMN not in result.clean.columns


def test_every_row_invalid_gives_an_empty_typed_clean_table():
    result = validate_players(raw_frame(raw_rows(3, Age={0: "a", 1: "b", 2: "c"})))
    assert result.clean.empty
    assert result.quarantine_share == 1.0
    assert isinstance(result.clean, pd.DataFrame)


def test_reason_counts_are_not_confused_by_a_value_containing_the_separator():
    rows = raw_rows(3, Gender={0: "Male; Female"})
    assert validate_players(raw_frame(rows)).reason_counts() == {"Gender: unknown category": 1}


def as_arrow_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The same text in Arrow string columns, as the batch reader hands CSV chunks over."""
    return frame.astype(pd.ArrowDtype(pa.string()))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"Age": {1: "x", 2: " 30 ", 3: "25.5", 4: "1e1"}, "Gender": {0: " Female ", 5: "Robot"}},
        {"PlayTimeHours": {0: "", 1: "inf", 2: "168.5", 3: "16.271118760553215"}, "PlayerID": {4: "1000"}},
        {"AvgSessionDurationMinutes": {2: "-1", 3: "0.000000000000000000123"}, "EngagementLevel": {1: ""}},
    ],
    ids=["clean", "bad-and-borderline", "missing-inf-range-duplicate", "negative-long"],
)
def test_arrow_text_is_validated_exactly_as_python_text(changes):
    raw = raw_frame(raw_rows(8, **changes))

    expected, got = validate_players(raw), validate_players(as_arrow_text(raw))

    # Arrow text categories come back as Categorical codes over the allowed values, the same strings underneath.
    categorical = [name for name in got.clean if isinstance(got.clean[name].dtype, pd.CategoricalDtype)]
    assert sorted(categorical) == sorted(name for name in expected.clean if expected.clean[name].dtype == object)
    pd.testing.assert_frame_equal(got.clean.astype(dict.fromkeys(categorical, object)), expected.clean)
    pd.testing.assert_frame_equal(got.quarantine, expected.quarantine)
    assert got.reasons == expected.reasons
    assert got.valid.tolist() == expected.valid.tolist()


def test_typed_numbers_are_checked_and_quarantined_as_the_text_a_csv_would_hold():
    raw = raw_frame(raw_rows(5)).drop(columns=[LABEL_COLUMN])
    typed = raw.astype({"Age": "float64", "PlayTimeHours": "float64", ID_COLUMN: "int64"})
    typed.loc[1, "Age"] = 25.5
    typed.loc[2, "PlayTimeHours"] = np.nan
    typed.loc[3, "PlayTimeHours"] = np.inf

    result = validate_players(typed)

    assert result.quarantine[REASON_COLUMN].tolist() == [
        "Age: not a whole number (25.5)",
        "PlayTimeHours: missing",
        "PlayTimeHours: not a number (inf)",
    ]
    assert result.quarantine["PlayTimeHours"].tolist() == ["10.5", "", "inf"]
    assert result.quarantine[ID_COLUMN].tolist() == ["1001", "1002", "1003"]
    assert result.clean[ID_COLUMN].tolist() == [1000, 1004]
    assert result.clean["Age"].dtype == "int64"
