"""Runtime variables of a pipeline run: a run chooses data, never where the services are.

Mage hands a block one ``kwargs`` dict that mixes its own keys (``execution_date``, ``pipeline_uuid``,
``event``...) with the variables of the run (``--runtime-vars``, the trigger's ``variables``, the API trigger's
``pipeline_run.variables``). Every block passes that dict to :func:`machine_learning.settings.load_settings`,
which calls :func:`check_run_variables` first: Mage's own keys are set aside, and each remaining variable must be
one the pipeline accepts (:data:`PIPELINE_VARIABLES`) with a value of the right kind. Endpoints, the bucket, the
model cache and credentials come only from the server's environment; a run naming one of them, or anything
unknown, is refused with one line naming the variable and the allowed ones, before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from machine_learning.errors import ConfigurationError, InvalidInputError

# What Mage 0.9.80 itself puts into a block's kwargs: PipelineRun.get_variables() (ds, hr, env, event,
# execution_date, execution_partition, pipeline_run_id, trigger_name, interval_*), Block.execute_sync's
# global_vars (logger, configuration, context, pipeline_uuid, block_uuid, repo_path, dynamic block keys) and
# `mage run`'s defaults. A run setting one of these cannot reach a service: none of them is a setting.
MAGE_KEYS: frozenset[str] = frozenset(
    {
        "block_uuid",
        "configuration",
        "context",
        "ds",
        "dynamic_block_index",
        "dynamic_block_indexes",
        "dynamic_block_uuid",
        "dynamic_upstream_block_uuids",
        "env",
        "event",
        "execution_date",
        "execution_partition",
        "hr",
        "interval_end_datetime",
        "interval_seconds",
        "interval_start_datetime",
        "interval_start_datetime_previous",
        "logger",
        "pipeline_run_id",
        "pipeline_uuid",
        "repo_path",
        "remote_blocks",
        "retry",
        "spark",
        "trigger_name",
    }
)

# The variables each pipeline reads. Every pipeline may choose the game title (titles share one installation).
PIPELINE_VARIABLES: dict[str, tuple[str, ...]] = {
    "data_preparation": ("game_title", "input_uri"),
    "training": ("game_title", "batch_date", "params"),
    "retraining": ("game_title", "batch_date", "params", "reason", "changed_since", "trigger_key"),
    "model_selection": ("game_title",),
    "batch_inference": ("game_title", "batch_date", "input_uri"),
    "online_inference": ("game_title", "inputs", "request_id"),
    "performance_monitoring": ("game_title", "batch_date"),
    "performance_reports": ("game_title", "batch_date"),
}
_ANY_PIPELINE = tuple(sorted({name for names in PIPELINE_VARIABLES.values() for name in names}))
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_URI = 1024
_MAX_REASON = 2000
_TRIGGER_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}:\d{4}-\d{2}-\d{2}:retraining$")


@dataclasses.dataclass(frozen=True)
class RunVariables:
    """The variables a run chose, checked (``None`` where not chosen)."""

    pipeline: str | None
    chosen: dict[str, Any]

    @property
    def game_title(self) -> str | None:
        """The title the run works on, if it chose one."""
        value = self.chosen.get("game_title")
        return str(value) if value is not None else None


def user_variables(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the run's own variables: ``kwargs`` without Mage's keys and without unset (``None``) values."""
    return {str(name): value for name, value in kwargs.items() if name not in MAGE_KEYS and value is not None}


def check_run_variables(kwargs: Mapping[str, Any], bucket: str, default_title: str) -> RunVariables:
    """Refuse any variable the pipeline does not accept, and any value that is not data of the right kind.

    Args:
        kwargs: A block's kwargs (or any mapping of runtime variables); ``pipeline_uuid`` names the pipeline.
        bucket: The configured bucket (from the environment): input URIs must stay inside it.
        default_title: The configured title, used when the run does not choose one.

    Returns:
        The checked variables.

    Raises:
        InvalidInputError: One line naming the variable and what is allowed.

    """
    pipeline = kwargs.get("pipeline_uuid")
    pipeline = str(pipeline) if pipeline else None
    allowed = PIPELINE_VARIABLES.get(pipeline or "", _ANY_PIPELINE)
    chosen = user_variables(kwargs)
    where = f"pipeline {pipeline}" if pipeline else "this run"
    for name in sorted(chosen):
        if name not in allowed:
            raise InvalidInputError(
                f"runtime variable {name!r} is not accepted by {where}{_why_refused(name)}; "
                f"allowed: {', '.join(allowed)}"
            )
    title = chosen.get("game_title", default_title)
    for name, value in chosen.items():
        _check_value(name, value, bucket, str(title))
    return RunVariables(pipeline, chosen)


