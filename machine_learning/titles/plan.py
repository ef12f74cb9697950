"""What a title needs, derived without side effects: the creation steps left, its Mage triggers, what a delete removes.

A title's triggers are copies of the default title's (the ones each pipeline's tracked ``triggers.yaml`` declares),
renamed ``<title>-<pipeline>-<suffix>`` and carrying ``game_title`` as a variable, so the Mage UI lists each title's
triggers by name and every scheduled run works on its own title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from machine_learning.titles.registry import TitleRecord

SEED, MLFLOW, EVIDENTLY, SCHEDULES = "seed-data", "mlflow", "evidently", "schedules"
LOOP = ("data_preparation", "training", "model_selection")
CREATE_STEPS: tuple[str, ...] = (SEED, MLFLOW, EVIDENTLY, SCHEDULES, *LOOP)
# What a trigger of a title copies from the default title's trigger of the same pipeline.
_COPIED = ("description", "schedule_interval", "schedule_type", "settings", "sla", "start_time", "status")


def remaining_steps(record: TitleRecord | None) -> tuple[str, ...]:
    """Return the creation steps still to do, in order: all of them for a new title, none for a ready one.

    A step is only done once every step before it is; so a record whose steps are out of order (edited by hand)
    redoes everything from the first gap.
    """
    done = record.steps_done if record is not None else ()
    for index, step in enumerate(CREATE_STEPS):
        if index >= len(done) or done[index] != step:
            return CREATE_STEPS[index:]
    return ()


def trigger_name(title: str, pipeline: str, default_name: str) -> str:
    """Name of a title's copy of a default trigger: ``training_weekend`` -> ``<title>-training-weekend``."""
    suffix = default_name[len(pipeline) + 1 :] if default_name.startswith(f"{pipeline}_") else default_name
    return f"{title}-{pipeline}-{suffix.replace('_', '-')}"


def is_default_trigger(schedule: Mapping[str, Any], pipeline: str) -> bool:
    """Tell whether a Mage trigger is one of the default title's (declared in the pipeline's ``triggers.yaml``)."""
    variables = schedule.get("variables") or {}
    return str(schedule.get("name", "")).startswith(f"{pipeline}_") and "game_title" not in variables


def is_title_trigger(schedule: Mapping[str, Any], title: str, pipeline: str) -> bool:
    """Tell whether a Mage trigger belongs to ``title`` (its name and its ``game_title`` variable both say so)."""
    variables = schedule.get("variables") or {}
    return str(schedule.get("name", "")).startswith(f"{title}-{pipeline}-") and variables.get("game_title") == title


def title_triggers(title: str, pipeline: str, defaults: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the ``pipeline_schedule`` bodies of a title's triggers, one per default trigger of the pipeline.

    Args:
        title: The title.
        pipeline: The pipeline.
        defaults: The pipeline's triggers in Mage; only the default title's are copied.

    Returns:
        Bodies for ``POST /api/pipelines/<pipeline>/pipeline_schedules``: the default's schedule and settings,
        the title's name and ``{"game_title": title}`` as variables. Mage gives each API trigger its own token.

    """
    bodies = []
    for default in defaults:
        if not is_default_trigger(default, pipeline):
            continue
        body = {key: default.get(key) for key in _COPIED if default.get(key) is not None}
        body.update(name=trigger_name(title, pipeline, str(default["name"])), variables={"game_title": title})
        bodies.append(body)
    return bodies


def missing_triggers(wanted: Sequence[Mapping[str, Any]], existing: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Return the wanted trigger bodies whose name Mage does not have yet (so a rerun creates no duplicates)."""
    names = {str(schedule.get("name")) for schedule in existing}
    return [body for body in wanted if body["name"] not in names]


@dataclass(frozen=True)
class DeletionPlan:
    """Everything a delete removes, found before anything is removed."""

    title: str
    s3_keys: tuple[str, ...]
    registered_models: tuple[str, ...]
    experiments: tuple[str, ...]
    evidently_project: str | None
    triggers: tuple[tuple[str, int, str], ...]  # (pipeline, schedule id, name)
    registered: bool

    def describe(self) -> list[str]:
        """One line per kind of thing, saying what goes."""
        names = ", ".join(name for _, _, name in self.triggers) or "none"
        return [
            f"S3: {len(self.s3_keys)} objects under {self.title}/",
            f"MLflow registered models: {', '.join(self.registered_models) or 'none'}",
            f"MLflow experiments: {', '.join(self.experiments) or 'none'}",
            f"Evidently project: {self.evidently_project or 'none'}",
            f"Mage triggers ({len(self.triggers)}): {names}",
            f"title registry entry: {'yes' if self.registered else 'none'}",
        ]
