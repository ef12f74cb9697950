"""The Mage project as code: every pipeline's triggers (schedules and API trigger) and its thin blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mage_ai.shared.croniter import croniter

PROJECT = Path(__file__).resolve().parents[3] / "mage_project"
PIPELINES = sorted(p.parent.name for p in PROJECT.glob("pipelines/*/metadata.yaml"))
BLOCK_FOLDERS = {"custom": "custom", "data_loader": "data_loaders", "transformer": "transformers"}
BLOCK_FOLDERS["data_exporter"] = "data_exporters"


def triggers_of(pipeline: str) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((PROJECT / "pipelines" / pipeline / "triggers.yaml").read_text())
    return {trigger["name"]: trigger for trigger in config["triggers"]}


def test_the_lifecycle_pipelines_exist():
    assert set(PIPELINES) == {
        "data_preparation",
        "training",
        "model_selection",
        "batch_inference",
        "online_inference",
        "performance_monitoring",
        "performance_reports",
        "retraining",
    }


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_pipeline_has_an_api_trigger_without_a_committed_token(pipeline):
    triggers = triggers_of(pipeline)
    api = triggers[f"{pipeline}_api"]
    assert (api["schedule_type"], api["schedule_interval"], api["start_time"]) == ("api", None, None)
    for trigger in triggers.values():
        assert not trigger.get("token"), "trigger tokens come from Mage at run time, never from the repository"
        assert trigger["pipeline_uuid"] == pipeline and trigger["status"] == "active"


# pipeline -> (trigger, weekday(s) it runs on: None = every day, hour UTC)
SCHEDULES = {
    "batch_inference": ("batch_inference_evening", None, 20),
    "performance_monitoring": ("performance_monitoring_nightly", None, 22),
    "performance_reports": ("performance_reports_daily", None, 22),
    "training": ("training_weekend", {"6"}, 3),
    "model_selection": ("model_selection_monday", {"1"}, 6),
}


@pytest.mark.parametrize("pipeline", sorted(SCHEDULES))
def test_schedules_follow_the_reference_design(pipeline):
    name, weekdays, hour = SCHEDULES[pipeline]
    trigger = triggers_of(pipeline)[name]
    _, hour_field, _, _, weekday_field = trigger["schedule_interval"].split()
    assert trigger["schedule_type"] == "time" and croniter.is_valid(trigger["schedule_interval"])
    assert int(hour_field) == hour
    assert (weekday_field == "*") if weekdays is None else ({weekday_field} == weekdays)
    assert trigger["start_time"] is not None


def test_nightly_tests_run_after_the_evening_batch_and_reports_after_the_tests():
    def minutes(pipeline: str) -> int:
        minute, hour, *_ = triggers_of(pipeline)[SCHEDULES[pipeline][0]]["schedule_interval"].split()
        return int(hour) * 60 + int(minute)

    assert minutes("batch_inference") < minutes("performance_monitoring") < minutes("performance_reports")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_blocks_exist_and_stay_thin(pipeline):
    metadata = yaml.safe_load((PROJECT / "pipelines" / pipeline / "metadata.yaml").read_text())
    for block in metadata["blocks"]:
        source = PROJECT / BLOCK_FOLDERS[block["type"]] / f"{block['uuid']}.py"
        assert source.exists(), f"{pipeline}: block {block['uuid']} has no file {source}"
        assert len(source.read_text().splitlines()) <= 40, f"{source.name} must stay a thin call into machine_learning"
