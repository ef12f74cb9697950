"""Request and response bodies of the operator API, with descriptions written for a model to read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TITLE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$"
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PIPELINE_PATTERN = r"^[a-z][a-z_]{0,63}$"
DEFAULT_ROLLBACK_REASON = "rolled back through the operator API"


class Problem(BaseModel):
    """One refused part of a request."""

    field: str = Field(description="Where the problem is, e.g. body.variables or query.days.")
    reason: str = Field(description="What is wrong with it.")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer: one line saying what went wrong and what to do."""

    detail: str = Field(description="What went wrong, in one line.")
    errors: list[Problem] = Field(default_factory=list, description="Each invalid field, for invalid requests.")


class ModelVersionInfo(BaseModel):
    """One registered model version behind an alias."""

    version: str = Field(description="The MLflow model version number.")
    run_id: str = Field(description="The MLflow run that trained it.")
    test_accuracy: str | None = Field(None, description="Accuracy on the test split of its training run.")
    test_f1_macro: str | None = Field(None, description="Macro-F1 on the test split of its training run.")
    selection_decision: str | None = Field(None, description="promoted or rejected by model selection.")
    selection_reason: str | None = Field(None, description="Why model selection decided so, with the numbers.")


class StatusResponse(BaseModel):
    """Which model versions serve, wait and can be rolled back to."""

    model_config = ConfigDict(protected_namespaces=())
    title: str = Field(description="The game title.")
    model_name: str = Field(description="The registered model in MLflow.")
    production: ModelVersionInfo | None = Field(description="The version serving players; null before the first.")
    candidate: ModelVersionInfo | None = Field(description="The newest registered version; null when none.")
    previous: ModelVersionInfo | None = Field(description="What rollback would put back; null when none.")


class PipelineRunRequest(BaseModel):
    """Runtime variables of a pipeline run (data only: days, inputs, training parameters)."""

    model_config = ConfigDict(extra="forbid")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            'Runtime variables the pipeline accepts, e.g. {"batch_date": "2026-11-23"} for batch_inference or '
            '{"params": {"classifier__max_iter": 100}} for training. Services, buckets and credentials are '
            "refused. The title is added by the API."
        ),
    )


class PipelineRunResponse(BaseModel):
    """A pipeline run in the Mage server."""

    pipeline: str = Field(description="The pipeline.")
    run_id: int = Field(description="Mage's run id; pass it to getPipelineRun to follow the run.")
    status: str = Field(description="initial, running, completed, failed or cancelled.")
    finished: bool = Field(description="True once the run completed, failed or was cancelled.")
    failed_blocks: list[str] = Field(default_factory=list, description="Blocks that failed, if any.")
    error: str | None = Field(None, description="The first error the failed run logged, if any.")
    url: str = Field(description="The run's page in the Mage UI.")


class PromotionResponse(BaseModel):
    """The outcome of model selection: candidate against production on the same players."""

    promoted: bool = Field(description="True when the candidate now serves in production.")
    reason: str = Field(description="Why, naming every number the decision used.")
    candidate_version: str = Field(description="The candidate compared.")
    production_version: str | None = Field(description="The production it was compared with; null for the first.")
    metric: str = Field(description="The promotion metric (accuracy or f1_macro).")
    compared_on: str = Field(description="Which rows decided: recent, live or held-out.")


class ReasonRequest(BaseModel):
    """Why, in words: it goes into the audit log with who and when."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="Why this is done, for the audit log.")


class RollbackRequest(BaseModel):
    """Why production is rolled back."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(DEFAULT_ROLLBACK_REASON, min_length=1, max_length=2000, description="Why, for the audit log.")


class ApprovalResponse(BaseModel):
    """The outcome of an approval or a rejection."""

    version: str = Field(description="The model version decided on.")
    decision: str = Field(description="approved (it is now in production) or rejected (it is never promoted).")
    message: str = Field(description="What happened, in one line.")


class RollbackResponse(BaseModel):
    """The version in production after a rollback."""

    production_version: str = Field(description="The version now serving players.")
    message: str = Field(description="What happened, in one line.")


class DecisionResponse(BaseModel):
    """One night's monitoring decision: drift as an early warning, live quality from labels as the decision."""

    model_config = ConfigDict(extra="allow")
    day: str = Field(description="The night, YYYY-MM-DD.")
    summary: str = Field(description="The decision in one line.")
    retraining_needed: bool = Field(description="True when live quality called for retraining.")
    retraining_triggered: bool = Field(description="True when that night started a retraining run.")
    retraining_run_id: int | None = Field(description="The retraining run's Mage id, if one was started.")
    drift_detected: bool = Field(description="True when the drift tests warned.")
    live_accuracy: float | None = Field(description="Production's live accuracy that night, when labels existed.")
    expected_accuracy: float | None = Field(description="The accuracy production was expected to have.")


class LiveQualityRow(BaseModel):
    """One model version's accuracy on one labelled day."""

    day: str = Field(description="The labelled day.")
    version: str = Field(description="The model version.")
    role: str = Field(description="production (what was served) or shadow (a candidate scored beside it).")
    rows: int = Field(description="Labelled players that day.")
    accuracy: float = Field(description="Accuracy on them.")
    f1_macro: float = Field(description="Macro-F1 on them.")


class LiveQualityResponse(BaseModel):
    """Live quality per labelled day, production and shadow."""

    title: str = Field(description="The game title.")
    day: str = Field(description="The last day of the window.")
    days: int = Field(description="Days in the window, ending on day.")
    rows: list[LiveQualityRow] = Field(description="One row per labelled day, role and version; empty before labels.")


class CleanupRequest(BaseModel):
    """Which AWS deployment to clean up, by its tags; a dry run unless confirmed."""

    model_config = ConfigDict(extra="forbid")
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="The Environment tag, e.g. dev.")
    project: str = Field("engagement-mlops", pattern=r"^[a-z][a-z0-9-]{0,63}$", description="The Project tag.")
    dry_run: bool = Field(True, description="Only list what would be deleted (the default).")
    confirm_environment: str | None = Field(
        None, description="To really delete (dry_run false), repeat the environment name here."
    )
    delete_bucket_contents: bool = Field(False, description="Empty non-empty buckets before deleting them.")


class CleanupResource(BaseModel):
    """One tagged AWS resource."""

    arn: str = Field(description="Its ARN.")
    service: str = Field(description="The AWS service, e.g. ecs.")
    kind: str = Field(description="The resource kind, e.g. service.")
    name: str = Field(description="Its name.")
    supported: bool = Field(description="False when it must be deleted by hand.")


class CleanupResponse(BaseModel):
    """What a cleanup found and, unless a dry run, deleted."""

    dry_run: bool = Field(description="True when nothing was deleted.")
    resources: list[CleanupResource] = Field(description="Every resource carrying the deployment's tags.")
    deleted: list[str] = Field(default_factory=list, description="ARNs deleted.")
    skipped: dict[str, str] = Field(default_factory=dict, description="ARNs left in place, with the reason.")
    failed: dict[str, str] = Field(default_factory=dict, description="ARNs that could not be deleted, with the error.")
    backup: str | None = Field(None, description="The JSON backup of the list, written before deleting.")
