"""A second title from a CSV with one ``mlops title create``, its loop run through a live Mage server.

Its triggers exist by name in the running ``mage start``, its runs carry its title, it ends with a production
model that the serving API answers for, and ``mlops title delete`` removes its triggers (``--dry-run`` nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from machine_learning.orchestration import MageClient
from machine_learning.registry import PRODUCTION, get_alias_version
from machine_learning.run_variables import PIPELINE_VARIABLES
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.titles.create import title_settings
from machine_learning.titles.plan import LOOP
from machine_learning.titles.registry import read_titles
from tests.conftest import ROOT, Stack, sample_players
from tests.e2e.mage_server import running_mage

pytestmark = pytest.mark.e2e

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")
TITLE_PIPELINES = sorted(p for p, names in PIPELINE_VARIABLES.items() if "game_title" in names)


@dataclass(frozen=True)
class Created:
    """The install's settings, the new title's, a Mage client and what ``title create`` printed."""

    settings: Settings
    own: Settings
    mage: MageClient
    printed: str
    env: dict[str, str]
    transcript: Path

    def mlops(self, *args: str) -> str:
        done = subprocess.run([MLOPS, *args], env=self.env, capture_output=True, text=True, timeout=600)
        _record(self.transcript, args, done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def triggers(self) -> dict[str, list[dict[str, Any]]]:
        return {
            pipeline: [t for t in self.mage.list_triggers(pipeline) if t["name"].startswith(f"{self.own.game_title}-")]
            for pipeline in TITLE_PIPELINES
        }


def _record(transcript: Path, args: tuple[str, ...] | list[str], printed: str) -> None:
    """Keep each command and its output with the test's temporary files (the README shows a real run)."""
    with transcript.open("a") as handle:
        handle.write(f"$ mlops {' '.join(args)}\n{printed}\n")


@pytest.fixture(scope="module")
def created(
    live_stack: Stack, shipped_players: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Created]:
    folder = tmp_path_factory.mktemp("title-e2e")
    with pytest.MonkeyPatch.context() as monkeypatch, running_mage(live_stack, monkeypatch, "ttl"):
        monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(folder / "evidently"))
        monkeypatch.setenv("EVIDENTLY_URL", "http://127.0.0.1:9")  # no UI running: the project still lands
        settings = load_settings()
        own = title_settings(settings, f"e2e-{uuid.uuid4().hex[:8]}")
        seed = folder / "players.csv"
        sample_players(shipped_players, 1500, seed=11).to_csv(seed, index=False)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [MLOPS, "title", "create", own.game_title, "--from-csv", str(seed)],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        transcript = folder / "transcript.txt"
        _record(transcript, ["title", "create", own.game_title, "--from-csv", seed.name], done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
        yield Created(settings, own, MageClient(settings), done.stdout, env, transcript)


def test_one_create_takes_a_csv_to_a_production_model_through_mage_runs(created: Created) -> None:
    own, mage = created.own, created.mage
    assert f"title {own.game_title} is ready: production v" in created.printed
    record = read_titles(connect(created.settings).store)[own.game_title]
    assert record.state == "ready" and set(record.runs) == set(LOOP)
    for pipeline in LOOP:
        run = mage.get_run(int(record.runs[pipeline]))
        assert run["pipeline_uuid"] == pipeline and run["status"] == "completed"
        assert run["variables"]["game_title"] == own.game_title  # the run worked on the new title
        assert f"/pipelines/{pipeline}/runs/{run['id']}" in created.printed  # its page in the Mage UI
    production = get_alias_version(connect(own).mlflow, own, PRODUCTION)
    assert production is not None and production.version == record.production_version
    # The default title was not touched: it has no production model of the new title's runs.
    assert get_alias_version(connect(created.settings).mlflow, created.settings, PRODUCTION) is None


def test_the_titles_triggers_exist_by_name_in_the_running_mage_and_carry_the_title(created: Created) -> None:
    triggers = created.triggers()
    for pipeline in TITLE_PIPELINES:
        assert triggers[pipeline], f"{pipeline} has no trigger of the title"
        assert all(t["variables"].get("game_title") == created.own.game_title for t in triggers[pipeline])
    names = {t["name"] for found in triggers.values() for t in found}
    title = created.own.game_title
    assert {f"{title}-training-api", f"{title}-training-weekend", f"{title}-model_selection-monday"} <= names


def test_the_new_title_is_listed_and_served_with_its_production_model(created: Created) -> None:
    from machine_learning.serving.app import create_app
    from machine_learning.serving.provider import build_provider

    created.mlops("title", "list")
    listed = {t["name"]: t for t in json.loads(created.mlops("title", "list", "--json"))}
    mine = listed[created.own.game_title]
    assert mine["state"] == "ready" and mine["production_version"]
    assert {p: run.split()[1] for p, run in mine["last_runs"].items() if p in LOOP} == dict.fromkeys(LOOP, "completed")
    settings = created.settings.with_overrides({"serving_token": "e2e-token-" + "t" * 16})
    with TestClient(create_app(settings, build_provider(settings))) as api:
        headers = {"X-API-Token": settings.serving_token}
        answer = api.get(f"/titles/{created.own.game_title}/model-version", headers=headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["model_name"], answer.json()["model_version"]) == (
        created.own.model_name,
        mine["production_version"],
    )


def test_delete_dry_run_lists_the_triggers_and_removes_nothing_then_yes_removes_them(created: Created) -> None:
    before = created.triggers()
    count = sum(len(found) for found in before.values())
    listed = created.mlops("title", "delete", created.own.game_title, "--dry-run")
    assert f"Mage triggers ({count}): " in listed and f"{created.own.game_title}-training-api" in listed
    assert created.triggers() == before, "a dry run removes nothing"

    removed = created.mlops("title", "delete", created.own.game_title, "--yes")
    assert f"deleted {count} Mage triggers" in removed and f"title {created.own.game_title} deleted" in removed
    assert all(not found for found in created.triggers().values())
    assert created.own.game_title not in read_titles(connect(created.settings).store)
