"""The operator API's actions: each one calls the package function the CLI command of the same name calls.

Services are passed in (``OperatorServices``), so tests point them at a live local stack or a small fake Mage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.settings import Settings


@dataclass(frozen=True)
class OperatorServices:
    """How the actions reach the outside world.

    Attributes:
        mage: Returns a logged-in ``MageClient``.
        connect: Returns the S3 store and MLflow client (``machine_learning.services.connect``).
        aws: Returns a boto3 client for a service name (cleanup).

    """

    mage: Callable[[], Any]
    connect: Callable[[], Any]
    aws: Callable[[str], Any]


def default_services(settings: Settings) -> OperatorServices:
    """Build the services from the settings; nothing connects until an action runs."""

    def mage() -> Any:
        from machine_learning.orchestration import MageClient

        return MageClient(settings)

    def connect() -> Any:
        from machine_learning.services import connect as connect_services

        return connect_services(settings)

    def aws(service: str) -> Any:
        import boto3

        return boto3.session.Session().client(service)

    return OperatorServices(mage=mage, connect=connect, aws=aws)


def read_status(settings: Settings) -> dict[str, Any]:
    """Production, candidate and previous versions (as ``mlops status --json``)."""
    from machine_learning.cli.mlflow_rest import read_alias_versions

    def summary(info: dict[str, Any] | None) -> dict[str, Any] | None:
        if info is None:
            return None
        keep = ("test_accuracy", "test_f1_macro", "selection_decision", "selection_reason")
        return {"version": info["version"], "run_id": info["run_id"], **{k: info["tags"].get(k) for k in keep}}

    aliases = read_alias_versions(settings)
    return {
        "title": settings.game_title,
        "model_name": settings.model_name,
        **{a: summary(v) for a, v in aliases.items()},
    }


def start_run(
    settings: Settings, services: OperatorServices, pipeline: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Start a pipeline through its API trigger and return at once (as ``mlops run-pipeline --no-wait``)."""
    from machine_learning.orchestration import start_pipeline
    from machine_learning.run_variables import PIPELINE_VARIABLES, prepare_run_variables

    if pipeline not in PIPELINE_VARIABLES:
        raise NotFoundError(f"unknown pipeline {pipeline!r}; choose from {', '.join(PIPELINE_VARIABLES)}")
    prepared = prepare_run_variables(pipeline, variables, settings.s3_bucket, settings.game_title)
    client = services.mage()
    run_id = start_pipeline(client, pipeline, prepared)
    url = client.run_url(pipeline, run_id)
    return {"pipeline": pipeline, "run_id": run_id, "status": "initial", "finished": False, "url": url}


def read_run(services: OperatorServices, pipeline: str, run_id: int) -> dict[str, Any]:
    """Return a pipeline run's status now, failed blocks and first error (``mlops wait-run``, without waiting)."""
    from machine_learning.orchestration import FINISHED

    client = services.mage()
    run = client.get_run(run_id)
    if run.get("pipeline_uuid") != pipeline:
        raise NotFoundError(f"run {run_id} is not a run of pipeline {pipeline}")
    failed = [b["block_uuid"] for b in run.get("block_runs", []) if b.get("status") == "failed"]
    error = client.failure_reason(pipeline, run_id) if run["status"] == "failed" else None
    return {
        "pipeline": pipeline,
        "run_id": run_id,
        "status": run["status"],
        "finished": run["status"] in FINISHED,
        "failed_blocks": failed,
        "error": error or None,
        "url": client.run_url(pipeline, run_id),
    }


def promote(settings: Settings, services: OperatorServices) -> dict[str, Any]:
    """Model selection: promote the candidate if it beats production (as ``mlops promote``)."""
    from machine_learning.selection import select_model

    connected = services.connect()
    return select_model(connected.mlflow, connected.store, settings).to_dict()


def rollback(settings: Settings, services: OperatorServices, reason: str) -> dict[str, Any]:
    """Put the previous version back into production, audited, never amid a selection (as ``mlops rollback``)."""
    from machine_learning.locks import title_lock
    from machine_learning.registry import rollback_production
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.selection import SELECTION_LOCK

    connected = services.connect()
    audit = AuditLog(connected.mlflow, connected.store, settings)
    with title_lock(connected.store, settings, SELECTION_LOCK):
        version = rollback_production(connected.mlflow, settings, audit, reason)
    message = f"rolled back: {version.name} v{version.version} is in production again"
    return {"production_version": version.version, "message": message}


