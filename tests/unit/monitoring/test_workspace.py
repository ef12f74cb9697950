"""The Evidently workspace: one project per title, an idempotent dashboard, snapshots labelled by day and kind."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from machine_learning.monitoring.reports import build_live_quality_reports, build_reports
from machine_learning.monitoring.workspace import (
    DRIFT_TESTS,
    LIVE_PRODUCTION,
    LIVE_SHADOW,
    add_snapshot,
    describe_run,
    open_project,
    refresh_ui,
    stable_uuid,
    workspace_location,
)
from machine_learning.settings import Settings
from tests.conftest import free_port

NUMERIC = ("Age", "PlayTimeHours", "InGamePurchases", "SessionsPerWeek", "AvgSessionDurationMinutes")
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Nothing listens on that port: snapshots must not depend on a running UI.
    return Settings(
        game_title="space-race",
        evidently_workspace=str(tmp_path / "evidently"),
        evidently_url=f"http://127.0.0.1:{free_port()}",
    )


@pytest.fixture(scope="module")
def players(shipped_players: pd.DataFrame) -> pd.DataFrame:
    frame = shipped_players.head(6000).copy()
    for column in (*NUMERIC, "PlayerLevel", "AchievementsUnlocked", "PlayerID"):
        frame[column] = pd.to_numeric(frame[column])
    return frame.assign(prediction=frame["EngagementLevel"], split="test")


def drift_suite(players: pd.DataFrame, day: str) -> Any:
    """A small drift TestSuite labelled like the nightly one."""
    from evidently import ColumnMapping
    from evidently.test_suite import TestSuite
    from evidently.tests import TestColumnDrift, TestShareOfDriftedColumns

    suite = TestSuite(
        tests=[TestShareOfDriftedColumns(lt=0.3), TestColumnDrift(column_name="prediction")],
        **describe_run(DRIFT_TESTS, day, "1"),
    )
    columns = ["SessionsPerWeek", "prediction"]
    suite.run(
        reference_data=players[columns].head(3000),
        current_data=players[columns].tail(1000),
        column_mapping=ColumnMapping(prediction="prediction"),
    )
    return suite


def test_opening_twice_gives_one_project_with_one_set_of_panels(settings):
    first = open_project(settings)
    metadata = Path(settings.evidently_workspace) / str(first.project.id) / "metadata.json"
    written = metadata.stat().st_mtime_ns

    workspace, project = open_project(settings)

    assert [p.name for p in workspace.list_projects()] == ["space-race"]
    assert project.id == first.project.id
    panel_ids = [panel.id for panel in project.dashboard.panels]
    assert len(panel_ids) == len(set(panel_ids)) == len(first.project.dashboard.panels) > 5
    assert metadata.stat().st_mtime_ns == written  # an unchanged dashboard is not rewritten


def test_concurrent_first_runs_create_one_project(settings):
    # Evidently writes its files in place: without the workspace lock, readers saw half-written JSON here.
    with ThreadPoolExecutor(max_workers=4) as pool:
        opened = list(pool.map(lambda _: open_project(settings), range(8)))
    assert {o.project.id for o in opened} == {stable_uuid("project", "space-race")}
    assert len(open_project(settings).workspace.list_projects()) == 1


def test_a_project_created_by_hand_is_found_by_name_and_gets_the_dashboard(settings):
    from evidently.ui.workspace import Workspace

    made = Workspace.create(workspace_location(settings)).create_project("space-race")

    _, project = open_project(settings)

    assert project.id == made.id
    assert any(panel.title.startswith("Share of drifted columns") for panel in project.dashboard.panels)


def test_each_title_has_its_own_project(settings):
    other = dataclasses.replace(settings, game_title="tiny-farm")
    assert open_project(settings).project.id != open_project(other).project.id
    assert sorted(p.name for p in open_project(other).workspace.list_projects()) == ["space-race", "tiny-farm"]


def test_snapshots_land_in_the_titles_project_labelled_by_day_and_kind(settings, players):
    reports = build_reports(players, players.tail(1000), players.tail(500), DAYS[0])
    ids = {name: add_snapshot(settings, report) for name, report in reports.items()}
    ids[DRIFT_TESTS] = add_snapshot(settings, drift_suite(players, DAYS[0]))

    snapshots = {str(s.id): s for s in open_project(settings).project.list_snapshots()}

    assert set(snapshots) == set(ids.values())
    for kind, snapshot_id in ids.items():
        snapshot = snapshots[snapshot_id]
        assert snapshot.metadata["kind"] == kind and snapshot.metadata["day"] == DAYS[0]
        assert {f"kind={kind}", f"day={DAYS[0]}"} <= set(snapshot.tags)
        assert snapshot.timestamp.date().isoformat() == DAYS[0]
        assert snapshot.is_report == (kind != DRIFT_TESTS)


def test_running_a_day_again_replaces_its_snapshot(settings, players):
    day_one = build_reports(players, players.tail(1000), None, DAYS[0])["data_drift"]
    day_two = build_reports(players, players.tail(1000), None, DAYS[1])["data_drift"]
    rerun = build_reports(players, players.tail(800), None, DAYS[0])["data_drift"]

    ids = [add_snapshot(settings, report) for report in (day_one, day_two, rerun)]

    assert ids[0] == ids[2] != ids[1]
    assert len(open_project(settings).project.list_snapshots()) == 2


def test_every_panel_shows_data_once_reports_and_drift_tests_exist(settings, players):
    opened = open_project(settings)
    for offset, day in enumerate(DAYS):
        current = players.tail(1500).assign(SessionsPerWeek=players["SessionsPerWeek"].tail(1500) * (1 + offset))
        for report in build_reports(players, current, current.head(400), day).values():
            add_snapshot(settings, report, opened)
        add_snapshot(settings, drift_suite(players, day), opened)
    for report in build_live_quality_reports(_live(DAYS)):
        add_snapshot(settings, report, opened)

    widgets = open_project(settings).project.build_dashboard_info(None, None).widgets

    plots = [w for w in widgets if w.type == "big_graph"]
    assert len(plots) >= 6
    for widget in plots:
        traces = widget.params["data"]
        points = [y for trace in traces for y in (trace.get("y") or []) if y]
        assert points, f"panel '{widget.title}' has no data: its metric ids do not match the reports"
    assert all("Error" not in str(w.params) for w in widgets if w.type == "counter")


def _live(days: list[str]) -> pd.DataFrame:
    """Stored predictions joined with labels, for production and a shadow candidate on each day."""
    labels = ["High", "Medium", "Low"] * 100
    frames = [
        pd.DataFrame({"date": day, "version": version, "role": role, "PlayerID": range(300),
                      "predicted": ["Low"] * wrong + labels[wrong:], "label": labels})
        for day in days
        for role, version, wrong in (("production", "1", 90), ("shadow", "2", 30))
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_live_quality_gets_one_snapshot_per_labelled_day_and_role(settings):
    reports = build_live_quality_reports(_live(DAYS))
    ids = {add_snapshot(settings, report) for report in reports}
    again = {add_snapshot(settings, report) for report in build_live_quality_reports(_live(DAYS))}
    kinds = {(r.metadata["kind"], r.metadata["day"], r.metadata["model_version"]) for r in reports}
    assert kinds == {(kind, day, v) for day in DAYS for kind, v in ((LIVE_PRODUCTION, "1"), (LIVE_SHADOW, "2"))}
    assert ids == again and len(open_project(settings).project.list_snapshots()) == 2 * len(DAYS)  # back-fill replaces


def test_describe_run_labels_the_simulated_day():
    labels = describe_run("data_drift", "2026-11-23", "7")
    assert labels["timestamp"].isoformat() == "2026-11-23T00:00:00"
    assert labels["metadata"] == {"kind": "data_drift", "day": "2026-11-23", "model_version": "7"}
    assert labels["tags"] == ["kind=data_drift", "day=2026-11-23", "model_version=7"]


def test_stable_ids_are_version_4_and_deterministic():
    assert stable_uuid("project", "a") == stable_uuid("project", "a") != stable_uuid("project", "b")
    assert stable_uuid("project", "a").version == 4


def test_the_workspace_folder_is_created_and_home_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    location = workspace_location(Settings(evidently_workspace="~/reports/evidently"))
    assert location == str(tmp_path / "reports" / "evidently") and Path(location).is_dir()
    assert workspace_location(Settings(evidently_workspace="s3://bucket/evidently")) == "s3://bucket/evidently"


def test_refreshing_a_ui_that_is_not_running_is_harmless(settings):
    assert refresh_ui(settings, str(stable_uuid("project", "space-race"))) is False


def test_a_truncated_snapshot_is_set_aside_by_name_and_blocks_nothing(settings, players, capsys):
    kept = add_snapshot(settings, drift_suite(players, DAYS[0]))
    damaged_id = add_snapshot(settings, drift_suite(players, DAYS[1]))
    folder = Path(workspace_location(settings))
    damaged = next(folder.glob(f"*/snapshots/{damaged_id}.json"))
    damaged.write_bytes(damaged.read_bytes()[:400])  # a run killed while Evidently wrote the file in place

    snapshots = [str(s.id) for s in open_project(settings).project.list_snapshots()]  # raised before

    assert snapshots == [kept]
    assert f"damaged Evidently snapshot {damaged} (400 bytes, not whole JSON) moved to" in capsys.readouterr().out
    assert (folder / "damaged" / damaged.parent.parent.name / damaged.name).exists()
    assert add_snapshot(settings, drift_suite(players, DAYS[1])) == damaged_id  # the rerun writes the day again


def test_the_drift_panels_show_the_numbers_the_drift_tests_decided_on(settings, players):
    """One night, the prediction and one feature drifted: every drift panel agrees with the suite (and MLflow)."""
    from machine_learning.monitoring.drift import run_drift_tests

    current = players.tail(1500).assign(SessionsPerWeek=players["SessionsPerWeek"].tail(1500) * 3, prediction="High")
    suite, result = run_drift_tests(players, current, Settings(), DAYS[0], "1")
    opened = open_project(settings)
    add_snapshot(settings, suite, opened)
    for report in build_reports(players, current, None, DAYS[0], "1").values():
        add_snapshot(settings, report, opened)

    widgets = open_project(settings).project.build_dashboard_info(None, None).widgets

    def shown(title: str, kind: str) -> list[float]:
        found = [w for w in widgets if w.title.startswith(title) and w.type == kind]
        assert found, f"no {kind} panel '{title}...'"
        if kind == "counter":
            return [float(c["value"]) for w in found for c in w.params["counters"]]
        return [y for w in found for trace in w.params["data"] for y in trace.get("y") or []]

    assert len(result.decision.drifted_columns) == 2  # what MLflow logs as drifted_columns
    share = result.decision.share_of_drifted_columns
    assert shown("Share of drifted columns", "big_graph") == [pytest.approx(share)]
    assert shown("Number of drifted columns", "big_graph") == [2]
    assert shown("Share of drifted columns", "counter") == [pytest.approx(share, abs=0.005)]


def test_every_panel_is_labelled(settings):
    """A title on every panel, and a legend entry naming each line, bar or column a plot shows."""
    for panel in open_project(settings).project.dashboard.panels:
        assert panel.title.strip(), panel
        for value in getattr(panel, "values", []):
            assert value.legend and value.legend.strip(), f"'{panel.title}' has an unnamed value"
    kinds = {type(panel).__name__ + getattr(getattr(panel, "panel_type", None), "value", "") for panel in
             open_project(settings).project.dashboard.panels}  # fmt: skip
    assert "DashboardPanelTestSuitedetailed" not in kinds, "Evidently's per-test panel names no test or column"
