"""Training and registry commands: train, promote, rollback, status."""

from __future__ import annotations

import argparse
import json
from typing import Any

from machine_learning.cli.common import _step
from machine_learning.cli.data import _prepare
from machine_learning.settings import Settings


def _train(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.prepare import load_prepared_players
    from machine_learning.registry import register_candidate
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.services import connect
    from machine_learning.training.params import parse_training_params
    from machine_learning.training.train import train_candidate

    params = parse_training_params(args.params) or None  # checked before anything is published or logged
    if args.input:
        _prepare(args, settings)
    services = connect(settings)
    frame = _step("load processed data", lambda: load_prepared_players(services.store, settings))
    result = _step("train and evaluate", lambda: train_candidate(frame, services.store, settings, params))
    accuracy, f1 = result.metrics["accuracy"], result.metrics["f1_macro"]
    print(f"run {result.run_id}: accuracy {accuracy:.4f}, macro-F1 {f1:.4f}, fit {result.fit_seconds:.1f}s")
    audit = AuditLog(services.mlflow, services.store, settings)
    version = _step("register candidate", lambda: register_candidate(services.mlflow, settings, result, audit))
    print(f"registered {version.name} v{version.version} as 'candidate'")


def _promote(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.selection import select_model
    from machine_learning.services import connect

    services = connect(settings)
    result = _step("compare candidate with production", lambda: select_model(services.mlflow, services.store, settings))
    print(result.describe())


def _rollback(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.locks import title_lock
    from machine_learning.registry import rollback_production
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.selection import SELECTION_LOCK
    from machine_learning.services import connect

    services = connect(settings)
    audit = AuditLog(services.mlflow, services.store, settings)
    with title_lock(services.store, settings, SELECTION_LOCK):  # never in the middle of a model selection
        version = rollback_production(services.mlflow, settings, audit, args.reason)
    print(f"rolled back: {version.name} v{version.version} is in production again")


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.cli.mlflow_rest import read_alias_versions

    status = read_alias_versions(settings)  # REST, not MlflowClient: status answers without importing mlflow
    if args.json:
        print(json.dumps(status, indent=2))
        return
    print(f"model {settings.model_name} (MLflow {settings.mlflow_tracking_uri})")
    for alias, info in status.items():
        if info is None:
            print(f"  {alias:<10} -")
            continue
        tags = info["tags"]
        # Two kinds of score: the version's own training run on its own test split, and the selection that
        # compared it with production on the candidate's held-out rows. Each line says which rows it is on.
        print(
            f"  {alias:<10} v{info['version']}  accuracy {tags.get('test_accuracy', '?')}  "
            f"macro-F1 {tags.get('test_f1_macro', '?')}  on the test split of its training run {info['run_id']}"
        )
        if tags.get("selection_reason"):
            rows = tags.get("selection_holdout_rows", "?")
            print(
                f"  {'':<10} selection: {tags.get('selection_decision')} - {tags['selection_reason']} "
                f"(both scored on this candidate's {rows} held-out rows)"
            )


def add_commands(commands: Any) -> None:
    """Register the training and registry commands on the ``mlops`` sub-command parser."""
    train = commands.add_parser("train", help="prepare (if --input), train, evaluate and register a candidate")
    train.add_argument("--input", help="local CSV or s3:// URI in the raw schema; default: latest processed data")
    train.add_argument("--params", help="pipeline parameter overrides as JSON, e.g. '{\"classifier__max_iter\": 50}'")
    train.set_defaults(command=_train)
    commands.add_parser("promote", help="promote the candidate if it beats production").set_defaults(command=_promote)
    rollback = commands.add_parser("rollback", help="put the previous version back into production")
    rollback.add_argument("--reason", default="manual rollback", help="why (recorded in the audit log)")
    rollback.set_defaults(command=_rollback)
    status = commands.add_parser("status", help="show production, candidate and previous versions")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(command=_status)
