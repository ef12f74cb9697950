"""``mlops title create|list|delete``: one-line errors before any connection, pure JSON under ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import synthetic_players

from machine_learning.cli import main
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.create import TitleServices
from machine_learning.titles.registry import REGISTRY_KEY, read_titles
from tests.unit.titles.title_helpers import FakeMage, fake_services


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch, store: ObjectStore) -> list[TitleServices]:
    """Every ``connect_titles`` call gets the unit fakes over the in-memory bucket; the list records the calls."""
    calls: list[TitleServices] = []
    monkeypatch.setenv("GAME_TITLE", "unit-test")

    def connect(settings: Settings, run: Any = None, on_progress: Any = None) -> TitleServices:
        services, _, _ = fake_services(store)
        calls.append(services)
        return services

    monkeypatch.setattr("machine_learning.titles.create.connect_titles", connect)
    return calls


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["title", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "Space-Racer"], "error: title name 'Space-Racer' must be lowercase: try 'space-racer'"),
        (["create", "space_racer"], "may hold only lowercase letters, digits and dashes, not '_'"),
        (["create", "unit-test"], "error: 'unit-test' is the default title (GAME_TITLE): it exists already"),
        (["delete", "a/b"], "error: title name 'a/b' may hold only"),
        (["delete", "space-racer"], "error: deleting space-racer cannot be undone: add --yes (or --dry-run"),
        (["delete", "unit-test", "--yes"], "refusing to delete it without --force"),
    ],
)
def test_refusals_are_one_line_and_connect_to_nothing(
    connected: list[TitleServices], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err
    assert connected == []


def test_a_seed_csv_that_is_not_a_player_file_is_refused_before_anything_is_written(
    connected: list[TitleServices], store: ObjectStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = _run(capsys, "create", "space-racer", "--from-csv", str(bad))
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert not store.exists(REGISTRY_KEY) and not store.exists("space-racer/raw/players.csv")


def test_create_from_a_csv_prints_each_step_and_ends_ready(
    connected: list[TitleServices], store: ObjectStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed = tmp_path / "players.csv"
    synthetic_players(120, seed=4).to_csv(seed, index=False)
    code, out, err = _run(capsys, "create", "space-racer", "--from-csv", str(seed))
    assert code == 0, err
    assert "-> seed-data ..." in out and out.strip().endswith(
        "title space-racer is ready: production v1, scheduled and served"
    )
    assert read_titles(store)["space-racer"].state == "ready"


def test_list_json_is_pure_json_even_when_mage_is_unreachable(
    connected: list[TitleServices],
    store: ObjectStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(self: FakeMage, limit: int = 200) -> list[dict[str, Any]]:
        raise ConnectionError("Mage is down")

    monkeypatch.setattr(FakeMage, "recent_runs", unreachable)
    code, out, err = _run(capsys, "list", "--json")
    assert code == 0, err
    listed = json.loads(out)  # nothing but the document on stdout
    assert [(t["name"], t["default"], t["state"], t["last_runs"]) for t in listed] == [("unit-test", True, "ready", {})]


def test_list_shows_a_table_with_the_default_title(
    connected: list[TitleServices], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "list")
    assert code == 0
    assert out.splitlines()[0].startswith("TITLE") and "unit-test (default)" in out and "decision: none yet" in out


def test_delete_dry_run_lists_and_removes_nothing(
    connected: list[TitleServices],
    store: ObjectStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("machine_learning.titles.projects.find_title_project", lambda own: None)
    store.write_bytes("space-racer/raw/players.csv", b"x")
    code, out, err = _run(capsys, "delete", "space-racer", "--dry-run")
    assert code == 0, err
    assert out.startswith("dry run: deleting space-racer would remove") and "S3: 1 objects under space-racer/" in out
    assert store.exists("space-racer/raw/players.csv")
