import gzip

import pytest
from unit_helpers import VALID_ROW, csv_bytes, csv_text, raw_rows

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.errors import InvalidInputError


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_valid_csv_gives_one_text_row_per_line_in_order(newline, compress):
    rows = raw_rows(4)
    frame = parse_raw_players(csv_bytes(rows, newline=newline, compress=compress), "players.csv")

    assert list(frame.columns) == list(required_columns(True))
    assert frame[ID_COLUMN].tolist() == [row[ID_COLUMN] for row in rows]
    assert frame.to_dict("records") == rows  # values stay text, no stray "\r"
    assert all(frame[column].map(type).eq(str).all() for column in frame.columns)


def test_utf8_bom_and_padded_header_names_are_accepted():
    header = ", ".join(f" {column}" for column in required_columns(True))
    data = "\ufeff" + csv_text(raw_rows(2)).replace(",".join(required_columns(True)), header, 1)
    frame = parse_raw_players(data.encode("utf-8"), "bom.csv")
    assert list(frame.columns) == list(required_columns(True))
    assert frame[ID_COLUMN].tolist() == ["1000", "1001"]


def test_extra_columns_are_dropped_and_order_is_canonical():
    rows = [{**row, "Comment": "hi", "Server": "eu-1"} for row in raw_rows(3)]
    shuffled = ["Comment", *reversed(required_columns(True)), "Server"]
    frame = parse_raw_players(csv_bytes(rows, columns=shuffled), "extra.csv")
    assert list(frame.columns) == list(required_columns(True))
    assert frame["Age"].tolist() == [VALID_ROW["Age"]] * 3


def test_label_is_optional_when_not_required():
    columns = [ID_COLUMN, *FEATURE_COLUMNS]
    frame = parse_raw_players(csv_bytes(raw_rows(2), columns=columns), "batch.csv", require_label=False)
    assert list(frame.columns) == columns
    assert LABEL_COLUMN not in frame.columns


def test_label_is_kept_when_present_but_not_required():
    frame = parse_raw_players(csv_bytes(raw_rows(2)), "batch.csv", require_label=False)
    assert frame[LABEL_COLUMN].tolist() == ["High", "Medium"]


def test_missing_label_is_an_error_when_required():
    columns = [ID_COLUMN, *FEATURE_COLUMNS]
    with pytest.raises(InvalidInputError, match=rf"train\.csv is missing required column\(s\): {LABEL_COLUMN}"):
        parse_raw_players(csv_bytes(raw_rows(2), columns=columns), "train.csv")


@pytest.mark.parametrize("missing", ["Age", "GameDifficulty", ID_COLUMN])
def test_missing_column_is_named_in_the_message(missing):
    columns = [column for column in required_columns(True) if column != missing]
    with pytest.raises(InvalidInputError, match=f"missing required column.*{missing}") as raised:
        parse_raw_players(csv_bytes(raw_rows(2), columns=columns), "players.csv")
    assert "players.csv" in str(raised.value)


def test_several_missing_columns_are_all_named():
    columns = [column for column in required_columns(True) if column not in ("Age", "Gender")]
    with pytest.raises(InvalidInputError, match="Age, Gender"):
        parse_raw_players(csv_bytes(raw_rows(2), columns=columns), "players.csv")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"   \r\n\n  ", "is empty"),
        (gzip.compress(b""), "is empty"),
        (csv_text([]).encode(), "has a header but no rows"),
        (csv_text([], newline="\r\n").encode(), "has a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
        (bytes(range(256)), "binary data"),
        (b"\xff\xfe\xfa caf\xe9 ol\xe9", "not UTF-8"),
        (b"Lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n", "not a player file"),
        (b"name,score\nalice,3\nbob,4\n", "not a player file"),
        (b"a,b\nc,d,e,f\n", "not a"),
        ((csv_text(raw_rows(2)) + "1,2,3,4,5,6,7,8,9,10,11,12,13,14\n").encode(), "not a readable CSV"),
        (b"\x1f\x8b\x08\x00truncated", "damaged gzip"),
        (gzip.compress(csv_text(raw_rows(50)).encode())[:40], "damaged gzip"),
    ],
    ids=[
        "zero-bytes",
        "whitespace",
        "empty-gzip",
        "header-only-lf",
        "header-only-crlf",
        "png",
        "all-bytes",
        "latin1",
        "prose",
        "other-csv",
        "ragged",
        "ragged-player-csv",
        "gzip-header-only",
        "gzip-truncated",
    ],
)
def test_unusable_files_raise_a_clear_error_naming_the_file(data, message):
    with pytest.raises(InvalidInputError, match=message) as raised:
        parse_raw_players(data, "upload.csv")
    assert str(raised.value).startswith("upload.csv ")
    assert "\n" not in str(raised.value).strip()


def test_ragged_csv_message_is_a_single_line():
    data = (csv_text(raw_rows(2)) + "1,2,3,4,5,6,7,8,9,10,11,12,13,14\n").encode()
    with pytest.raises(InvalidInputError) as raised:
        parse_raw_players(data, "upload.csv")
    assert "\n" not in str(raised.value)


def test_gzip_with_corrupt_body_is_an_invalid_input():
    good = gzip.compress(csv_text(raw_rows(5)).encode())
    corrupt = good[:10] + b"\xff" * 20 + good[-8:]  # valid header and trailer, garbage deflate stream
    with pytest.raises(InvalidInputError, match="damaged gzip"):
        parse_raw_players(corrupt, "upload.csv.gz")


def test_trailing_comma_on_every_row_does_not_shift_columns():
    text = csv_text(raw_rows(3)).replace("\n", ",\n")
    text = text.replace(",\n", "\n", 1)  # header without the trailing comma, as spreadsheet exports write it
    try:
        frame = parse_raw_players(text.encode(), "trailing.csv")
    except InvalidInputError:
        return  # refusing the file is acceptable too
    assert frame[ID_COLUMN].tolist() == ["1000", "1001", "1002"]
    assert frame["Age"].tolist() == [VALID_ROW["Age"]] * 3


def test_a_row_with_more_fields_than_the_header_is_refused_not_truncated():
    text = csv_text(raw_rows(2)).splitlines()
    text[1] += ",surplus"
    with pytest.raises(InvalidInputError, match="more fields than the header"):
        parse_raw_players(("\n".join(text) + "\n").encode(), "ragged.csv")
