"""Print how long the nightly drift tests take: 40k reference rows (the shipped players) vs 10k current rows.

A benchmark prints figures; it asserts nothing. Run with `make bench-drift`. Target: <= 2 s per run.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from machine_learning.settings import Settings

DATASET = Path(__file__).resolve().parent.parent / "data" / "online_gaming_behavior_dataset.csv.gz"


def main() -> None:
    started = time.perf_counter()
    # Timed first: every pipeline run that tests drift pays these imports once.
    from evidently.test_suite import TestSuite  # noqa: F401
    from evidently.tests import TestColumnDrift  # noqa: F401

    print(f"import evidently: {time.perf_counter() - started:.2f} s")
    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.schema import LABEL_COLUMN
    from machine_learning.data.validate import validate_players
    from machine_learning.monitoring.drift import run_drift_tests
    from machine_learning.simulation import simulate_players

    players = validate_players(parse_raw_players(DATASET.read_bytes(), DATASET.name)).clean
    # The label stands in for the model's prediction: the tests only compare distributions.
    reference = players.assign(prediction=players[LABEL_COLUMN])
    settings = Settings()
    print(f"{'current data':<34} {'rows':>6} {'seconds':>8} {'retrain?':>9}  reasons")
    cases = [
        ("no drift (first run after import)", {}),
        ("no drift", {}),
        ("session_length=0.5", {"session_length": 0.5}),
    ]
    cases += [("sessions_per_week=0.5", {"sessions_per_week": 0.5}), ("genre_mix=0.5", {"genre_mix": 0.5})]
    for seed, (name, drift) in enumerate(cases):
        sample = simulate_players(players, date(2026, 11, 20), 10_000, drift, seed)
        current = sample.assign(prediction=sample[LABEL_COLUMN])
        started = time.perf_counter()
        _, result = run_drift_tests(reference, current, settings, "2026-11-20")
        seconds = time.perf_counter() - started
        reasons = "; ".join(result.decision.reasons) or "-"
        print(f"{name:<34} {len(current):>6} {seconds:>8.2f} {result.decision.needed!s:>9}  {reasons}")
    print(f"reference rows: {len(reference)}; target: <= 2 s per run (40k reference vs 10k current)")


if __name__ == "__main__":
    main()
