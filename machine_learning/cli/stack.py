"""Stack and orchestration commands: run pipelines in Mage, trigger tokens, the bucket."""

from __future__ import annotations

import argparse
from typing import Any

from machine_learning.cli.common import json_object, positive_number
from machine_learning.settings import Settings


def _trigger_token(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.orchestration import MageClient

    trigger = MageClient(settings).find_trigger(args.pipeline, f"{args.pipeline}_api")
    print(f"export TRIGGER_ID={trigger['id']}\nexport TRIGGER_TOKEN={trigger['token']}")


def _run_pipeline(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.orchestration import MageClient, run_pipeline, start_pipeline
    from machine_learning.run_variables import prepare_run_variables

    chosen = json_object(args.variables, "--variables") if args.variables else {}
    variables = prepare_run_variables(args.pipeline, chosen, settings.s3_bucket, settings.game_title)
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


def _init_storage(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.storage import ensure_bucket, make_store

    ensure_bucket(make_store(settings))
    print(f"bucket s3://{settings.s3_bucket} ready at {settings.s3_endpoint_url}")


def add_commands(commands: Any) -> None:
    """Register the stack and orchestration commands on the ``mlops`` sub-command parser."""
    token = commands.add_parser("trigger-token", help="print a pipeline's API trigger id and token as shell exports")
    token.add_argument("pipeline")
    token.set_defaults(command=_trigger_token)
    run = commands.add_parser("run-pipeline", help="run a Mage pipeline through its API trigger and wait for it")
    run.add_argument("pipeline", help="a pipeline of mage_project/pipelines, e.g. training or batch_inference")
    run.add_argument("--variables", help="runtime variables as JSON")
    run.add_argument("--timeout", type=positive_number, default=900.0, help="seconds to wait (default 900)")
    run.add_argument("--no-wait", action="store_true", help="start the run, print its id and return")
    run.set_defaults(command=_run_pipeline)
    wait = commands.add_parser("wait-run", help="wait for a Mage pipeline run to finish (fails if it failed)")
    wait.add_argument("pipeline")
    wait.add_argument("run_id", type=int)
    wait.add_argument("--timeout", type=positive_number, default=900.0, help="seconds to wait (default 900)")
    wait.set_defaults(command=_wait_run)
    commands.add_parser("init-storage", help="create the S3 bucket if missing").set_defaults(command=_init_storage)
