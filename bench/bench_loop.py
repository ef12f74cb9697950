"""Print how the closed loop keeps a good model in production over 28 simulated days per drift scenario.

A benchmark prints figures; it asserts nothing. Run with `make bench-loop` (about 30-60 minutes on 2 cores).

It starts its own S3 (moto), MLflow and Mage servers with `scripts/stack.py` on free loopback ports (state in
`.local/bench-loop/`), trains production v1 on the shipped players for each scenario under a title of its own,
then runs every simulated day through the real pipelines in Mage: `batch_inference` (which also scores a shadow
candidate), then `performance_monitoring` (drift tests, live quality from labels, shadow promotion, and the
retraining it may start, which the script waits for). Days start on a Monday; drift starts on day 4 (Thursday);
labels are published every Sunday for the whole week, so the first drifted labels arrive on day 7. Scenarios run
side by side in one Mage server.

Per scenario it prints production's accuracy before the drift (days 1-3), the worst day, the mean of the last 7
days, the night the first retrained model reached production, and the number of retrainings and promotions. The
accuracy of a day is that of the predictions production served that day, against the simulator's ground truth.
The per-day table goes to `bench/output/bench_loop.csv`.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK = [sys.executable, str(ROOT / "scripts" / "stack.py")]
OUTPUT = ROOT / "bench" / "output" / "bench_loop.csv"
START = date(2026, 11, 2)  # a Monday
SCENARIOS: dict[str, str | None] = {
    "no_drift": None,
    "session_length": "session_length=0.5",
    "sessions_per_week": "sessions_per_week=0.5",
    "casual_players": "casual_players=0.5",
}
_PRINT = threading.Lock()


@dataclass
class Day:
    """One simulated day of one scenario, as the table records it."""

    n: int
    day: str
    drift: str
    version: str = ""
    accuracy: float = float("nan")
    f1_macro: float = float("nan")
    labels: bool = False
    triggered: bool = False
    shadow: str = ""
    production_after: str = ""
    note: str = ""


@dataclass
class Scenario:
    """A scenario's days and what the loop did."""

    name: str
    drift: str | None
    days: list[Day] = field(default_factory=list)
    title: str = ""
    failed: bool = False
    services: Any = None  # S3 store and MLflow client, made in the main thread (boto3 sessions are not thread-safe)
    mage: Any = None


