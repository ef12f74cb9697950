"""Create a title in one step: data, MLflow, Evidently, Mage triggers, then its first loop to a production model.

Each step is idempotent and recorded in the title's registry record once done, so a create that failed (or was
killed) is finished by running it again; the record says ``ready`` only after the last step. Creates of one title
are serialised by its ``title`` lock (``locks.py``); creates of different titles run side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles import plan
from machine_learning.titles.registry import (
    CREATING,
    DELETING,
    FAILED,
    READY,
    TitleRecord,
    new_record,
    read_titles,
    save_record,
    update_titles,
)
from machine_learning.titles.validation import check_title_name

TITLE_LOCK = "title"
Progress = Callable[[str], None]
# Runs one pipeline of a title and returns its run id; told the id as soon as the run has one.
Runner = Callable[[Settings, str, dict[str, Any], Callable[[str], None]], str]


@dataclass(frozen=True)
class TitleServices:
    """What creating, listing and deleting titles reach.

    Attributes:
        store: The install's bucket.
        mlflow: An ``MlflowClient``.
        mage: Returns a logged-in ``MageClient`` (triggers, runs).
        run: Runs one pipeline for a title (:func:`mage_runner` or :func:`local_runner`).
        evidently: Opens (creating) a title's Evidently project with its dashboard
            (``monitoring.workspace.open_project``); returns the project's name.

    """

    store: ObjectStore
    mlflow: Any
    mage: Callable[[], Any]
    run: Runner
    evidently: Callable[[Settings], str]


def title_settings(settings: Settings, name: str) -> Settings:
    """Return the settings of one title: the install's, with ``game_title`` set to it."""
    return dataclasses.replace(settings, game_title=name)


def check_new_title(name: Any, settings: Settings) -> str:
    """Check a name for a title to create: valid, and not the default title (which the install always has)."""
    check_title_name(name)
    if name == settings.game_title:
        raise InvalidInputError(f"{name!r} is the default title (GAME_TITLE): it exists already and is not created")
    return str(name)


def read_seed(source: str, store: ObjectStore, settings: Settings) -> bytes:
    """Read and check a title's seed CSV exactly as data_preparation will, before anything is written.

    Args:
        source: Local CSV (optionally gzip-compressed) or ``s3://`` URI in the bucket.
        store: Reads S3 sources.
        settings: The maximum quarantine share.

    Returns:
        The file's bytes, to be uploaded as the title's raw data.

    Raises:
        InvalidInputError: Not a player CSV, or too many invalid rows (the same messages as ``mlops prepare``).

    """
    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.prepare import check_quarantine_share
    from machine_learning.data.validate import validate_players
    from machine_learning.storage import read_source_bytes

    data = read_source_bytes(source, store)
    result = validate_players(parse_raw_players(data, source, require_label=True))
    check_quarantine_share(result, settings.max_quarantine_share, source)
    return data


def start_creation(store: ObjectStore, name: str, operation_id: str | None = None) -> TitleRecord:
    """Register a title as ``creating``, or find the record of an earlier create to resume.

    Raises:
        InvalidInputError: The title is being deleted.

    """
    found: dict[str, TitleRecord] = {}

    def begin(titles: dict[str, TitleRecord]) -> dict[str, TitleRecord]:
        record = titles.get(name)
        if record is not None and record.state == DELETING:
            raise InvalidInputError(f"title {name!r} is being deleted; finish with 'mlops title delete {name} --yes'")
        if record is None:
            record = new_record(name, operation_id)
        elif record.state != READY:
            record = dataclasses.replace(record, state=CREATING, error=None, operation_id=operation_id)
        found["record"] = record
        return {**titles, name: record}

    update_titles(store, begin)
    return found["record"]


def create_title(
    name: str,
    settings: Settings,
    services: TitleServices,
    source: str | None = None,
    on_progress: Progress = print,
    operation_id: str | None = None,
) -> TitleRecord:
    """Create a title (or finish an interrupted create) and take it to a production model.

    Args:
        name: The new title.
        settings: The install's settings (``game_title`` is the default title).
        services: Where the steps go.
        source: The seed CSV; needed unless an earlier create already stored the title's raw data.
        on_progress: Told one line per step.
        operation_id: The operator API's id of this create, recorded with the title.

    Returns:
        The ready title's record.

    Raises:
        MLOpsError: A step failed: the record is ``failed`` with the reason, and rerunning resumes there.

    """
    check_new_title(name, settings)
    seed = read_seed(source, services.store, settings) if source else None  # refused before anything is written
    record = start_creation(services.store, name, operation_id)
    return finish_creation(record, settings, services, seed, on_progress)