def decide_approval(
    settings: Settings, services: OperatorServices, version: str, approve: bool, reason: str
) -> dict[str, Any]:
    """Approve (and promote) or reject a version under the promotion policy (as ``mlops approve`` / ``reject``)."""
    from machine_learning.locks import title_lock
    from machine_learning.rollout.approval import approve_version, check_request, reject_version
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.selection import SELECTION_LOCK

    check_request(version, reason)  # refused before any lock or call
    connected = services.connect()
    audit = AuditLog(connected.mlflow, connected.store, settings)
    if not approve:
        info = reject_version(audit, settings, version, reason)
        return {"version": info.version, "decision": "rejected", "message": f"v{info.version} will not be promoted"}
    with title_lock(connected.store, settings, SELECTION_LOCK):  # production moves: never amid a model selection
        info = approve_version(audit, settings, version, reason)
    return {"version": info.version, "decision": "approved", "message": f"v{info.version} is in production"}


def read_decision(settings: Settings, services: OperatorServices, day: str | None) -> dict[str, Any]:
    """Return a night's monitoring decision, the latest by default (as ``mlops decision --json``)."""
    from machine_learning.monitoring.decision import decision_key, describe_record, last_checked_day

    store = services.connect().store
    night = day or last_checked_day(store, settings)
    record = dict(store.read_json(decision_key(settings, night)))
    return {**record, "summary": describe_record(record)}


def read_live_quality(settings: Settings, services: OperatorServices, day: str | None, days: int) -> dict[str, Any]:
    """Live accuracy per labelled day, production and shadow (as ``mlops live-quality``)."""
    from machine_learning.monitoring.data import window_days
    from machine_learning.monitoring.decision import last_checked_day
    from machine_learning.monitoring.quality import load_live_predictions, summarise_live

    store = services.connect().store
    night = day or last_checked_day(store, settings)
    rows = summarise_live(load_live_predictions(store, settings, window_days(night, days)))
    return {"title": settings.game_title, "day": night, "days": days, "rows": [q.to_dict() for q in rows]}


def cleanup(settings: Settings, services: OperatorServices, request: dict[str, Any]) -> dict[str, Any]:
    """List, and unless a dry run, back up and delete a deployment's AWS resources by tag (as ``mlops cleanup``)."""
    from machine_learning.deploy.cleanup import TagScope, delete_resources, find_resources, write_backup

    scope = TagScope(project=request["project"], game_title=settings.game_title, environment=request["environment"])
    dry_run = request["dry_run"]
    if not dry_run and request.get("confirm_environment") != scope.environment:
        raise InvalidInputError(
            f"to delete, set confirm_environment to {scope.environment!r} (or keep dry_run true to only list)"
        )
    try:
        resources = find_resources(services.aws, scope)
    except Exception as error:  # noqa: BLE001 - botocore errors (credentials, permissions, endpoint) as one line
        raise MLOpsError(
            f"cannot list resources ({type(error).__name__}: {str(error)[:300]}); check AWS credentials and region"
        ) from None
    listed = [
        {"arn": r.arn, "service": r.service, "kind": r.kind, "name": r.name, "supported": r.supported}
        for r in resources
    ]
    if dry_run or not resources:
        return {"dry_run": dry_run, "resources": listed}
    folder = Path(settings.cleanup_backup_dir).expanduser()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    backup = write_backup(resources, scope, folder)
    report = delete_resources(services.aws, resources, request["delete_bucket_contents"])
    return {
        "dry_run": False,
        "resources": listed,
        "deleted": report.deleted,
        "skipped": report.skipped,
        "failed": report.failed,
        "backup": str(backup),
    }


def relay_failure(settings: Settings, services: OperatorServices, payload: Any) -> str:
    """Turn Mage's failure notification (Slack blocks) into one de-duplicated alert; return its key."""
    from machine_learning.alerts.events import alert_for_failed_run
    from machine_learning.alerts.webhook import submit_alert

    texts = [
        str(block.get("text", {}).get("text", ""))
        for block in (payload.get("blocks", []) if isinstance(payload, dict) else [])
        if isinstance(block, dict) and isinstance(block.get("text"), dict)
    ]
    message = ": ".join(text for text in texts if text) or str(payload)[:2000]
    alert = alert_for_failed_run(settings.game_title, message)
    submit_alert(services.connect().store, settings, alert)
    return alert.key