def say(scenario: str, text: str) -> None:
    with _PRINT:
        print(f"[{scenario}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stack(state: Path) -> dict[str, str]:
    """Start S3 (moto), MLflow and Mage with scripts/stack.py; return the stack's environment."""
    env = {
        **os.environ,
        "LOCAL_STATE_DIR": str(state),
        "S3_SERVER": "moto",
        "S3_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "MAGE_PORT": str(free_port()),
        "S3_BUCKET": "mlops-bench",
    }
    done = subprocess.run([*STACK, "up", "--components", "s3,mlflow,mage"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not start the stack: {done.stdout}{done.stderr}")
    printed = subprocess.run([*STACK, "env"], env=env, capture_output=True, text=True, check=True).stdout
    stack_env = dict(
        line[len("export ") :].split("=", 1) for line in printed.splitlines() if line.startswith("export ")
    )
    stack_env.setdefault("MAGE_URL", f"http://127.0.0.1:{env['MAGE_PORT']}")
    return {**env, **stack_env, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def stop_stack(env: dict[str, str]) -> None:
    subprocess.run([*STACK, "down", "--components", "s3,mlflow,mage"], env=env, capture_output=True, check=False)


def train_first_model(scenario: Scenario) -> None:
    """Production v1 on the shipped players, under the scenario's own title (one at a time: MLflow's fluent API)."""
    from machine_learning.data.prepare import load_prepared_players, load_raw_players, prepare_players
    from machine_learning.orchestration import MageClient
    from machine_learning.registry import register_candidate
    from machine_learning.selection import select_model
    from machine_learning.services import connect
    from machine_learning.settings import load_settings
    from machine_learning.simulation import default_source
    from machine_learning.training.train import train_candidate

    scenario.title = f"loop-{scenario.name.replace('_', '-')}-{uuid.uuid4().hex[:4]}"
    settings = load_settings({"game_title": scenario.title})
    services = scenario.services = connect(settings)
    scenario.mage = MageClient(settings)
    prepare_players(load_raw_players(default_source(), None), services.store, settings, "bench-loop")
    trained = train_candidate(load_prepared_players(services.store, settings), services.store, settings)
    register_candidate(services.mlflow, settings, trained)
    select_model(services.mlflow, services.store, settings)


def run_scenario(scenario: Scenario, source: Any, days: int, players: int) -> Scenario:
    """Run each day through Mage; fill in the scenario's table. A failure is printed with its traceback."""
    try:
        return _run_days(scenario, source, days, players)
    except Exception:  # noqa: BLE001 - one scenario's failure must not lose the others' figures
        say(scenario.name, "FAILED:\n" + traceback.format_exc())
        scenario.failed = True
        return scenario


def _run_days(scenario: Scenario, source: Any, days: int, players: int) -> Scenario:
    from machine_learning.monitoring.decision import decision_key
    from machine_learning.orchestration import run_pipeline, wait_for_run
    from machine_learning.registry import PRODUCTION, get_alias_version
    from machine_learning.settings import load_settings
    from machine_learning.simulation import parse_drift, publish_simulated_day, simulate_players

    title = scenario.title
    settings = load_settings({"game_title": title})
    services, mage = scenario.services, scenario.mage
    drift = parse_drift([scenario.drift]) if scenario.drift else {}
    for n in range(1, days + 1):
        day = START + timedelta(days=n - 1)
        today = drift if n >= 4 else {}
        record = Day(n, day.isoformat(), (scenario.drift or "") if today else "")
        frame = simulate_players(source, day, players, today, seed=n)
        record.labels = bool(publish_simulated_day(services.store, settings, day, frame).labels_published)
        variables = {"batch_date": record.day, "game_title": title}
        run_pipeline(mage, "batch_inference", variables, timeout=1800)
        run_pipeline(mage, "performance_monitoring", variables, timeout=1800)
        decision = services.store.read_json(decision_key(settings, record.day))
        record.triggered = bool(decision["retraining_triggered"]) and decision.get("retraining_run_id") is not None
        if record.triggered:
            wait_for_run(mage, "retraining", int(decision["retraining_run_id"]), timeout=1800)
        production = get_alias_version(services.mlflow, settings, PRODUCTION)
        record.production_after = production.version if production else ""
        shadow = decision.get("shadow_selection") or {}
        record.shadow = shadow.get("reason", "")
        record.note = decision["reason"][:200]
        scenario.days.append(record)
        say(scenario.name, f"day {n:2d} {record.day}: {record.note[:150]} -> production v{record.production_after}")
    _score_days(services.store, settings, scenario)
    return scenario


def _score_days(store: Any, settings: Any, scenario: Scenario) -> None:
    """Each day's served predictions against the simulator's ground truth."""
    from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN
    from machine_learning.monitoring.quality import predictions_key
    from machine_learning.simulation import truth_key
    from machine_learning.training.evaluate import evaluate_predictions

    for record in scenario.days:
        served = store.read_parquet(predictions_key(store, settings, record.day) or "")
        truth = store.read_parquet(truth_key(settings, record.day))
        joined = served.merge(truth, on=ID_COLUMN)
        metrics = evaluate_predictions(joined[LABEL_COLUMN].astype(str), joined["predicted_engagement"]).metrics
        record.version = ",".join(sorted(set(served["model_version"].astype(str))))
        record.accuracy, record.f1_macro = round(metrics["accuracy"], 4), round(metrics["f1_macro"], 4)


def summarise(scenario: Scenario) -> dict[str, Any]:
    """Return the figures the issue asks for, from the per-day table."""
    accuracy = [d.accuracy for d in scenario.days]
    first = next((d for d in scenario.days if d.production_after not in ("", "1")), None)
    promotions = sum(
        1 for before, after in zip(["1", *[d.production_after for d in scenario.days]], scenario.days, strict=False)
        if after.production_after != before
    )  # fmt: skip
    labelled = [d.n for d in scenario.days if d.labels and d.n >= 4]
    return {
        "scenario": scenario.name,
        "drift": scenario.drift or "none",
        "before": round(sum(accuracy[:3]) / 3, 4),
        "worst": min(accuracy),
        "worst_day": accuracy.index(min(accuracy)) + 1,
        "last7": round(sum(accuracy[-7:]) / len(accuracy[-7:]), 4),
        "first_drifted_labels_night": labelled[0] if labelled and scenario.drift else "-",
        "retrained_in_production_night": first.n if first else "-",
        "retrainings": sum(d.triggered for d in scenario.days),
        "promotions": promotions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()
    chosen = [Scenario(name, SCENARIOS[name]) for name in args.scenarios.split(",")]
    state = ROOT / ".local" / "bench-loop" / "stack"
    started = time.monotonic()
    env = start_stack(state)
    os.environ.update(env)
    print(f"stack up in {time.monotonic() - started:.0f}s (state in {state}); {len(chosen)} scenarios side by side")
    try:
        from machine_learning.simulation import default_source, load_source_players

        source = load_source_players(default_source(), None)
        for scenario in chosen:
            train_first_model(scenario)
        with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
            done = list(pool.map(lambda s: run_scenario(s, source, args.days, args.players), chosen))
    finally:
        if not args.keep:
            stop_stack(env)
    write_table(done)
    rows = [summarise(scenario) for scenario in done if not scenario.failed]
    for scenario in done:
        if scenario.failed:
            print(f"{scenario.name}: FAILED (see its traceback above)")
    if not rows:
        return
    header = list(rows[0])
    print("\n" + " | ".join(header))
    for row in rows:
        print(" | ".join(str(row[key]) for key in header))
    print(f"\nper-day table: {OUTPUT}; {time.monotonic() - started:.0f}s in all")


def write_table(scenarios: list[Scenario]) -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with OUTPUT.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scenario", *Day.__dataclass_fields__])
        for scenario in scenarios:
            for day in scenario.days:
                writer.writerow([scenario.name, *(getattr(day, name) for name in Day.__dataclass_fields__)])


if __name__ == "__main__":
    main()