def finish_creation(
    record: TitleRecord, settings: Settings, services: TitleServices, seed: bytes | None, on_progress: Progress
) -> TitleRecord:
    """Run the steps a registered title still lacks, under its lock; see :func:`create_title`."""
    from machine_learning.locks import title_lock

    own = title_settings(settings, record.name)
    with title_lock(services.store, own, TITLE_LOCK):
        record = read_titles(services.store).get(record.name, record)  # another create may have finished meanwhile
        todo = plan.remaining_steps(record)
        if not todo:
            on_progress(f"title {record.name} is ready (production v{record.production_version})")
            return record
        on_progress(f"title {record.name}: {len(todo)} of {len(plan.CREATE_STEPS)} steps to do: {', '.join(todo)}")
        for step in todo:
            record = _run_step(record, step, own, services, seed, on_progress)
        production = _production_version(services.mlflow, own)
        record = save_record(services.store, dataclasses.replace(record, state=READY, production_version=production))
    on_progress(f"title {record.name} is ready: production v{production}, scheduled and served")
    return record


def _run_step(
    record: TitleRecord, step: str, own: Settings, services: TitleServices, seed: bytes | None, on_progress: Progress
) -> TitleRecord:
    on_progress(f"-> {step} ...")
    runs = dict(record.runs)

    def started(run_id: str) -> None:
        runs[step] = run_id
        save_record(services.store, dataclasses.replace(record, runs=dict(runs)))

    try:
        detail = _do_step(step, own, services, seed, started)
    except Exception as error:
        reason = f"{step}: {str(error).splitlines()[0][:400] if str(error) else type(error).__name__}"
        save_record(services.store, dataclasses.replace(record, state=FAILED, error=reason, runs=runs))
        if isinstance(error, MLOpsError):
            raise MLOpsError(f"creating {record.name} stopped at {reason}; rerun to resume") from error
        raise
    on_progress(f"   {detail}")
    done = (*record.steps_done, step)
    return save_record(services.store, dataclasses.replace(record, steps_done=done, runs=runs, error=None))


def _do_step(
    step: str, own: Settings, services: TitleServices, seed: bytes | None, started: Callable[[str], None]
) -> str:
    if step == plan.SEED:
        return _seed(own, services.store, seed)
    if step == plan.MLFLOW:
        return ensure_mlflow(services.mlflow, own)
    if step == plan.EVIDENTLY:
        return f"Evidently project {services.evidently(own)} with its dashboard"
    if step == plan.SCHEDULES:
        return ensure_triggers(services.mage(), own.game_title)
    variables = {"input_uri": own.raw_uri} if step == "data_preparation" else {}
    run_id = services.run(own, step, variables, started)
    return f"{step} run {run_id} completed"


def _seed(own: Settings, store: ObjectStore, seed: bytes | None) -> str:
    from machine_learning.storage import parse_s3_uri

    key = parse_s3_uri(own.raw_uri)[1]
    if seed is not None:
        store.write_bytes(key, seed, content_type="text/csv")
        return f"checked and stored the seed CSV as {own.raw_uri}"
    if not store.exists(key):
        raise NotFoundError(f"title {own.game_title} has no data yet: pass the seed CSV (--from-csv FILE)")
    return f"seed data already in {own.raw_uri}"


def ensure_mlflow(client: Any, own: Settings) -> str:
    """Create (or restore) the title's MLflow experiments and its registered model; return what is there."""
    from mlflow.exceptions import MlflowException

    from machine_learning.monitoring.nightly import monitoring_experiment

    for name in (own.experiment_name, monitoring_experiment(own)):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            client.create_experiment(name)
        elif experiment.lifecycle_stage == "deleted":  # a deleted title's name: MLflow keeps it reserved
            client.restore_experiment(experiment.experiment_id)
    try:
        client.create_registered_model(own.model_name, description=f"Player engagement for {own.game_title}")
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return f"MLflow experiments {own.experiment_name}, {monitoring_experiment(own)} and model {own.model_name}"


