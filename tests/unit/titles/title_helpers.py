"""Small fakes for the title tests: MLflow's registry calls, Mage's triggers, a pipeline runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.create import TitleServices


class FakeMlflow:
    """Experiments, registered models and the production alias, in memory."""

    def __init__(self) -> None:
        self.experiments: dict[str, SimpleNamespace] = {}
        self.models: set[str] = set()
        self.production: dict[str, str] = {}

    def get_experiment_by_name(self, name: str) -> Any:
        return self.experiments.get(name)

    def create_experiment(self, name: str) -> str:
        self.experiments[name] = SimpleNamespace(experiment_id=str(len(self.experiments) + 1), lifecycle_stage="active")
        return self.experiments[name].experiment_id

    def restore_experiment(self, experiment_id: str) -> None:
        for experiment in self.experiments.values():
            if experiment.experiment_id == experiment_id:
                experiment.lifecycle_stage = "active"

    def delete_experiment(self, experiment_id: str) -> None:
        for experiment in self.experiments.values():
            if experiment.experiment_id == experiment_id:
                experiment.lifecycle_stage = "deleted"

    def create_registered_model(self, name: str, description: str = "") -> None:
        if name in self.models:
            raise MlflowException(f"{name} exists", error_code=RESOURCE_ALREADY_EXISTS)
        self.models.add(name)

    def get_registered_model(self, name: str) -> Any:
        if name not in self.models:
            raise MlflowException(f"{name} missing", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(name=name)

    def delete_registered_model(self, name: str) -> None:
        self.models.discard(name)
        self.production.pop(name, None)

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        if alias != "production" or name not in self.production:
            raise MlflowException(f"{name}@{alias} missing", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(version=self.production[name], run_id="run-1", tags={})


class FakeMage:
    """Each pipeline's default triggers (as triggers.yaml declares them) and whatever is created."""

    def __init__(self) -> None:
        self.triggers: dict[str, list[dict[str, Any]]] = {}
        self.next_id = 100

    def list_triggers(self, pipeline: str) -> list[dict[str, Any]]:
        defaults = [
            {"id": 1, "name": f"{pipeline}_api", "schedule_type": "api", "variables": {}, "status": "active"},
            {"id": 2, "name": f"{pipeline}_nightly", "schedule_type": "time", "schedule_interval": "0 22 * * *",
             "start_time": "2026-01-01 00:00:00+00:00", "variables": {}, "status": "active"},
        ]  # fmt: skip
        return defaults + self.triggers.get(pipeline, [])

    def create_trigger(self, pipeline: str, body: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        created = {**body, "id": self.next_id, "token": f"token-{self.next_id}"}
        self.triggers.setdefault(pipeline, []).append(created)
        return created

    def delete_trigger(self, schedule_id: int) -> None:
        for pipeline, triggers in self.triggers.items():
            self.triggers[pipeline] = [t for t in triggers if t["id"] != schedule_id]

    def recent_runs(self, limit: int = 200) -> list[dict[str, Any]]:
        return []

    def created_names(self) -> set[str]:
        return {t["name"] for triggers in self.triggers.values() for t in triggers}


@dataclass
class FakeRunner:
    """Runs the loop by name; model selection puts version 1 in production; may fail once at one pipeline."""

    mlflow: FakeMlflow
    fail_at: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, own: Settings, pipeline: str, variables: dict[str, Any], started: Any) -> str:
        run_id = str(len(self.calls) + 1)
        started(run_id)
        self.calls.append((own.game_title, pipeline))
        if pipeline == self.fail_at:
            self.fail_at = None
            raise MLOpsError(f"{pipeline} run {run_id} failed in block train_candidate")
        if pipeline == "model_selection":
            self.mlflow.production[own.model_name] = "1"
        return run_id


def fake_services(store: ObjectStore, fail_at: str | None = None) -> tuple[TitleServices, FakeMlflow, FakeMage]:
    """Title services over the fakes; the Evidently step records the titles it opened."""
    mlflow, mage = FakeMlflow(), FakeMage()
    opened: list[str] = []

    def evidently(own: Settings) -> str:
        opened.append(own.game_title)
        return own.game_title

    services = TitleServices(store, mlflow, lambda: mage, FakeRunner(mlflow, fail_at), evidently)
    return services, mlflow, mage
