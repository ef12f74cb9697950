"""Monitoring commands: nightly drift tests, a night's decision, the Evidently workspace."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

from machine_learning.cli.common import positive_number
from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings


def _monitor(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.monitoring.nightly import run_performance_monitoring

    def refuse(variables: dict[str, Any]) -> int:
        why = variables.get("reason") or "live quality dropped"
        raise MLOpsError(
            f"live quality calls for retraining ({why}), but --no-trigger was given: nothing started, nothing recorded"
        )

    run_performance_monitoring(settings, args.date, refuse if args.no_trigger else None)


def _decision(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.inference.batch import as_day
    from machine_learning.monitoring.decision import (
        RETRAINING_PIPELINE,
        decision_key,
        describe_record,
        last_checked_day,
    )
    from machine_learning.orchestration import MageClient, wait_for_run
    from machine_learning.services import connect

    store = connect(settings).store
    day = as_day(args.date) if args.date else last_checked_day(store, settings)
    record = store.read_json(decision_key(settings, day))
    # Under --json, stdout is the record alone (pure JSON for jq and scripts); the rest goes to stderr.
    say = functools.partial(print, file=sys.stderr) if args.json else print
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(describe_record(record))
    if args.wait and record.get("retraining_run_id"):
        run = wait_for_run(
            MageClient(settings), RETRAINING_PIPELINE, int(record["retraining_run_id"]), args.timeout, say
        )
        say(f"{run.pipeline} run {run.run_id} {run.status} (waited {run.seconds:.0f}s): {run.url}")


def _live_quality(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.monitoring.decision import last_checked_day
    from machine_learning.monitoring.quality import describe_live_quality
    from machine_learning.services import connect

    store = connect(settings).store
    day = args.date or last_checked_day(store, settings)
    print("\n".join(describe_live_quality(store, settings, day, args.days)))


def _init_workspace(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.monitoring.workspace import evidently_project_url, open_project

    opened = open_project(settings)
    print(f"Evidently project {settings.game_title}: {evidently_project_url(settings, opened.project.id)}")


def add_commands(commands: Any) -> None:
    """Register the monitoring commands on the ``mlops`` sub-command parser."""
    monitor = commands.add_parser("monitor", help="run the nightly drift tests of a day here (not in Mage)")
    monitor.add_argument("--date", required=True, help="YYYY-MM-DD (a day batch inference scored)")
    monitor.add_argument("--no-trigger", action="store_true", help="fail instead of starting retraining in Mage")
    monitor.set_defaults(command=_monitor)
    decision = commands.add_parser("decision", help="show a night's retraining decision")
    decision.add_argument("--date", help="YYYY-MM-DD (default: the latest night monitoring checked)")
    decision.add_argument("--wait", action="store_true", help="wait for the retraining run it started")
    decision.add_argument("--json", action="store_true", help="print the full record as JSON (only JSON on stdout)")
    decision.add_argument("--timeout", type=positive_number, default=900.0, help="seconds to wait (default 900)")
    decision.set_defaults(command=_decision)
    live = commands.add_parser("live-quality", help="accuracy of served (and shadow) predictions per labelled day")
    live.add_argument("--date", help="last day, YYYY-MM-DD (default: the latest night monitoring checked)")
    live.add_argument("--days", type=int, default=7, help="days ending on --date (default 7)")
    live.set_defaults(command=_live_quality)
    commands.add_parser(
        "init-workspace", help="create the title's Evidently project and dashboard (make up runs it)"
    ).set_defaults(command=_init_workspace)
