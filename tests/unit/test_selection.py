"""Model selection's steps as the model_selection pipeline runs them: compared -> decided -> applied."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
from unit_helpers import FakeMlflowClient

from machine_learning.errors import ConflictError
from machine_learning.registry import CANDIDATE, PRODUCTION, Comparison, VersionInfo, get_alias_version
from machine_learning.rollout.policy import STATE_TAG
from machine_learning.selection import (
    SelectionResult,
    announce_selection,
    apply_selection,
    decide_selection,
    promote_selected,
)
from machine_learning.settings import Settings

SETTINGS = Settings()


def compared(candidate: float | None, production: float | None, recent: Comparison | None = None) -> dict[str, Any]:
    """What compare_models hands the next step, through JSON as Mage stores it (None scores: already promoted)."""
    held_out = None if candidate is None else asdict(Comparison("held-out", 500, candidate, production))
    payload = {
        "candidate": VersionInfo(SETTINGS.model_name, "3", "run-3", {"holdout_uri": "s3://b/h"}).to_dict(),
        "production": VersionInfo(SETTINGS.model_name, "2", "run-2").to_dict() if production is not None else None,
        "metric": SETTINGS.promotion_metric,
        "held_out": held_out,
        "recent": asdict(recent) if recent else None,
    }
    return json.loads(json.dumps(payload))


@pytest.mark.parametrize(
    ("candidate", "production", "promoted", "says"),
    [(0.9, 0.5, True, "beats"), (0.5, 0.9, False, "does not beat"), (0.7, None, True, "first model")],
)
def test_the_decision_is_pure_and_names_its_numbers(candidate, production, promoted, says):
    result = decide_selection(SETTINGS, compared(candidate, production))
    assert result.promoted is promoted and says in result.reason
    assert result.holdout_rows == 500 and result.compared_on == "held-out"


def test_recent_rows_decide_when_compared_on(capsys):
    recent = Comparison("recent", 300, 0.8, 0.6)
    output = announce_selection(SETTINGS, compared(0.7, 0.72, recent))
    assert output["promoted"] and output["compared_on"] == "recent" and output["recent_rows"] == 300
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [SelectionResult(**output).describe()], "the decision is printed as one line"
    assert "PROMOTED" in lines[0]


class Registry(FakeMlflowClient):
    """The fake registry, plus the description that selection writes on a version."""

    def update_model_version(self, name: str, version: str, description: str) -> None:
        self.versions[str(version)].description = description


@pytest.fixture
def registry(settings: Settings) -> Registry:
    """Version 1 in production, version 2 the candidate, version 3 registered later."""
    client = Registry()
    client.create_registered_model(settings.model_name)
    for run in ("run1", "run2", "run3"):
        client.create_model_version(settings.model_name, "s", run, tags={STATE_TAG: "registered"})
    client.set_registered_model_alias(settings.model_name, PRODUCTION, "1")
    client.set_registered_model_alias(settings.model_name, CANDIDATE, "2")
    return client


def compared_in(registry: Registry, settings: Settings, candidate: float, production: float) -> dict[str, Any]:
    """compare_models' output for the registry's candidate v2 against production v1, through JSON."""
    versions = {
        role: get_alias_version(registry, settings, role).to_dict()  # type: ignore[union-attr]
        for role in (CANDIDATE, PRODUCTION)
    }
    payload = {
        "candidate": versions[CANDIDATE],
        "production": versions[PRODUCTION],
        "metric": settings.promotion_metric,
        "held_out": asdict(Comparison("held-out", 500, candidate, production)),
        "recent": None,
    }
    return json.loads(json.dumps(payload))


def test_applying_a_promotion_moves_production_and_keeps_previous(registry, store, settings):
    before = compared_in(registry, settings, 0.9, 0.5)
    result = apply_selection(registry, store, settings, before, decide_selection(settings, before))
    assert result.promoted
    assert registry.aliases[PRODUCTION] == "2" and registry.aliases["previous"] == "1"
    assert registry.versions["2"].tags["selection_decision"] == "promoted"


def test_a_rejected_candidate_is_recorded_and_production_stays(registry, store, settings):
    before = compared_in(registry, settings, 0.5, 0.9)
    result = apply_selection(registry, store, settings, before, decide_selection(settings, before))
    assert not result.promoted and registry.aliases[PRODUCTION] == "1"
    assert registry.versions["2"].tags["selection_decision"] == "rejected"


def test_the_pipelines_promote_step_refuses_when_production_moved_since_the_comparison(registry, store, settings):
    before = compared_in(registry, settings, 0.9, 0.5)  # candidate v2 compared against production v1
    decision = announce_selection(settings, before)
    registry.set_registered_model_alias(settings.model_name, PRODUCTION, "3")  # another selection promoted v3
    tags = {version: dict(info.tags) for version, info in registry.versions.items()}

    with pytest.raises(ConflictError, match="production moved from v1 to v3"):
        promote_selected(registry, store, settings, before, decision)
    assert registry.aliases[PRODUCTION] == "3", "nothing was changed"
    assert {version: info.tags for version, info in registry.versions.items()} == tags

    registry.set_registered_model_alias(settings.model_name, PRODUCTION, "1")
    assert promote_selected(registry, store, settings, before, decision)["promoted"]
    assert registry.aliases[PRODUCTION] == "2" and registry.aliases["previous"] == "1"
