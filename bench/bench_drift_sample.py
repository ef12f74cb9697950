"""How sampling a large monitoring window changes Evidently's drift scores (the numbers in scale/sample.py).

Reference: the shipped 40,034 players. Window: 2,000,000 rows drawn from them with replacement, with
AvgSessionDurationMinutes scaled by a drift factor. For each sample size, 20 seeded samples of the window are
scored with Evidently's own stat tests (normed Wasserstein for numbers, Jensen-Shannon for categories; both fail
above 0.1) and compared with the score of the whole window. Prints the spread; asserts nothing.
Run with `.local/venv-app/bin/python bench/bench_drift_sample.py` (~1-3 minutes).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "data" / "online_gaming_behavior_dataset.csv.gz"
WINDOW = 2_000_000
SIZES = (10_000, 50_000, 200_000)
SEEDS = 20


def main() -> None:
    from evidently.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
    from evidently.core import ColumnType

    from machine_learning.scale.sample import sample_current

    with gzip.open(DATASET, "rt", newline="") as handle:
        reference = pd.read_csv(handle)
    rng = np.random.default_rng(0)
    tests = {
        "AvgSessionDurationMinutes": (wasserstein_stat_test.func, ColumnType.Numerical),
        "GameGenre": (jensenshannon_stat_test.func, ColumnType.Categorical),
    }
    print(f"{'drift':>6} {'column':<26} {'window':>7} " + " ".join(f"{f'sd@{n:,}':>10} {'max|d|':>7}" for n in SIZES))
    for factor in (1.0, 0.9, 0.85):
        window = reference.iloc[rng.integers(0, len(reference), WINDOW)].reset_index(drop=True)
        window["AvgSessionDurationMinutes"] = window["AvgSessionDurationMinutes"] * factor
        for column, (test, kind) in tests.items():
            full, _ = test(reference[column], window[column], kind, 0.1)
            cells = []
            for size in SIZES:
                scores = [
                    test(reference[column], sample_current(window, size, seed).frame[column], kind, 0.1)[0]
                    for seed in range(SEEDS)
                ]
                cells.append(f"{np.std(scores):>10.4f} {np.max(np.abs(np.array(scores) - full)):>7.4f}")
            print(f"{factor:>6.2f} {column:<26} {full:>7.4f} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
