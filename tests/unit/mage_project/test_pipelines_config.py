"""The Mage project as code: every pipeline's triggers (schedules and API trigger) and its thin blocks."""

from __future__ import annotations

import ast
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


def blocks_of(pipeline: str) -> list[dict[str, Any]]:
    return yaml.safe_load((PROJECT / "pipelines" / pipeline / "metadata.yaml").read_text())["blocks"]


# What a user sees in each pipeline's DAG, in order: the steps they may want to read the logs of or rerun.
STEPS = {
    "performance_monitoring": [
        "load_monitoring_data",
        "run_drift_tests",
        "measure_live_quality",
        "decide_retraining",
        "record_monitoring_decision",
    ],
    "performance_reports": ["load_report_data", "publish_daily_reports", "backfill_live_quality", "summarise_reports"],
    "batch_inference": ["locate_daily_batch", "score_daily_batch", "score_shadow_candidate"],
    "model_selection": ["compare_candidate_with_production", "decide_promotion", "promote_candidate"],
}


@pytest.mark.parametrize("pipeline", sorted(STEPS))
def test_pipelines_show_their_steps_in_order(pipeline):
    blocks = blocks_of(pipeline)
    assert [block["uuid"] for block in blocks] == STEPS[pipeline]
    position = {block["uuid"]: index for index, block in enumerate(blocks)}
    for block in blocks[1:]:
        assert block["upstream_blocks"], f"{block['uuid']} must follow a step"
        assert all(position[up] < position[block["uuid"]] for up in block["upstream_blocks"])


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_dag_edges_agree_and_each_block_takes_its_upstream_outputs(pipeline):
    blocks = {block["uuid"]: block for block in blocks_of(pipeline)}
    for uuid, block in blocks.items():
        for up in block["upstream_blocks"]:
            assert uuid in blocks[up]["downstream_blocks"], f"{pipeline}: {up} -> {uuid} is one-sided"
        for down in block["downstream_blocks"]:
            assert uuid in blocks[down]["upstream_blocks"], f"{pipeline}: {uuid} -> {down} is one-sided"
        # Mage passes one positional argument per upstream block, in the order of upstream_blocks (a block may
        # leave trailing ones to *args).
        tree = ast.parse((PROJECT / BLOCK_FOLDERS[block["type"]] / f"{uuid}.py").read_text())
        decorated = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.decorator_list]
        assert len(decorated) >= 1, f"{uuid} has no decorated block function"
        assert len(decorated[0].args.args) <= len(block["upstream_blocks"]), f"{pipeline}: {uuid}'s arguments"


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_step_reads_its_settings_from_the_run(pipeline):
    """Each block checks the run's variables itself (a step can be rerun alone from the UI)."""
    for block in blocks_of(pipeline):
        source = (PROJECT / BLOCK_FOLDERS[block["type"]] / f"{block['uuid']}.py").read_text()
        assert "load_settings(kwargs)" in source or "run_variables=kwargs" in source, f"{pipeline}: {block['uuid']}"
