"""Model selection's steps as the model_selection pipeline runs them: compared -> decided -> applied."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from machine_learning.errors import ConflictError
from machine_learning.registry import Comparison, VersionInfo
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


class FakeClient:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.tags: dict[str, str] = {}

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.tags[f"v{version}.{key}"] = value

    def update_model_version(self, name: str, version: str, description: str) -> None:
        self.tags[f"v{version}.description"] = description


def test_applying_a_promotion_moves_production_and_keeps_previous():
    client, before = FakeClient(), compared(0.9, 0.5)
    apply_selection(client, SETTINGS, before, decide_selection(SETTINGS, before))
    assert client.aliases == {"production": "3", "previous": "2"}
    assert client.tags["v3.selection_decision"] == "promoted"


def test_a_rejected_candidate_is_recorded_and_production_stays():
    client, before = FakeClient(), compared(0.5, 0.9)
    apply_selection(client, SETTINGS, before, decide_selection(SETTINGS, before))
    assert client.aliases == {} and client.tags["v3.selection_decision"] == "rejected"


def test_a_candidate_already_in_production_changes_nothing():
    client, before = FakeClient(), compared(None, None)
    result = decide_selection(SETTINGS, before)
    apply_selection(client, SETTINGS, before, result)
    assert not result.promoted and "already in production" in result.reason
    assert client.aliases == {} and client.tags == {}


class RegistryClient(FakeClient):
    """Also answers alias lookups, as MLflow does, from the aliases it holds."""

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        from types import SimpleNamespace

        if alias not in self.aliases:
            raise RuntimeError(f"RESOURCE_DOES_NOT_EXIST: alias {alias}")
        return SimpleNamespace(version=self.aliases[alias], run_id="run", tags={})


def test_the_pipelines_promote_step_refuses_when_production_moved_since_the_comparison(store):
    client, before = RegistryClient(), compared(0.9, 0.5)  # compared against production v2
    client.aliases["production"] = "4"  # another selection promoted v4 in between
    decision = announce_selection(SETTINGS, before)

    with pytest.raises(ConflictError, match="production moved from v2 to v4"):
        promote_selected(client, store, SETTINGS, before, decision)
    assert client.aliases == {"production": "4"} and client.tags == {}, "nothing was changed"

    client.aliases["production"] = "2"
    assert promote_selected(client, store, SETTINGS, before, decision)["promoted"]
    assert client.aliases == {"production": "3", "previous": "2"}
