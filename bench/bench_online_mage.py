"""Print the latency of one single-player online request through Mage: API trigger and synchronous /api/runs.

Needs the running stack with a production model (`make demo`) and its environment (`. .local/stack/stack.env`).
Trigger: from the POST that starts the run until its result can be read from S3 (polling the run every 50 ms).
/api/runs: the synchronous POST, whose response carries the predictions (needs scripts/patch_mage.py, applied by
`make setup`, and a Mage server started after it). A benchmark prints figures; it asserts nothing.
Run with `make bench-online`.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from machine_learning.inference.online import fetch_online_result
from machine_learning.orchestration import MageClient
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings

DATASET = Path(__file__).resolve().parent.parent / "data" / "online_gaming_behavior_dataset.csv.gz"
PIPELINE, BLOCK, TRIGGER = "online_inference", "score_online_players", "online_inference_api"


def one_player() -> list[dict[str, str]]:
    with gzip.open(DATASET, "rt", newline="") as handle:
        players = pd.read_csv(handle, dtype=str, keep_default_na=False, nrows=1)
    return list(players.drop(columns=["EngagementLevel"]).to_dict(orient="records"))


def through_trigger(
    mage: MageClient, trigger: dict[str, Any], inputs: list[dict[str, str]], settings: Settings
) -> float:
    store, title = connect(settings).store, settings.game_title
    started = time.perf_counter()
    run_id = mage.start_run(trigger, {"inputs": inputs, "game_title": title})
    while (run := mage.get_run(run_id))["status"] not in ("completed", "failed", "cancelled"):
        time.sleep(0.05)
    if run["status"] != "completed":
        raise SystemExit(f"run {run_id} {run['status']}: {mage.failure_reason(PIPELINE, run_id)}")
    fetch_online_result(store, settings, f"mage-run-{run_id}")
    return time.perf_counter() - started


def through_api_runs(base: str, token: str, inputs: list[dict[str, str]], title: str) -> float:
    body = {
        "run": {"pipeline_uuid": PIPELINE, "block_uuid": BLOCK, "variables": {"inputs": inputs, "game_title": title}}
    }
    started = time.perf_counter()
    response = requests.post(f"{base}/api/runs", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    elapsed = time.perf_counter() - started
    payload = response.json()
    if "error" in payload:
        raise SystemExit(f"/api/runs failed: {payload['error'].get('exception')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    mage = MageClient(settings)
    trigger = mage.find_trigger(PIPELINE, TRIGGER)
    inputs = one_player()
    print(f"Mage {settings.mage_url}, title {settings.game_title}, one player, median of {args.repeat}")
    first = through_api_runs(mage.base, trigger["token"], inputs, settings.game_title)  # loads the model once
    synchronous = [
        through_api_runs(mage.base, trigger["token"], inputs, settings.game_title) for _ in range(args.repeat)
    ]
    triggered = [through_trigger(mage, trigger, inputs, settings) for _ in range(args.repeat)]
    print(f"{'path':<44} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, times in (
        ("API trigger: start -> result readable in S3", triggered),
        ("POST /api/runs (synchronous), warm", synchronous),
    ):
        print(f"{name:<44} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}")
    print(f"{'POST /api/runs, first call after start':<44} {first:>9.3f}")


if __name__ == "__main__":
    main()
