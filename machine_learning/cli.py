"""Command-line interface: the same lifecycle steps as the Mage pipelines, for scripts, the Makefile and tests."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command.

    Args:
        argv: Arguments without the program name (defaults to ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 on success, 1 on a reported error, 2 on bad usage.

    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "cleanup" in arguments[:3] and arguments[:1] != ["cleanup"]:
        usage = "mlops cleanup --game-title T --environment E"
        print(f"error: cleanup takes its own --game-title: {usage}", file=sys.stderr)
        return 2
    if arguments[:1] == ["cleanup"]:
        from machine_learning.deploy.cleanup import main as cleanup_main

        return cleanup_main(arguments[1:])
    parser = _build_parser()
    args = parser.parse_args(arguments)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        settings = load_settings({"game_title": args.game_title} if args.game_title else None)
        command: Callable[[argparse.Namespace, Settings], None] = args.command
        command(args, settings)
    except MLOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the CLI promises one line, never a traceback
        print(f"error: {describe_unexpected(error)}", file=sys.stderr)
        return 1
    return 0


def describe_unexpected(error: Exception) -> str:
    """Turn connection and service errors into a message that says what to do."""
    name = type(error).__name__
    text = str(error).splitlines()[0] if str(error) else name
    if name in ("EndpointConnectionError", "ConnectionError", "ConnectTimeoutError", "MaxRetryError"):
        return f"cannot reach a service ({text}); is the local stack running? try 'make up'"
    if name in ("NoCredentialsError", "ClientError") and ("credential" in text.lower() or "AccessKey" in text):
        return f"S3 rejected the credentials ({text}); source .local/stack.env or set AWS_ACCESS_KEY_ID"
    if name == "MlflowException" and ("Connection" in text or "Max retries" in text):
        return f"cannot reach MLflow ({text[:200]}); is the local stack running? try 'make up'"
    return f"{name}: {text[:500]}"


def _prepare(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.prepare import check_quarantine_share, load_raw_players, publish_prepared
    from machine_learning.data.validate import validate_players
    from machine_learning.services import connect, upload_raw

    given = args.input or settings.raw_uri
    # Parse a local file before creating any client: a file that is not player data fails fast, offline,
    # and leaves nothing behind in S3.
    raw = _step(f"read {given}", lambda: load_raw_players(given, None if _is_local(given) else connect(settings).store))
    result = _step("validate", lambda: validate_players(raw))
    check_quarantine_share(result, settings.max_quarantine_share, given)
    services = connect(settings)
    source = _step("upload raw data", lambda: upload_raw(given, services.store, settings))
    prepared = _step("publish", lambda: publish_prepared(result, services.store, settings, source))
    print(
        f"prepared {prepared.processed_rows} of {prepared.input_rows} rows "
        f"({prepared.quarantined_rows} quarantined) -> {prepared.players_uri}"
    )
    for reason, count in prepared.quarantine_reasons.items():
        print(f"  quarantined: {reason}: {count} rows (see {prepared.quarantine_uri})")


def _train(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.prepare import load_prepared_players
    from machine_learning.registry import register_candidate
    from machine_learning.services import connect
    from machine_learning.training.train import train_candidate

    if args.input:
        _prepare(args, settings)
    services = connect(settings)
    frame = _step("load processed data", lambda: load_prepared_players(services.store, settings))
    params = json.loads(args.params) if args.params else None
    result = _step("train and evaluate", lambda: train_candidate(frame, services.store, settings, params))
    accuracy, f1 = result.metrics["accuracy"], result.metrics["f1_macro"]
    print(f"run {result.run_id}: accuracy {accuracy:.4f}, macro-F1 {f1:.4f}, fit {result.fit_seconds:.1f}s")
    version = _step("register candidate", lambda: register_candidate(services.mlflow, settings, result))
    print(f"registered {version.name} v{version.version} as 'candidate'")


def _upload(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.prepare import load_raw_players
    from machine_learning.inference.batch import as_day
    from machine_learning.services import connect, upload_batch, upload_raw
    from machine_learning.storage import read_source_bytes

    if args.date:  # a scoring batch: the label is optional
        parse_raw_players(read_source_bytes(args.input, None), args.input, require_label=False)
        print(upload_batch(args.input, connect(settings).store, settings, as_day(args.date)))
        return
    load_raw_players(args.input, None)  # refuse to upload a file that is not player data
    print(upload_raw(args.input, connect(settings).store, settings))


def _show_predictions(args: argparse.Namespace, settings: Settings) -> None:
    import pandas as pd

    from machine_learning.inference.batch import as_day, daily_batch_locations
    from machine_learning.services import connect
    from machine_learning.storage import parse_s3_uri

    _, outputs = daily_batch_locations(settings, as_day(args.date))
    frame = connect(settings).store.read_parquet(parse_s3_uri(outputs.predictions)[1])
    print(f"{len(frame)} predictions in {outputs.predictions}; first {args.limit}:")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(frame.head(args.limit).to_string(index=False))


def _predict(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.batch import BatchOutputs
    from machine_learning.inference.model import load_production_model
    from machine_learning.scale.engine import score_with_engine
    from machine_learning.services import connect

    settings = settings.with_overrides({"scoring_engine": args.engine})
    services = connect(settings)
    model = _step("load model", lambda: load_production_model(services.mlflow, settings, args.model_version))
    print(f"   {model.name} v{model.version}")
    outputs = BatchOutputs(predictions=args.output, quarantine=_sibling(args.output, "quarantine"))
    result = _step(
        f"score {args.input}",
        lambda: score_with_engine(settings, args.input, outputs, model, services.store, args.chunk_rows, print),
    )
    print(f"scored {result.scored_rows} of {result.input_rows} rows -> {result.outputs['predictions']}")
    if result.quarantined_rows:
        print(f"quarantined {result.quarantined_rows} rows -> {result.outputs['quarantine']}")
        for reason, count in result.quarantine_reasons.items():
            print(f"  {reason}: {count} rows")
    print("timings (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in result.timings.items()))


def _sibling(target: str, label: str) -> str:
    """``out/predictions.parquet`` -> ``out/predictions.quarantine.parquet`` (same place, same format)."""
    stem, dot, suffix = target.rpartition(".")
    return f"{stem}.{label}.{suffix}" if dot and "/" not in suffix else f"{target}.{label}.parquet"


def _online_result(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.online import fetch_online_result
    from machine_learning.services import connect

    print(json.dumps(fetch_online_result(connect(settings).store, settings, args.request_id), indent=2))


def _trigger_token(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.orchestration import MageClient

    trigger = MageClient(settings).find_trigger(args.pipeline, f"{args.pipeline}_api")
    print(f"export TRIGGER_ID={trigger['id']}\nexport TRIGGER_TOKEN={trigger['token']}")


EXAMPLE_PLAYER = {
    "PlayerID": 9000, "Age": 43, "Gender": "Male", "Location": "Other", "GameGenre": "Strategy",
    "PlayTimeHours": 16.27, "InGamePurchases": 0, "GameDifficulty": "Medium", "SessionsPerWeek": 6,
    "AvgSessionDurationMinutes": 108, "PlayerLevel": 79, "AchievementsUnlocked": 25,
}  # fmt: skip


def _serving_check(args: argparse.Namespace, settings: Settings) -> None:
    import requests

    from machine_learning.errors import MLOpsError

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


def _promote(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.selection import select_model
    from machine_learning.services import connect

    services = connect(settings)
    result = _step("compare candidate with production", lambda: select_model(services.mlflow, services.store, settings))
    print(result.describe())


def _rollback(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.registry import rollback_production
    from machine_learning.services import connect

    version = rollback_production(connect(settings).mlflow, settings)
    print(f"rolled back: {version.name} v{version.version} is in production again")


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.registry import get_status
    from machine_learning.services import connect

    status = get_status(connect(settings).mlflow, settings)
    if args.json:
        print(json.dumps({alias: info.to_dict() if info else None for alias, info in status.items()}, indent=2))
        return
    print(f"model {settings.model_name} (MLflow {settings.mlflow_tracking_uri})")
    for alias, info in status.items():
        if info is None:
            print(f"  {alias:<10} -")
            continue
        tags = info.tags
        print(
            f"  {alias:<10} v{info.version}  accuracy {tags.get('test_accuracy', '?')}  "
            f"macro-F1 {tags.get('test_f1_macro', '?')}  run {info.run_id}"
        )
        if tags.get("selection_reason"):
            print(f"  {'':<10} decision: {tags.get('selection_decision')} - {tags['selection_reason']}")


def _run_pipeline(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.orchestration import MageClient, run_pipeline, start_pipeline

    # The server's own GAME_TITLE may differ from the caller's: the run uses the caller's settings.
    variables = {"game_title": settings.game_title, **(json.loads(args.variables) if args.variables else {})}
    client = MageClient(settings)
    if args.no_wait:
        run_id = start_pipeline(client, args.pipeline, variables)
        print(f"{args.pipeline} run {run_id} started: {client.run_url(args.pipeline, run_id)}")
        return
    run = run_pipeline(client, args.pipeline, variables, args.timeout, lambda line: print(f"   {line}"))
    print(f"{run.pipeline} run {run.run_id} {run.status} in {run.seconds:.0f}s: {run.url}")


def _wait_run(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.orchestration import MageClient, wait_for_run

    run = wait_for_run(MageClient(settings), args.pipeline, args.run_id, args.timeout)
    print(f"{run.pipeline} run {run.run_id} {run.status} (waited {run.seconds:.0f}s): {run.url}")


def _monitor(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.monitoring.nightly import run_performance_monitoring

    def refuse(variables: dict[str, Any]) -> int:
        raise MLOpsError("drift calls for retraining, but --no-trigger was given: nothing started, nothing recorded")

    run_performance_monitoring(settings, args.date, refuse if args.no_trigger else None)


def _decision(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.batch import as_day
    from machine_learning.monitoring.decision import RETRAINING_PIPELINE, decision_key, describe_record
    from machine_learning.orchestration import MageClient, wait_for_run
    from machine_learning.services import connect

    record = connect(settings).store.read_json(decision_key(settings, as_day(args.date)))
    print(describe_record(record))
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    if args.wait and record.get("retraining_run_id"):
        run = wait_for_run(
            MageClient(settings), RETRAINING_PIPELINE, int(record["retraining_run_id"]), args.timeout, print
        )
        print(f"{run.pipeline} run {run.run_id} {run.status} (waited {run.seconds:.0f}s): {run.url}")


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.simulation import run_simulation

    print(run_simulation(settings, args.day, args.players, args.drift, args.seed, args.source)["summary"])


def _init_workspace(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.monitoring.workspace import evidently_project_url, open_project

    opened = open_project(settings)
    print(f"Evidently project {settings.game_title}: {evidently_project_url(settings, opened.project.id)}")


def _init_storage(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.storage import ensure_bucket, make_store

    ensure_bucket(make_store(settings))
    print(f"bucket s3://{settings.s3_bucket} ready at {settings.s3_endpoint_url}")


def _is_local(source: str) -> bool:
    return not source.startswith("s3://")


def _step(label: str, action: Callable[[], Any]) -> Any:
    """Run one step with progress output, so long steps are never silent."""
    print(f"-> {label} ...", flush=True)
    started = time.perf_counter()
    value = action()
    print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="machine_learning", description="Player-engagement MLOps lifecycle.")
    parser.add_argument("--game-title", help="override GAME_TITLE for this command")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    prepare = commands.add_parser("prepare", help="validate raw data and publish the processed datasets")
    prepare.add_argument("--input", help="local CSV (uploaded to S3 first) or s3:// URI; default: the title's raw CSV")
    prepare.set_defaults(command=_prepare)
    upload = commands.add_parser("upload", help="check a raw CSV and copy it to the title's raw/ folder in S3")
    upload.add_argument("--input", required=True, help="local CSV (optionally .gz)")
    upload.add_argument("--date", help="upload as the scoring batch of this day (YYYY-MM-DD) instead of raw data")
    upload.set_defaults(command=_upload)
    show = commands.add_parser("predictions", help="show the batch predictions of a day")
    show.add_argument("--date", required=True, help="YYYY-MM-DD")
    show.add_argument("--limit", type=int, default=5, help="rows to show (default 5)")
    show.set_defaults(command=_show_predictions)
    train = commands.add_parser("train", help="prepare (if --input), train, evaluate and register a candidate")
    train.add_argument("--input", help="local CSV or s3:// URI in the raw schema; default: latest processed data")
    train.add_argument("--params", help="pipeline parameter overrides as JSON, e.g. '{\"classifier__max_iter\": 50}'")
    train.set_defaults(command=_train)
    predict = commands.add_parser("predict", help="score a batch with the production model (streams in chunks)")
    predict.add_argument(
        "--input", required=True, help="CSV (optionally .gz) or Parquet file, or a folder / s3:// prefix ending in /"
    )
    predict.add_argument("--output", required=True, help="predictions .csv or .parquet: local path or s3:// URI")
    predict.add_argument("--model-version", help="score with this registered version instead of 'production'")
    predict.add_argument("--chunk-rows", type=int, default=250_000, help="rows per chunk (default 250000)")
    predict.add_argument("--engine", choices=("local", "dask"), help="overrides SCORING_ENGINE (default: local)")
    predict.set_defaults(command=_predict)
    online = commands.add_parser("online-result", help="print the stored result of an online inference request")
    online.add_argument("request_id", help="the request id; for an API-triggered run: mage-run-<run id>")
    online.set_defaults(command=_online_result)
    token = commands.add_parser("trigger-token", help="print a pipeline's API trigger id and token as shell exports")
    token.add_argument("pipeline")
    token.set_defaults(command=_trigger_token)
    check = commands.add_parser("serving-check", help="wait for the serving API's model, then score one player")
    check.add_argument("--url", default="http://127.0.0.1:8080", help="serving API (default http://127.0.0.1:8080)")
    check.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a model (default 60)")
    check.set_defaults(command=_serving_check)
    commands.add_parser("promote", help="promote the candidate if it beats production").set_defaults(command=_promote)
    commands.add_parser("rollback", help="put the previous version back into production").set_defaults(
        command=_rollback
    )
    status = commands.add_parser("status", help="show production, candidate and previous versions")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(command=_status)
    run = commands.add_parser("run-pipeline", help="run a Mage pipeline through its API trigger and wait for it")
    run.add_argument("pipeline", help="a pipeline of mage_project/pipelines, e.g. training or batch_inference")
    run.add_argument("--variables", help="runtime variables as JSON")
    run.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (default 900)")
    run.add_argument("--no-wait", action="store_true", help="start the run, print its id and return")
    run.set_defaults(command=_run_pipeline)
    wait = commands.add_parser("wait-run", help="wait for a Mage pipeline run to finish (fails if it failed)")
    wait.add_argument("pipeline")
    wait.add_argument("run_id", type=int)
    wait.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (default 900)")
    wait.set_defaults(command=_wait_run)
    monitor = commands.add_parser("monitor", help="run the nightly drift tests of a day here (not in Mage)")
    monitor.add_argument("--date", required=True, help="YYYY-MM-DD (a day batch inference scored)")
    monitor.add_argument("--no-trigger", action="store_true", help="fail instead of starting retraining in Mage")
    monitor.set_defaults(command=_monitor)
    decision = commands.add_parser("decision", help="show a night's retraining decision")
    decision.add_argument("--date", required=True, help="YYYY-MM-DD")
    decision.add_argument("--wait", action="store_true", help="wait for the retraining run it started")
    decision.add_argument("--json", action="store_true", help="also print the full record")
    decision.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (default 900)")
    decision.set_defaults(command=_decision)
    simulate = commands.add_parser("simulate", help="write one simulated day of players (Sundays: the week's labels)")
    simulate.add_argument("--day", required=True, help="YYYY-MM-DD")
    simulate.add_argument("--players", type=int, default=2000, help="players in the day's batch (default 2000)")
    simulate.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="KIND=STRENGTH",
        help="session_length, sessions_per_week, genre_mix or playtime, strength in [0, 1]; repeatable",
    )
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.add_argument("--source", help="labelled player CSV to draw from (default: SIMULATOR_SOURCE or data/)")
    simulate.set_defaults(command=_simulate)
    commands.add_parser("init-storage", help="create the S3 bucket if missing").set_defaults(command=_init_storage)
    commands.add_parser(
        "init-workspace", help="create the title's Evidently project and dashboard (make up runs it)"
    ).set_defaults(command=_init_workspace)
    # Listed for --help only: main() hands `cleanup` to its own parser (it takes AWS tags, not these settings).
    commands.add_parser("cleanup", help="delete AWS resources by tag: mlops cleanup --help", add_help=False)
    return parser
