"""Partition planning: partitions are the local engine's chunks, whatever the file's layout."""

from __future__ import annotations

import gzip
import io

import pytest

from machine_learning.errors import NotFoundError
from machine_learning.scale.partitions import (
    CSV_BLOCK,
    WHOLE_FILE,
    Partition,
    SplitMismatchError,
    check_partition_rows,
    list_input_files,
    plan_csv,
    plan_parquet,
)


@pytest.mark.parametrize(
    ("groups", "chunk"),
    [([10], 4), ([3, 3, 3, 3], 5), ([100], 100), ([1, 1, 1], 1), ([7, 0, 5], 4), ([2, 9, 1], 20)],
)
def test_parquet_partitions_cover_every_row_once_in_chunks_of_the_local_size(groups, chunk):
    partitions = plan_parquet("f.parquet", groups, chunk)

    covered = []
    starts = [sum(groups[:i]) for i in range(len(groups))]
    for part in partitions:
        first = starts[part.row_groups[0]] + part.skip_rows
        covered.extend(range(first, first + part.rows))
        held = sum(groups[g] for g in part.row_groups)
        assert part.skip_rows + part.rows <= held  # the groups read hold the partition's rows
    assert covered == list(range(sum(groups)))
    assert [p.rows for p in partitions[:-1]] == [chunk] * (len(partitions) - 1)
    assert [p.index for p in partitions] == list(range(len(partitions)))


def test_a_partition_reads_only_the_row_groups_holding_its_rows():
    partitions = plan_parquet("f.parquet", [4, 4, 4, 4], 4)

    assert [p.row_groups for p in partitions] == [(0,), (1,), (2,), (3,)]
    assert plan_parquet("f.parquet", [4, 4, 4, 4], 6)[1].row_groups == (1, 2)


def test_an_empty_parquet_file_is_one_empty_partition():
    assert [p.rows for p in plan_parquet("f.parquet", [0], 5)] == [0]


def _lines(count: int) -> bytes:
    return b"a,b\n" + b"".join(f"{i},x\n".encode() for i in range(count))


def _blocks(data: bytes, partitions: list[Partition]) -> list[bytes]:
    return [data[p.start : p.end] for p in partitions]


@pytest.mark.parametrize(("rows", "chunk"), [(10, 3), (9, 3), (1, 5), (50, 1), (0, 4)])
def test_csv_blocks_split_at_line_ends_every_chunk_rows_lines(rows, chunk):
    data = _lines(rows)

    partitions = plan_csv("f.csv", io.BytesIO(data), chunk)

    blocks = _blocks(data, partitions)
    assert b"".join(blocks) == data[len(b"a,b\n") :]
    assert all(p.kind == CSV_BLOCK and p.header == b"a,b\n" for p in partitions)
    assert [block.count(b"\n") for block in blocks[:-1]] == [chunk] * (len(blocks) - 1)
    assert 0 < blocks[-1].count(b"\n") <= chunk or rows == 0


def test_csv_blocks_span_scan_buffers(monkeypatch):
    monkeypatch.setattr("machine_learning.scale.partitions._SCAN_BYTES", 7)  # lines straddle every buffer
    data = _lines(40)

    partitions = plan_csv("f.csv", io.BytesIO(data), 6)

    assert [b.count(b"\n") for b in _blocks(data, partitions)] == [6] * 6 + [4]


def test_a_last_line_without_line_end_stays_in_the_last_block():
    data = _lines(5).rstrip(b"\n")

    partitions = plan_csv("f.csv", io.BytesIO(data), 2)

    assert _blocks(data, partitions)[-1] == b"4,x"


@pytest.mark.parametrize(
    "data",
    [gzip.compress(_lines(10)), b'a,b\n1,"x\ny"\n2,z\n', b"a,b"],
    ids=["compressed", "quoted-field", "header-without-line-end"],
)
def test_files_that_cannot_be_split_safely_are_one_whole_file_partition(data):
    assert [p.kind for p in plan_csv("f.csv", io.BytesIO(data), 2)] == [WHOLE_FILE]


def test_a_block_with_fewer_rows_than_planned_asks_for_the_whole_file():
    block = Partition(0, "f.csv", CSV_BLOCK, rows=5)

    with pytest.raises(SplitMismatchError):
        check_partition_rows(block, 4)
    check_partition_rows(block, 5)
    check_partition_rows(Partition(1, "f.csv", CSV_BLOCK, rows=0), 3)  # the last block: any count


def test_inputs_under_a_folder_are_the_data_files_in_name_order():
    names = ["p/b.parquet", "p/a.csv", "p/notes.txt", "p/.hidden.csv", "p/c.csv.gz", "p/sub/d.parquet"]

    assert list_input_files("p", names) == ["p/a.csv", "p/b.parquet", "p/c.csv.gz", "p/sub/d.parquet"]
    with pytest.raises(NotFoundError, match=r"no \.csv"):
        list_input_files("p", ["p/notes.txt"])