def ensure_triggers(mage: Any, title: str, wait_seconds: float = 60.0) -> str:
    """Create the title's Mage triggers that are missing, for every pipeline that takes ``game_title``.

    Args:
        mage: A logged-in ``MageClient``.
        title: The title.
        wait_seconds: How long to wait for a just-started Mage to sync the default triggers (``triggers.yaml``)
            into its database; they are what the title's triggers copy.

    Raises:
        MLOpsError: A pipeline still has none of the default triggers after ``wait_seconds``.

    """
    from machine_learning.run_variables import PIPELINE_VARIABLES

    created, total = 0, 0
    for pipeline, variables in PIPELINE_VARIABLES.items():
        if "game_title" not in variables:
            continue
        existing = _default_triggers_synced(mage, pipeline, wait_seconds)
        wanted = plan.title_triggers(title, pipeline, existing)
        total += len(wanted)
        for body in plan.missing_triggers(wanted, existing):
            mage.create_trigger(pipeline, body)
            created += 1
    return f"Mage triggers {title}-<pipeline>-...: {created} created, {total - created} already there"


def _default_triggers_synced(mage: Any, pipeline: str, wait_seconds: float) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + wait_seconds
    while True:
        existing = list(mage.list_triggers(pipeline))
        if any(plan.is_default_trigger(schedule, pipeline) for schedule in existing):
            return existing
        if time.monotonic() >= deadline:
            raise MLOpsError(
                f"Mage lists none of {pipeline}'s triggers from its triggers.yaml (a just-started Mage syncs them "
                "on its first scheduler tick); rerun 'mlops title create' to resume"
            )
        time.sleep(1.0)


def _production_version(client: Any, own: Settings) -> str:
    from machine_learning.registry import PRODUCTION, get_alias_version

    production = get_alias_version(client, own, PRODUCTION)
    if production is None:
        raise MLOpsError(f"model selection left no production model for {own.game_title}; see 'mlops status'")
    return production.version


def mage_runner(
    mage: Callable[[], Any],
    timeout: float = 900.0,
    on_progress: Progress | None = None,
    not_started_after: float | None = None,
) -> Runner:
    """Run a title's pipeline through its own API trigger in the Mage server (the run shows in the UI).

    Args:
        mage: Returns a logged-in ``MageClient``.
        timeout: Seconds one run may take.
        on_progress: Told the run's URL and its status changes.
        not_started_after: Seconds after which a run with no block started is taken as dropped, cancelled and
            started once more (default ``orchestration.NOT_STARTED_SECONDS``).

    """

    def run(own: Settings, pipeline: str, variables: dict[str, Any], started: Callable[[str], None]) -> str:

        from machine_learning.orchestration import NOT_STARTED_SECONDS, start_and_wait

        patience = NOT_STARTED_SECONDS if not_started_after is None else not_started_after
        client = mage()
        trigger = client.find_trigger(pipeline, plan.trigger_name(own.game_title, pipeline, f"{pipeline}_api"))

        def start() -> int:
            run_id = int(client.start_run(trigger, {"game_title": own.game_title, **variables}))
            started(str(run_id))
            if on_progress:
                on_progress(f"   {pipeline} run {run_id}: {client.run_url(pipeline, run_id)}")
            return run_id

        indented = (lambda line: on_progress(f"   {line}")) if on_progress else None
        return str(start_and_wait(client, pipeline, start, timeout, indented, patience).run_id)

    return run


def local_runner(own: Settings, pipeline: str, variables: dict[str, Any], started: Callable[[str], None]) -> str:
    """Run a title's pipeline in this process, with the package functions its Mage blocks call."""
    from machine_learning.data.prepare import load_prepared_players, load_raw_players, prepare_players
    from machine_learning.registry import register_candidate
    from machine_learning.rollout.audit import AuditLog
    from machine_learning.selection import select_model
    from machine_learning.services import connect
    from machine_learning.training.train import train_candidate

    services = connect(own)
    started(f"local-{pipeline}")
    if pipeline == "data_preparation":
        source = variables.get("input_uri") or own.raw_uri
        prepare_players(load_raw_players(source, services.store), services.store, own, source)
    elif pipeline == "training":
        result = train_candidate(load_prepared_players(services.store, own), services.store, own)
        register_candidate(services.mlflow, own, result, AuditLog(services.mlflow, services.store, own))
    else:
        select_model(services.mlflow, services.store, own)
    return f"local-{pipeline}"


def connect_titles(settings: Settings, run: Runner | None = None, on_progress: Progress | None = None) -> TitleServices:
    """Build the title services from the settings (Mage is logged in to on first use, once)."""
    from machine_learning.orchestration import MageClient
    from machine_learning.services import connect
    from machine_learning.titles.projects import open_title_project

    connected = connect(settings)
    clients: list[Any] = []

    def mage() -> Any:
        if not clients:
            clients.append(MageClient(settings))
        return clients[0]

    return TitleServices(
        connected.store, connected.mlflow, mage, run or mage_runner(mage, on_progress=on_progress), open_title_project
    )
