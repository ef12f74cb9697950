"""Batch scoring benchmark: 1M rows (CSV and Parquet) and 10M rows (Parquet, streamed).

The inputs are generated from the shipped data in a temporary folder (never committed). Prints the time of each
phase and the scorer's peak RSS; asserts nothing. Run with `make bench-batch` (a few minutes, ~2 GB of disk).
"""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "data" / "online_gaming_behavior_dataset.csv.gz"

SCORER = """
import json, sys, time
from pathlib import Path
from machine_learning.inference.batch import BatchOutputs, score_batch
from machine_learning.inference.model import LoadedModel
import joblib
pipeline = joblib.load(sys.argv[1])
model = LoadedModel("bench", "1", pipeline)
outputs = BatchOutputs(predictions=sys.argv[3], quarantine=sys.argv[3] + ".quarantine.parquet")
started = time.perf_counter()
result = score_batch(sys.argv[2], outputs, model, None, 0.05, chunk_rows=int(sys.argv[4]))
print(json.dumps({"total": time.perf_counter() - started, "rows": result.scored_rows, **result.timings}))
"""


def generate(players: pd.DataFrame, rows: int, path: Path) -> None:
    """Write `rows` players (the shipped ones repeated, with fresh ids) in chunks, as CSV or Parquet."""
    writer = None
    written = 0
    while written < rows:
        chunk = players.head(min(len(players), rows - written)).copy()
        chunk["PlayerID"] = range(written, written + len(chunk))
        if path.suffix == ".csv":
            chunk.to_csv(path, mode="a", header=written == 0, index=False)
        else:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        written += len(chunk)
    if writer:
        writer.close()


def score(model_path: Path, source: Path, folder: Path, chunk_rows: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-c", SCORER, str(model_path), str(source), str(folder / "out.parquet"), str(chunk_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["peak_rss_mb"] = max(peak_kb, before) / 1024
    return figures


def main() -> None:
    import joblib

    from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
    from machine_learning.training.model import build_pipeline

    with gzip.open(DATASET, "rt", newline="") as handle:
        players = pd.read_csv(handle)
    model = build_pipeline(42).fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])
    scoring = players.drop(columns=[LABEL_COLUMN])
    print(
        f"{'input':<22} {'rows':>10} {'read':>6} {'validate':>8} {'predict':>7} {'write':>6} {'publish':>7} "
        f"{'total':>6} {'peak RSS':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        folder = Path(name)
        model_path = folder / "model.joblib"
        joblib.dump(model, model_path)
        for rows, suffix in ((1_000_000, ".csv"), (1_000_000, ".parquet"), (10_000_000, ".parquet")):
            source = folder / f"players-{rows}{suffix}"
            started = time.perf_counter()
            generate(scoring, rows, source)
            size = source.stat().st_size / 1e6
            label = f"{rows // 1_000_000}M {suffix[1:]} ({size:.0f} MB)"
            print(f"   generated {label} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
            f = score(model_path, source, folder, chunk_rows=250_000)
            print(
                f"{label:<22} {f['rows']:>10,} {f.get('read', 0):>6.2f} {f.get('validate', 0):>8.2f} "
                f"{f.get('predict', 0):>7.2f} {f.get('write', 0):>6.2f} {f.get('publish', 0):>7.2f} {f['total']:>6.1f} "
                f"{f['peak_rss_mb']:>7.0f} MB",
                flush=True,
            )
            source.unlink()
    print("targets: 1M rows scored <= 2 s (read and write timed separately); peak RSS <= 1.5 GB (1M), <= 2 GB (10M)")


if __name__ == "__main__":
    main()
