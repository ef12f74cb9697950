"""Print how the ONNX export of the production pipeline compares with ``predict_proba``, its size and its latency.

A benchmark prints figures; it asserts nothing. Run with `make bench-onnx`. The pipeline is fitted as training
fits it (the seed-42 training split of the shipped dataset), exported and verified as serving does, then scored
on every valid row of the shipped dataset by onnxruntime and by ``predict_proba``. Latency is per single-row call
on one thread, as a game client scores its own player: onnxruntime beside the pipeline itself.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DATASET = Path(__file__).resolve().parent.parent / "data" / "online_gaming_behavior_dataset.csv.gz"
CALLS = 2_000
TARGET = 1e-5


def main() -> None:
    from threadpoolctl import threadpool_limits

    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
    from machine_learning.data.validate import validate_players
    from machine_learning.export.onnx_model import export_model, onnx_feeds, open_session
    from machine_learning.training.model import build_pipeline
    from machine_learning.training.train import split_players

    players = validate_players(parse_raw_players(DATASET.read_bytes(), DATASET.name)).clean
    split = split_players(players, test_size=0.2, seed=42)
    pipeline = build_pipeline(random_state=42)
    with threadpool_limits(limits=1):
        pipeline.fit(split.train[list(FEATURE_COLUMNS)], split.train[LABEL_COLUMN])
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        export = export_model(pipeline, "bench", "1", Path(cache))
        built = time.perf_counter() - started
    print(f"export: {built:.2f} s (conversion + verification on probe rows: {export.verification.reason})")
    print(f"ONNX model size: {len(export.content)} bytes ({len(export.content) / 1024:.1f} KiB)")

    frame = players[list(FEATURE_COLUMNS)]
    session = open_session(export.content)
    feeds = onnx_feeds({name: frame[name].to_numpy() for name in FEATURE_COLUMNS})
    labels, probabilities = session.run(["label", "probabilities"], feeds)
    with threadpool_limits(limits=1):
        expected = pipeline.predict_proba(frame)
        expected_labels = pipeline.predict(frame)
    diff = float(np.abs(probabilities - expected).max())
    verdict = "within" if diff <= TARGET else "ABOVE"
    print(f"full shipped dataset: {len(frame)} rows, max |ONNX - predict_proba| = {diff:.3g} ({verdict} {TARGET:g})")
    print(f"labels equal to predict: {np.mean(labels == expected_labels) * 100:.2f} %")

    rows = [{name: feed[i : i + 1] for name, feed in feeds.items()} for i in range(CALLS)]
    onnx_ms = _per_call(lambda i: session.run(["probabilities"], rows[i]))
    singles = [frame.iloc[i : i + 1] for i in range(CALLS // 4)]
    with threadpool_limits(limits=1):
        sklearn_ms = _per_call(lambda i: pipeline.predict_proba(singles[i]), len(singles))
    print(
        f"single-row latency, 1 thread ({CALLS} calls): onnxruntime p50 {_p(onnx_ms, 50):.3f} ms, "
        f"p99 {_p(onnx_ms, 99):.3f} ms; sklearn predict_proba p50 {_p(sklearn_ms, 50):.3f} ms, "
        f"p99 {_p(sklearn_ms, 99):.3f} ms ({len(singles)} calls)"
    )


def _per_call(call: Callable[[int], object], count: int = CALLS) -> list[float]:
    timings = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _p(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100)[percent - 1] if percent < 100 else max(values)


if __name__ == "__main__":
    main()
