"""Prediction-log commands: what serving's log wrote and lost, and live quality per variant from it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from machine_learning.settings import Settings


def _stats(args: argparse.Namespace, settings: Settings) -> None:
    import httpx

    url = args.serving_url or settings.serving_url
    answer = httpx.get(f"{url}/prediction-log/stats", headers={"X-API-Token": settings.serving_token}, timeout=10)
    answer.raise_for_status()
    print(json.dumps(answer.json(), indent=2))


def _quality(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.predlog.quality import describe_result, evaluate_prediction_log
    from machine_learning.services import connect

    result = evaluate_prediction_log(connect(settings), settings, args.date, args.days, act=not args.dry_run)
    print(json.dumps(result.to_dict(), indent=2) if args.json else "\n".join(describe_result(result)))


def add_commands(commands: Any) -> None:
    """Register the ``prediction-log`` command group on the ``mlops`` sub-command parser."""
    group = commands.add_parser("prediction-log", help="serving's log of online predictions, and its live quality")
    steps = group.add_subparsers(required=True, metavar="STEP")
    stats = steps.add_parser("stats", help="predictions serving wrote to the log, has waiting, and lost")
    stats.add_argument("--serving-url", help="default SERVING_URL")
    stats.set_defaults(command=_stats)
    quality = steps.add_parser(
        "quality", help="join the log with published labels; withdraw a worse challenger, promote a better one"
    )
    quality.add_argument("--date", required=True, help="last day, YYYY-MM-DD")
    quality.add_argument("--days", type=int, default=7, help="days ending on --date (default 7)")
    quality.add_argument("--dry-run", action="store_true", help="report and record, but withdraw or promote nothing")
    quality.add_argument("--json", action="store_true", help="print JSON")
    quality.set_defaults(command=_quality)
