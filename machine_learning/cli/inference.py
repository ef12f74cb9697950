"""Inference commands: score a file, read an online result, check the serving API."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from machine_learning.cli.common import _step, bounded_int, positive_number
from machine_learning.settings import Settings

MAX_CHUNK_ROWS = 5_000_000  # a chunk is held in memory: more rows than this buy nothing but RSS


def _predict(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.batch import BatchOutputs, check_batch_input, check_batch_outputs
    from machine_learning.inference.model import check_model_version, load_model
    from machine_learning.scale.engine import score_with_engine
    from machine_learning.storage import make_store

    if args.engine:
        settings = settings.with_overrides({"scoring_engine": args.engine})
    if args.model_version is not None:
        check_model_version(args.model_version)
    outputs = BatchOutputs(predictions=args.output, quarantine=_sibling(args.output, "quarantine"))
    check_batch_input(args.input)  # local checks: before any connection
    check_batch_outputs(args.input, outputs, None, args.overwrite)
    store = make_store(settings)  # no MLflow client: scoring a file needs no mlflow import (seconds)
    check_batch_outputs(args.input, outputs, store, args.overwrite)
    model = _step("load model", lambda: load_model(settings, args.model_version or _production_version(settings)))
    print(f"   {model.name} v{model.version}")
    result = _step(
        f"score {args.input}",
        lambda: score_with_engine(settings, args.input, outputs, model, store, args.chunk_rows, print),
    )
    print(f"scored {result.scored_rows} of {result.input_rows} rows -> {result.outputs['predictions']}")
    if result.quarantined_rows:
        print(f"quarantined {result.quarantined_rows} rows -> {result.outputs['quarantine']}")
        for reason, count in result.quarantine_reasons.items():
            print(f"  {reason}: {count} rows")
    print("timings (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in result.timings.items()))


def _production_version(settings: Settings) -> str:
    """Resolve production over MLflow's REST API, or from the cached pointer when MLflow is down."""
    from machine_learning.cli.mlflow_rest import read_alias_version
    from machine_learning.errors import NotFoundError
    from machine_learning.inference.model import PRODUCTION, mlflow_reachable, resolve_version

    if not mlflow_reachable(settings):
        return resolve_version(None, settings)  # answers from the cache, or says why it cannot
    info = read_alias_version(settings, PRODUCTION)
    if info is None:
        raise NotFoundError(f"model {settings.model_name} has no '{PRODUCTION}' version yet: train and promote first")
    return str(info["version"])


def _sibling(target: str, label: str) -> str:
    """``out/predictions.parquet`` -> ``out/predictions.quarantine.parquet`` (same place, same format)."""
    stem, dot, suffix = target.rpartition(".")
    return f"{stem}.{label}.{suffix}" if dot and "/" not in suffix else f"{target}.{label}.parquet"


def _online_result(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.online import fetch_online_result
    from machine_learning.services import connect

    print(json.dumps(fetch_online_result(connect(settings).store, settings, args.request_id), indent=2))


EXAMPLE_PLAYER = {
    "PlayerID": 9000, "Age": 43, "Gender": "Male", "Location": "Other", "GameGenre": "Strategy",
    "PlayTimeHours": 16.27, "InGamePurchases": 0, "GameDifficulty": "Medium", "SessionsPerWeek": 6,
    "AvgSessionDurationMinutes": 108, "PlayerLevel": 79, "AchievementsUnlocked": 25,
}  # fmt: skip


def _serving_check(args: argparse.Namespace, settings: Settings) -> None:
    import requests

    from machine_learning.errors import MLOpsError

    args.url = (args.url or settings.serving_url).rstrip("/")
    deadline = time.monotonic() + args.wait
    while True:  # right after a first promotion the API needs one reload interval to pick the model up
        try:
            health = requests.get(f"{args.url}/health", timeout=5)
        except requests.RequestException as error:
            health = None
            reason = str(error).splitlines()[0]
        if health is not None and health.ok:
            break
        if time.monotonic() > deadline:
            reason = health.text if health is not None else reason
            raise MLOpsError(f"serving API at {args.url} has no model after {args.wait:.0f}s: {reason[:300]}")
        time.sleep(1)
    body = {"players": [EXAMPLE_PLAYER]}
    started = time.perf_counter()
    response = requests.post(
        f"{args.url}/predict", json=body, headers={"X-API-Token": settings.serving_token}, timeout=10
    )
    elapsed = (time.perf_counter() - started) * 1000
    if not response.ok:
        raise MLOpsError(f"serving API answered {response.status_code}: {response.text[:300]}")
    print(f"POST {args.url}/predict ({elapsed:.1f} ms): {response.text}")


def add_commands(commands: Any) -> None:
    """Register the inference commands on the ``mlops`` sub-command parser."""
    predict = commands.add_parser("predict", help="score a batch with the production model (streams in chunks)")
    predict.add_argument("--input", required=True, help="CSV (optionally .gz) or Parquet: local path or s3:// URI")
    predict.add_argument("--output", required=True, help="predictions .csv or .parquet: local path or s3:// URI")
    predict.add_argument("--model-version", help="score with this registered version instead of 'production'")
    predict.add_argument(
        "--chunk-rows", type=bounded_int(1, MAX_CHUNK_ROWS), default=250_000, help="rows per chunk (default 250000)"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace existing output files")
    predict.add_argument("--engine", choices=("local", "dask"), help="overrides SCORING_ENGINE (default: local)")
    predict.set_defaults(command=_predict)
    online = commands.add_parser("online-result", help="print the stored result of an online inference request")
    online.add_argument("request_id", help="the request id; for an API-triggered run: mage-run-<run id>")
    online.set_defaults(command=_online_result)
    check = commands.add_parser("serving-check", help="wait for the serving API's model, then score one player")
    check.add_argument("--url", help="serving API (default: SERVING_URL, http://127.0.0.1:8080)")
    check.add_argument("--wait", type=positive_number, default=60.0, help="seconds to wait for a model (default 60)")
    check.set_defaults(command=_serving_check)
