"""Delete a title: find everything it owns first (a dry run stops there), then remove it under the title's lock.

The default title is refused unless forced, and even then its Mage triggers stay: they are declared in the
tracked ``triggers.yaml`` files, which a running Mage would sync back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles import plan
from machine_learning.titles.create import TITLE_LOCK, TitleServices, title_settings
from machine_learning.titles.registry import DELETING, read_titles, remove_record, save_record
from machine_learning.titles.validation import check_title_name

_DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1,000 keys


def find_deletion(
    name: str, settings: Settings, services: TitleServices, evidently: Callable[[Settings], str | None]
) -> plan.DeletionPlan:
    """List what deleting a title would remove; nothing is changed.

    Args:
        name: The title.
        settings: The install's settings (``game_title`` is the default title).
        services: Where the title's things live.
        evidently: Returns the name of the title's Evidently project, or ``None`` when it has none.

    Returns:
        The plan.

    Raises:
        NotFoundError: No such title anywhere.

    """
    from machine_learning.monitoring.nightly import monitoring_experiment
    from machine_learning.run_variables import PIPELINE_VARIABLES

    check_title_name(name)
    own = title_settings(settings, name)
    keys = tuple(services.store.list_keys(f"{own.s3_prefix}/"))
    models = tuple(m for m in (own.model_name,) if _has_model(services.mlflow, m))
    experiments = tuple(
        e for e in (own.experiment_name, monitoring_experiment(own)) if _live_experiment(services.mlflow, e)
    )
    triggers: list[tuple[str, int, str]] = []
    if name != settings.game_title:
        mage = services.mage()
        for pipeline in PIPELINE_VARIABLES:
            triggers += [
                (pipeline, int(s["id"]), str(s["name"]))
                for s in mage.list_triggers(pipeline)
                if plan.is_title_trigger(s, name, pipeline)
            ]
    registered = name in read_titles(services.store)
    found = plan.DeletionPlan(name, keys, models, experiments, evidently(own), tuple(triggers), registered)
    if not (keys or models or experiments or found.evidently_project or triggers or registered):
        raise NotFoundError(f"no title named {name!r}: nothing in S3, MLflow, Evidently, Mage or the registry")
    return found


def delete_title(
    name: str,
    settings: Settings,
    services: TitleServices,
    evidently: tuple[Callable[[Settings], str | None], Callable[[Settings], None]],
    force: bool = False,
    on_progress: Callable[[str], None] = print,
) -> plan.DeletionPlan:
    """Delete everything a title owns, then its registry entry.

    Args:
        name: The title.
        settings: The install's settings.
        services: Where the title's things live.
        evidently: Finds and deletes the title's Evidently project.
        force: Allow deleting the default title (``GAME_TITLE``).
        on_progress: Told one line per kind of thing removed.

    Returns:
        What was removed.

    Raises:
        InvalidInputError: The default title, without ``force``.
        LockBusyError: A create or delete of the title is running.

    """
    from machine_learning.locks import lock_key, title_lock

    if name == settings.game_title and not force:
        raise InvalidInputError(f"{name!r} is the default title (GAME_TITLE); refusing to delete it without --force")
    own = title_settings(settings, name)
    with title_lock(services.store, own, TITLE_LOCK, wait_seconds=10.0):
        found = find_deletion(name, settings, services, evidently[0])
        record = read_titles(services.store).get(name)
        if record is not None:
            save_record(services.store, dataclasses.replace(record, state=DELETING))  # never listed as ready again
        for _, schedule_id, _ in found.triggers:
            services.mage().delete_trigger(schedule_id)
        on_progress(f"deleted {len(found.triggers)} Mage triggers")
        if found.evidently_project:
            evidently[1](own)
            on_progress(f"deleted Evidently project {found.evidently_project}")
        _delete_mlflow(services.mlflow, found)
        on_progress(f"deleted MLflow models {list(found.registered_models)} and experiments {list(found.experiments)}")
        keep = lock_key(own, TITLE_LOCK)  # released (deleted) when the with block ends
        deleted = delete_keys(services.store, [key for key in found.s3_keys if key != keep])
        on_progress(f"deleted {deleted} S3 objects under {own.s3_prefix}/")
    remove_record(services.store, name)
    on_progress(f"title {name} deleted")
    return found


def delete_keys(store: ObjectStore, keys: list[str]) -> int:
    """Delete objects in batches; return how many."""
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
        store.client.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})
    return len(keys)


def _delete_mlflow(client: Any, found: plan.DeletionPlan) -> None:
    for model in found.registered_models:
        client.delete_registered_model(model)
    for name in found.experiments:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            client.delete_experiment(experiment.experiment_id)


def _has_model(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return False
        raise
    return True


def _live_experiment(client: Any, name: str) -> bool:
    experiment = client.get_experiment_by_name(name)
    return experiment is not None and experiment.lifecycle_stage != "deleted"
