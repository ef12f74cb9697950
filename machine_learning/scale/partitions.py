"""Partition planning: which rows of which file each Dask task validates and scores.

A partition is always a whole number of the local engine's chunks (``chunk_rows`` rows, counted from the start of
each file), so validation, which quarantines duplicate PlayerIDs within a chunk, sees exactly the rows it sees on
the local engine: both engines give the same answer by construction.

- Parquet: the local engine reads ``iter_batches(batch_size=chunk_rows)``, whose batches run across row groups;
  a partition is ``chunk_rows`` consecutive rows and its task reads only the row groups that hold them.
- CSV: split at the line end after every ``chunk_rows`` lines. A file the split could get wrong (compressed, or
  with quotes, which may hide a line break inside a field) is one partition, streamed in chunks by one task as
  on the local engine. A CSV task also checks that its block held exactly the rows planned, so a file whose lines
  are not rows (blank lines, stray carriage returns) is detected and re-planned as one partition.
- A folder or an S3 prefix: every ``.csv``, ``.csv.gz`` and ``.parquet`` file under it, in name order, each
  planned as above. Chunks never span files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import numpy as np

from machine_learning.errors import InvalidInputError, NotFoundError

PARQUET = "parquet"
CSV_BLOCK = "csv"
WHOLE_FILE = "file"
INPUT_SUFFIXES = (".parquet", ".csv", ".csv.gz")
_SCAN_BYTES = 16 << 20
_NEWLINE = 10
_COMPRESSED = (b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True)
class Partition:
    """The rows of one file that one task scores.

    Attributes:
        index: Position in input order (output parts are merged in this order).
        source: Local path or ``s3://`` URI of the file.
        kind: ``parquet`` (rows of row groups), ``csv`` (a byte range of lines) or ``file`` (the whole file).
        row_groups: Parquet row groups holding the rows.
        skip_rows: Parquet rows of the first of those row groups that belong to the previous partition.
        rows: Rows in the partition (Parquet; CSV: the rows expected, 0 when unknown for the last block).
        start: First byte of a CSV block (after the header).
        end: Byte after the block's last line.
        header: A CSV block's header line, prepended when the block is read.

    """

    index: int
    source: str
    kind: str
    row_groups: tuple[int, ...] = ()
    skip_rows: int = 0
    rows: int = 0
    start: int = 0
    end: int = 0
    header: bytes = b""


def plan_parquet(source: str, row_group_rows: Sequence[int], chunk_rows: int, first_index: int = 0) -> list[Partition]:
    """Split a Parquet file into partitions of ``chunk_rows`` consecutive rows (the last may be shorter).

    Args:
        source: The file.
        row_group_rows: Rows of each row group, in file order.
        chunk_rows: Rows per partition (the local engine's chunk size).
        first_index: Index of the first partition.

    Returns:
        The partitions, in row order; one empty partition for a file without rows.

    """
    total = sum(row_group_rows)
    if total == 0:
        return [Partition(first_index, source, PARQUET, row_groups=(0,) if row_group_rows else (), rows=0)]
    starts = [sum(row_group_rows[:group]) for group in range(len(row_group_rows))]
    partitions: list[Partition] = []
    for offset in range(0, total, chunk_rows):
        rows = min(chunk_rows, total - offset)
        groups = tuple(
            group
            for group, begin in enumerate(starts)
            if begin < offset + rows and begin + row_group_rows[group] > offset
        )
        skip = offset - starts[groups[0]]
        partitions.append(Partition(first_index + len(partitions), source, PARQUET, groups, skip, rows))
    return partitions


def plan_csv(source: str, handle: BinaryIO, chunk_rows: int, first_index: int = 0) -> list[Partition]:
    """Split a CSV file at the line end after every ``chunk_rows`` lines, or keep it whole when that is unsafe.

    Args:
        source: The file.
        handle: The file opened for binary reading at its start (read once, in blocks).
        chunk_rows: Lines per block (the local engine's chunk size).
        first_index: Index of the first partition.

    Returns:
        The partitions in file order.

    """
    whole = [Partition(first_index, source, WHOLE_FILE)]
    head = handle.read(_SCAN_BYTES)
    if head.startswith(_COMPRESSED) or source.endswith((".gz", ".bz2", ".zip", ".xz", ".zst")):
        return whole
    header_end = head.find(b"\n") + 1
    if header_end == 0:
        return whole  # a header alone (or no line end at all): one task gives the local engine's answer
    bounds = _line_bounds(_blocks(head, handle), header_end, chunk_rows)
    if bounds is None:
        return whole
    header = head[:header_end]
    pairs = list(pairwise(bounds))
    return [
        Partition(
            first_index + i,
            source,
            CSV_BLOCK,
            rows=chunk_rows if i < len(pairs) - 1 else 0,
            start=begin,
            end=stop,
            header=header,
        )
        for i, (begin, stop) in enumerate(pairs)
    ]


def _blocks(head: bytes, handle: BinaryIO) -> Iterable[bytes]:
    yield head
    while block := handle.read(_SCAN_BYTES):
        yield block


def _line_bounds(blocks: Iterable[bytes], header_end: int, chunk_rows: int) -> list[int] | None:
    """Offsets where each block of ``chunk_rows`` lines starts, plus the file's end; None if quotes appear."""
    bounds = [header_end]
    lines = 0  # line ends after the header since the last bound
    offset = 0
    for block in blocks:
        if b'"' in block:
            return None
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == _NEWLINE) + offset + 1
        ends = ends[ends > header_end]
        picked = ends[chunk_rows - lines - 1 :: chunk_rows]
        bounds.extend(int(end) for end in picked)
        lines = (lines + len(ends)) % chunk_rows
        offset += len(block)
    if bounds[-1] != offset or len(bounds) == 1:
        bounds.append(offset)  # the last, shorter block (or one empty block when there are no rows)
    return bounds


def list_input_files(source: str, names: Sequence[str]) -> list[str]:
    """Return the scoring inputs under a folder or prefix, in name order (subfolders included).

    Args:
        source: The folder or prefix (as given by the user).
        names: Every file or key under it.

    Returns:
        The ``.csv``, ``.csv.gz`` and ``.parquet`` files.

    Raises:
        NotFoundError: Nothing to score under it.

    """
    files = sorted(name for name in names if name.endswith(INPUT_SUFFIXES) and not Path(name).name.startswith("."))
    if not files:
        raise NotFoundError(f"no .csv, .csv.gz or .parquet file under {source}")
    return files


def check_partition_rows(partition: Partition, rows: int) -> None:
    """Raise when a CSV block held a different number of rows than planned (its lines are not all rows).

    Raises:
        SplitMismatchError: The block must be read as part of the whole file instead.

    """
    if partition.kind == CSV_BLOCK and partition.rows and rows != partition.rows:
        raise SplitMismatchError(partition.source)


class SplitMismatchError(InvalidInputError):
    """A CSV file's lines are not its rows, so it cannot be split at line ends; it is scored as one partition."""
