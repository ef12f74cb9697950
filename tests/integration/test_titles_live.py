"""Two titles created from CSVs side by side in one install (live MLflow and S3), isolated and served on their own.

Mage is the unit tier's small fake (this tier runs no Mage); each title's loop runs in-process with the functions
its Mage blocks call (``local_runner``). The end-to-end tier runs a title's loop through a real Mage server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN
from machine_learning.inference.batch import run_daily_batch
from machine_learning.monitoring.decision import decision_key
from machine_learning.monitoring.nightly import monitoring_experiment, run_performance_monitoring
from machine_learning.registry import PRODUCTION, get_alias_version
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from machine_learning.simulation import run_simulation
from machine_learning.titles.create import TitleServices, create_title, local_runner, title_settings
from machine_learning.titles.delete import delete_title, find_deletion
from machine_learning.titles.projects import delete_title_project, find_title_project, open_title_project
from machine_learning.titles.registry import READY, REGISTRY_KEY, read_titles
from tests.conftest import ROOT, Stack, free_port, sample_players
from tests.integration.conftest import train_register_select
from tests.integration.test_serving_live import wait_for
from tests.unit.titles.title_helpers import FakeMage

pytestmark = pytest.mark.integration

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")
NIGHT = "2026-11-21"  # a Saturday: the simulator publishes no labels, so the night decides on drift alone


@dataclass
class Install:
    """One install holding the default title and two created ones, with the fake Mage that got their triggers."""

    settings: Settings
    services: Services
    titles: TitleServices
    mage: FakeMage
    a: Settings
    b: Settings
    keys_by_create: dict[str, set[str]]


def _seed_csv(folder: Path, players: pd.DataFrame, seed: int) -> str:
    path = folder / f"players-{seed}.csv"
    sample_players(players, 1500, seed=seed).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def install(
    live_stack: Stack, shipped_players: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Install]:
    folder = tmp_path_factory.mktemp("titles")
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = uuid.uuid4().hex[:6]
        live_stack.apply(monkeypatch, game_title=f"it-default-{run}")
        monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(folder / "evidently"))
        monkeypatch.setenv("EVIDENTLY_URL", "http://127.0.0.1:9")  # no UI running: projects still land
        monkeypatch.setenv("MODEL_CACHE_DIR", str(folder / "model-cache"))
        settings = load_settings()
        services = connect(settings)
        prepared = sample_players(shipped_players, 1500, seed=2)
        from machine_learning.data.prepare import load_prepared_players, prepare_players

        prepare_players(prepared, services.store, settings, "default-title")
        train_register_select(settings, load_prepared_players(services.store, settings))  # the default title: v1
        mage = FakeMage()
        titles = TitleServices(services.store, services.mlflow, lambda: mage, local_runner, open_title_project)
        keys_by_create: dict[str, set[str]] = {}
        for name, seed in ((f"it-a-{run}", 5), (f"it-b-{run}", 6)):
            before = set(services.store.list_keys(""))
            create_title(name, settings, titles, _seed_csv(folder, shipped_players, seed), on_progress=print)
            keys_by_create[name] = set(services.store.list_keys("")) - before
        a, b = title_settings(settings, f"it-a-{run}"), title_settings(settings, f"it-b-{run}")
        # b gets a second production version, so the titles serve different versions of their own models.
        second = train_register_select(b, load_prepared_players(services.store, b))[0]
        services.mlflow.set_registered_model_alias(b.model_name, PRODUCTION, second)
        yield Install(settings, services, titles, mage, a, b, keys_by_create)


def test_two_titles_created_from_csvs_are_ready_with_their_own_data_models_and_triggers(install: Install) -> None:
    registry = read_titles(install.services.store)
    for own in (install.a, install.b):
        assert registry[own.game_title].state == READY
        assert registry[own.game_title].production_version is not None
        # Everything a create wrote is in its title's prefix or its own experiments' MLflow artifacts (plus the
        # one registry object).
        experiments = [install.services.mlflow.get_experiment_by_name(e) for e in _experiments(own)]
        owned = (f"{own.s3_prefix}/", *(f"mlflow/{e.experiment_id}/" for e in experiments))
        written = install.keys_by_create[own.game_title] - {REGISTRY_KEY}
        assert written and all(key.startswith(owned) for key in written), sorted(written)
        assert install.services.store.exists(f"{own.s3_prefix}/raw/players.csv")
        names = {
            t["name"]
            for p in install.mage.triggers.values()
            for t in p
            if t["variables"] == {"game_title": own.game_title}
        }
        assert f"{own.game_title}-training-api" in names and f"{own.game_title}-training-nightly" in names
        assert find_title_project(own) == own.game_title
    assert install.keys_by_create[install.a.game_title].isdisjoint(install.keys_by_create[install.b.game_title])


def _experiments(own: Settings) -> tuple[str, str]:
    return own.experiment_name, monitoring_experiment(own)


def _runs_of(client: Any, experiment: str) -> set[str]:
    found = client.get_experiment_by_name(experiment)
    return {run.info.run_id for run in client.search_runs([found.experiment_id])} if found else set()


def test_each_titles_model_versions_come_from_its_own_experiment_only(install: Install) -> None:
    client = install.services.mlflow
    runs = {own.game_title: _runs_of(client, own.experiment_name) for own in (install.a, install.b, install.settings)}
    for own in (install.a, install.b, install.settings):
        versions = client.search_model_versions(f"name='{own.model_name}'")
        assert versions and {v.run_id for v in versions} <= runs[own.game_title]
    assert len({frozenset(r) for r in runs.values()}) == 3 and not set.intersection(*runs.values())
    a_version = get_alias_version(client, install.a, PRODUCTION)
    b_version = get_alias_version(client, install.b, PRODUCTION)
    assert a_version is not None and b_version is not None and a_version.version != b_version.version


def test_a_monitoring_night_of_one_title_decides_only_for_that_title(install: Install) -> None:
    a, b, store = install.a, install.b, install.services.store
    run_simulation(a, NIGHT, 800, [], seed=4)
    run_daily_batch(a, NIGHT)
    started: list[dict[str, Any]] = []
    run_performance_monitoring(a, NIGHT, lambda variables: started.append(variables) or 1)

    assert store.exists(decision_key(a, NIGHT)) and not store.exists(decision_key(b, NIGHT))
    assert not store.exists(decision_key(install.settings, NIGHT))
    client = install.services.mlflow
    assert _runs_of(client, monitoring_experiment(a)) and not _runs_of(client, monitoring_experiment(b))
    listed = _mlops_json(install.settings, "title", "list", "--json")
    by_name = {title["name"]: title for title in listed}
    assert by_name[a.game_title]["last_decision"] and NIGHT in by_name[a.game_title]["last_decision"]
    assert by_name[b.game_title]["last_decision"] is None
    assert by_name[install.settings.game_title]["default"] is True


def _mlops_json(settings: Settings, *args: str) -> Any:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
        "MAGE_URL": f"http://127.0.0.1:{free_port()}",
    }
    done = subprocess.run([MLOPS, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # pure JSON on stdout, even with Mage unreachable


@pytest.fixture(scope="module")
def server(install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SERVING_PORT": str(port),
        "SERVING_TOKEN": token,
        "SERVING_RELOAD_SECONDS": "0.5",
        "MODEL_CACHE_DIR": str(tmp_path_factory.mktemp("serving-cache")),
        "MLFLOW_TRACKING_USERNAME": os.environ["MLFLOW_READER_USERNAME"],
        "MLFLOW_TRACKING_PASSWORD": os.environ["MLFLOW_READER_PASSWORD"],
    }
    log_path = tmp_path_factory.mktemp("serving-log") / "serving.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "machine_learning.serving"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url, headers = f"http://127.0.0.1:{port}", {"X-API-Token": token}
        try:
            wait_for(lambda: _answers(url, headers, process), what="the API to serve the default title", timeout=300)
            yield url, headers
        finally:
            process.terminate()
            process.wait(timeout=20)


def _answers(url: str, headers: dict[str, str], process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the API exited"
    try:
        return httpx.get(f"{url}/model-version", headers=headers, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _players(install: Install) -> list[dict[str, Any]]:
    from machine_learning.data.prepare import load_prepared_players

    prepared = load_prepared_players(install.services.store, install.a)
    return list(prepared[[ID_COLUMN, *FEATURE_COLUMNS]].head(5).to_dict(orient="records"))


def test_each_title_is_served_with_its_own_production_version(
    install: Install, server: tuple[str, dict[str, str]]
) -> None:
    url, headers = server
    players = _players(install)
    for own in (install.a, install.b, install.settings):
        production = get_alias_version(install.services.mlflow, own, PRODUCTION)
        assert production is not None
        version = httpx.get(f"{url}/titles/{own.game_title}/model-version", headers=headers, timeout=60).json()
        assert (version["model_name"], version["model_version"]) == (own.model_name, production.version)
        answer = httpx.post(
            f"{url}/titles/{own.game_title}/predict", json={"players": players}, headers=headers, timeout=60
        )
        assert answer.status_code == 200, answer.text
        assert (answer.json()["model_name"], answer.json()["model_version"]) == (own.model_name, production.version)
        assert [row["PlayerID"] for row in answer.json()["predictions"]] == [p[ID_COLUMN] for p in players]
    # The single-title routes still serve the default title.
    default = get_alias_version(install.services.mlflow, install.settings, PRODUCTION)
    assert default is not None
    single = httpx.post(f"{url}/predict", json={"players": players}, headers=headers, timeout=60).json()
    assert (single["model_name"], single["model_version"]) == (install.settings.model_name, default.version)
    assert httpx.get(f"{url}/model-version", headers=headers, timeout=10).json()["model_version"] == default.version
    unknown = httpx.get(f"{url}/titles/no-such-title/model-version", headers=headers, timeout=30)
    assert unknown.status_code == 404 and "unknown title 'no-such-title'" in unknown.json()["detail"]
    assert httpx.get(f"{url}/titles/{install.a.game_title}/model-version", timeout=10).status_code == 401


def _everything(install: Install, own: Settings) -> dict[str, Any]:
    client = install.services.mlflow
    return {
        "keys": set(install.services.store.list_keys(f"{own.s3_prefix}/")),
        "models": [m.name for m in client.search_registered_models(f"name='{own.model_name}'")],
        "experiment": client.get_experiment_by_name(own.experiment_name).lifecycle_stage,
        "triggers": {
            t["name"] for p in install.mage.triggers.values() for t in p if t["name"].startswith(own.game_title)
        },
        "registered": own.game_title in read_titles(install.services.store),
        "project": find_title_project(own),
    }


def test_delete_dry_run_lists_and_removes_nothing_then_delete_removes_only_that_title(
    install: Install, server: tuple[str, dict[str, str]]
) -> None:
    a, b = install.a, install.b
    a_before, b_before = _everything(install, a), _everything(install, b)

    found = find_deletion(a.game_title, install.settings, install.titles, find_title_project)
    lines = found.describe()
    assert f"S3: {len(a_before['keys'])} objects under {a.game_title}/" in lines
    assert f"MLflow registered models: {a.model_name}" in lines
    assert f"Evidently project: {a.game_title}" in lines
    assert all(name.startswith(f"{a.game_title}-") for _, _, name in found.triggers) and found.triggers
    assert _everything(install, a) == a_before, "a dry run removes nothing"

    delete_title(a.game_title, install.settings, install.titles, (find_title_project, delete_title_project))

    after = _everything(install, a)
    assert after["keys"] == set() and after["models"] == [] and after["experiment"] == "deleted"
    assert after["triggers"] == set() and not after["registered"] and after["project"] is None
    assert _everything(install, b) == b_before, "the other title keeps everything"
    url, headers = server
    # The API read the registry again within SERVING_RELOAD_SECONDS and no longer serves the deleted title.
    wait_for(
        lambda: httpx.get(f"{url}/titles/{a.game_title}/model-version", headers=headers, timeout=30).status_code == 404,
        what="the deleted title to stop being served",
    )
    assert httpx.get(f"{url}/titles/{b.game_title}/model-version", headers=headers, timeout=30).status_code == 200
