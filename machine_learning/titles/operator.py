"""The operator API's title operations: ``listTitles`` (viewer) and ``createTitle`` (operator, returns at once)."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator

from machine_learning.settings import Settings

logger = logging.getLogger(__name__)
TITLE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$"


class CreateTitleRequest(BaseModel):
    """A new game title and its seed data."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        description="The new title: 3-42 lowercase letters, digits and single dashes, e.g. space-racer.",
        json_schema_extra={"pattern": TITLE_PATTERN},  # documented for callers; checked by check_name below
    )
    source_uri: str | None = Field(
        None,
        max_length=1024,
        description=(
            "s3:// URI of the seed player CSV (raw schema, with EngagementLevel), inside the new title's own prefix, "
            "e.g. s3://mlops/space-racer/raw/players.csv. Omit it only to resume a create that already stored it."
        ),
    )

    @field_validator("name")
    @classmethod
    def check_name(cls, name: str) -> str:
        """Refuse a bad name with the same one-line reason as ``mlops title create`` (not a bare regex)."""
        from machine_learning.errors import InvalidInputError
        from machine_learning.titles.validation import check_title_name

        try:
            return check_title_name(name)
        except InvalidInputError as error:
            raise ValueError(str(error)) from None


class CreateTitleResponse(BaseModel):
    """A create that was started (or found already done)."""

    title: str = Field(description="The title.")
    state: str = Field(description="creating (follow it with listTitles) or ready (nothing left to do).")
    operation_id: str = Field(description="This create's id; listTitles shows it on the title while it runs.")
    steps: list[str] = Field(description="The steps a create goes through, in order.")
    message: str = Field(description="What happens next, in one line.")


class TitleInfo(BaseModel):
    """One title of the install."""

    name: str = Field(description="The title.")
    state: str = Field(description="ready, creating, failed (rerun createTitle to resume) or deleting.")
    default: bool = Field(description="True for the install's own title (GAME_TITLE).")
    production_version: str | None = Field(description="The model version in production; null before the first.")
    last_runs: dict[str, str] = Field(description="Newest Mage run per pipeline: '<run id> <status>'.")
    last_decision: str | None = Field(description="The latest nightly monitoring decision in one line, if any.")
    error: str | None = Field(description="Where and why the last create stopped, if it did.")
    steps_done: list[str] = Field(description="Creation steps finished so far.")
    runs: dict[str, str] = Field(
        description="Mage run id of each pipeline the create started (follow with getPipelineRun)."
    )


class TitleListResponse(BaseModel):
    """Every title of the install."""

    default_title: str = Field(description="The install's own title.")
    titles: list[TitleInfo] = Field(description="Each title with its state, production version, runs and decision.")


def operator_title_services(settings: Settings, deps: Any) -> Any:
    """Title services over the operator API's own services (so tests can pass a fake Mage)."""
    from machine_learning.titles.create import TitleServices, mage_runner
    from machine_learning.titles.projects import open_title_project

    connected = deps.connect()
    return TitleServices(connected.store, connected.mlflow, deps.mage, mage_runner(deps.mage), open_title_project)


def list_titles(settings: Settings, deps: Any) -> dict[str, Any]:
    """Every title with its state (as ``mlops title list --json``)."""
    from machine_learning.titles.listing import describe_titles

    states = describe_titles(settings, operator_title_services(settings, deps))
    return {"default_title": settings.game_title, "titles": [state.to_dict() for state in states]}


def start_title(settings: Settings, deps: Any, name: str, source_uri: str | None) -> dict[str, Any]:
    """Check the request, register the title as creating and finish the create in a background thread.

    Raises:
        InvalidInputError: A bad name, a source outside the title's prefix or not a usable player CSV.

    """
    from machine_learning.run_variables import check_input_uri
    from machine_learning.titles.create import check_new_title, finish_creation, read_seed, start_creation
    from machine_learning.titles.plan import CREATE_STEPS
    from machine_learning.titles.registry import READY

    check_new_title(name, settings)
    services = operator_title_services(settings, deps)
    if source_uri is not None:
        check_input_uri(source_uri, settings.s3_bucket, name)
    seed = read_seed(source_uri, services.store, settings) if source_uri else None
    operation_id = uuid.uuid4().hex[:12]
    record = start_creation(services.store, name, operation_id)
    answer = {"title": name, "operation_id": operation_id, "steps": list(CREATE_STEPS)}
    if record.state == READY:
        return {**answer, "state": READY, "message": f"{name} is ready already"}

    def finish() -> None:
        try:
            finish_creation(record, settings, services, seed, lambda line: logger.info("%s: %s", name, line))
        except Exception as error:  # noqa: BLE001 - recorded on the title (state failed); logged here
            logger.warning("creating %s stopped: %s", name, error)

    threading.Thread(target=finish, name=f"create-title-{name}", daemon=True).start()
    return {**answer, "state": record.state, "message": f"creating {name}: follow it with listTitles"}


def add_title_operations(app: FastAPI, settings: Settings, deps: Any, reader: Any, actor: Any) -> None:
    """Add ``GET /titles`` (listTitles, needs ``reader``) and ``POST /titles`` (createTitle, needs ``actor``)."""
    from machine_learning.operator.app import _ERRORS

    @app.get(
        "/titles", operation_id="listTitles", response_model=TitleListResponse, dependencies=[Depends(reader)],
        responses=_ERRORS,
    )  # fmt: skip
    def get_titles() -> dict[str, Any]:
        """List every game title of this install with its state, production version, last runs and last decision.

        A title whose create is under way shows state creating and the run ids of the pipelines it started; a
        create that stopped shows state failed and why (call createTitle again to resume it).
        """
        return list_titles(settings, deps)

    @app.post(
        "/titles", operation_id="createTitle", status_code=202, response_model=CreateTitleResponse,
        dependencies=[Depends(actor)], responses=_ERRORS,
    )  # fmt: skip
    def create_title(body: CreateTitleRequest) -> dict[str, Any]:
        """Create a game title and return at once: its data, MLflow model, Evidently dashboard and Mage schedules.

        The create then runs data_preparation, training and model_selection for the title in Mage, so the title
        ends with a production model, served at /titles/{title}/predict. Follow it with listTitles until its state
        is ready; a failed create is resumed by calling createTitle again with the same name.
        """
        return start_title(settings, deps, body.name, body.source_uri)
