"""Safe-rollout commands: approve, reject, history, canary start / stop / check."""

from __future__ import annotations

import argparse
import json
from typing import Any

from machine_learning.settings import Settings


def _audit(settings: Settings) -> Any:
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.services import connect

    services = connect(settings)
    return AuditLog(services.mlflow, services.store, settings)


def _approve(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.locks import title_lock
    from machine_learning.rollout.approval import approve_version, check_request
    from machine_learning.selection import SELECTION_LOCK

    check_request(args.version, args.reason)  # refused before any lock or call
    audit = _audit(settings)
    with title_lock(audit.store, settings, SELECTION_LOCK):  # production moves: never amid a model selection
        version = approve_version(audit, settings, args.version, args.reason)
    print(f"approved: {version.name} v{version.version} is in production")


def _reject(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.rollout.approval import reject_version

    version = reject_version(_audit(settings), settings, args.version, args.reason)
    print(f"rejected: {version.name} v{version.version} will not be promoted")


def _history(args: argparse.Namespace, settings: Settings) -> None:
    events = _audit(settings).history(args.version)
    if args.json:
        print(json.dumps([event.to_dict() for event in events], indent=2))
        return
    print(f"audit log of {settings.model_name} ({len(events)} events)")
    for event in events[-args.limit :] if args.limit else events:
        print(f"  {event.describe()}")


def _canary_start(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.rollout.canary import start_canary

    config = start_canary(_audit(settings), settings, args.version, args.share, args.mode)
    print(f"challenger v{config.version}: {config.mode} at {config.share:.1%} of players (serving follows it)")


def _canary_stop(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.rollout.canary import stop_canary

    version = stop_canary(_audit(settings), settings, args.reason)
    print(f"stopped: v{version.version} is no longer the challenger")


def _canary_check(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.rollout.retreat import check_canary

    outcome = check_canary(_audit(settings), settings, args.serving_url or settings.serving_url)
    print(outcome)


def add_commands(commands: Any) -> None:
    """Register the rollout commands on the ``mlops`` sub-command parser."""
    for name, action, text in (
        ("approve", _approve, "approve a version waiting for approval and promote it"),
        ("reject", _reject, "reject a version: it is never promoted"),
    ):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("version", help="the model version number")
        parser.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        parser.set_defaults(command=action)
    history = commands.add_parser("history", help="print the rollout audit log")
    history.add_argument("--version", help="only this model version")
    history.add_argument("--limit", type=int, default=0, help="only the newest N events")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(command=_history)
    canary = commands.add_parser("canary", help="run a challenger beside production in serving")
    steps = canary.add_subparsers(required=True, metavar="STEP")
    start = steps.add_parser("start", help="make VERSION the challenger")
    start.add_argument("version", help="the model version number")
    start.add_argument("--share", type=float, default=None, help="share of players, 0 to 1 (default CANARY_SHARE)")
    start.add_argument("--mode", choices=("canary", "shadow"), default=None, help="default CANARY_MODE")
    start.set_defaults(command=_with_defaults(_canary_start))
    stop = steps.add_parser("stop", help="remove the challenger")
    stop.add_argument("--reason", default="stopped by an operator", help="why (recorded in the audit log)")
    stop.set_defaults(command=_canary_stop)
    check = steps.add_parser("check", help="apply the retreat rule to serving's live figures; withdraw if worse")
    check.add_argument("--serving-url", help="default SERVING_URL")
    check.set_defaults(command=_canary_check)


def _with_defaults(command: Any) -> Any:
    def run(args: argparse.Namespace, settings: Settings) -> None:
        args.share = settings.canary_share if args.share is None else args.share
        args.mode = args.mode or settings.canary_mode
        command(args, settings)

    return run