def prepare_run_variables(pipeline: str, variables: Mapping[str, Any], bucket: str, title: str) -> dict[str, Any]:
    """Return the variables to start a run with: the caller's title first, checked as the run will check them.

    The Mage server's own ``GAME_TITLE`` may differ from the caller's, so the run is told the title. A pipeline
    this module knows is checked here, so a run that would be refused is never started.

    Args:
        pipeline: The pipeline to run.
        variables: The caller's runtime variables.
        bucket: The configured bucket.
        title: The caller's game title.

    Returns:
        ``{"game_title": title, **variables}``.

    Raises:
        InvalidInputError: A variable the pipeline would refuse.

    """
    prepared = {"game_title": title, **variables}
    if pipeline in PIPELINE_VARIABLES:
        check_run_variables({**prepared, "pipeline_uuid": pipeline}, bucket, title)
    return prepared


def _why_refused(name: str) -> str:
    from machine_learning.settings import Settings

    if name in {field.name for field in dataclasses.fields(Settings)} or name.isupper() or "secret" in name.lower():
        return " (services, bucket, model cache and credentials come only from the server's environment)"
    return ""


def _check_value(name: str, value: Any, bucket: str, title: str) -> None:
    if name == "game_title":
        _check_title(value)
    elif name in ("batch_date", "changed_since"):
        check_day(value, name)
    elif name == "input_uri":
        check_input_uri(value, bucket, title)
    elif name == "params":
        from machine_learning.training.params import parse_training_params

        parse_training_params(value)
    elif name == "request_id":
        from machine_learning.inference.online import check_request_id

        check_request_id(value)
    elif name == "trigger_key" and (not isinstance(value, str) or not _TRIGGER_KEY.match(value)):
        raise InvalidInputError("runtime variable trigger_key must look like '<title>:<YYYY-MM-DD>:retraining'")
    elif name == "reason" and (not isinstance(value, str) or len(value) > _MAX_REASON):
        raise InvalidInputError(f"runtime variable reason must be text of at most {_MAX_REASON} characters")


def _check_title(value: Any) -> None:
    from machine_learning.settings import Settings

    if not isinstance(value, str):
        raise InvalidInputError(f"runtime variable game_title must be text, got {type(value).__name__}")
    try:
        Settings(game_title=value)  # the title pattern
    except ConfigurationError as error:
        raise InvalidInputError(f"runtime variable game_title: {error}") from None


def check_day(value: Any, name: str = "batch_date") -> str:
    """Check a day given as ``YYYY-MM-DD`` text (a real calendar day).

    Args:
        value: The value to check.
        name: What the caller calls it, for the message.

    Returns:
        The day as ``YYYY-MM-DD``.

    Raises:
        InvalidInputError: Not text of that form, or not a real day (e.g. 2026-02-30).

    """
    if not isinstance(value, str) or not _DAY.match(value):
        raise InvalidInputError(f"{name} must be a day like 2026-11-23, got {str(value)[:40]!r}")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as error:
        raise InvalidInputError(f"{name} {value!r} is not a real day ({error})") from None


def check_input_uri(value: Any, bucket: str, title: str) -> str:
    """Check that an input URI is an object inside the title's own prefix of the configured bucket.

    Args:
        value: The URI to check.
        bucket: The configured bucket.
        title: The run's game title.

    Returns:
        The URI, unchanged.

    Raises:
        InvalidInputError: Not an ``s3://`` URI inside ``s3://<bucket>/<title>/`` (local paths, other buckets,
            other titles, ``..`` segments, control characters and overlong URIs are refused).

    """
    prefix = f"s3://{bucket}/{title}/"
    if not isinstance(value, str):
        raise InvalidInputError(f"input_uri must be an s3:// URI under {prefix}, got {type(value).__name__}")
    segments = value[len(prefix) :].split("/")
    inside = value.startswith(prefix) and all(segment not in ("", ".", "..") for segment in segments)
    if not inside or len(value) > _MAX_URI or any(ord(char) < 32 or char == "\\" for char in value):
        raise InvalidInputError(f"input_uri must be an object under {prefix} (the title's prefix), got {value[:200]!r}")
    return value
