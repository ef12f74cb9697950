"""Daily Evidently reports: which reports are built, and that they measure drift and quality."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from machine_learning.monitoring.reports import build_reports, find_metric_result, join_labels
from machine_learning.monitoring.workspace import render_html

DAY = "2026-11-23"
NUMERIC = ("Age", "PlayTimeHours", "InGamePurchases", "SessionsPerWeek", "AvgSessionDurationMinutes", "PlayerLevel")


def typed(players: pd.DataFrame) -> pd.DataFrame:
    """Shipped players with numeric columns, scored by a perfect model (prediction = label)."""
    frame = players.copy()
    for column in (*NUMERIC, "AchievementsUnlocked", "PlayerID"):
        frame[column] = pd.to_numeric(frame[column])
    return frame.assign(prediction=frame["EngagementLevel"])


@pytest.fixture(scope="module")
def reference(shipped_players: pd.DataFrame) -> pd.DataFrame:
    frame = typed(shipped_players.head(4000))
    return frame.assign(split=["test" if i % 5 == 0 else "train" for i in range(len(frame))])


@pytest.fixture(scope="module")
def current(shipped_players: pd.DataFrame) -> pd.DataFrame:
    """Unlabelled scored players of one day, as batch inference writes them."""
    return typed(shipped_players.iloc[20000:21500]).drop(columns="EngagementLevel").assign(date=DAY)


@pytest.fixture(scope="module")
def labelled(shipped_players: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    labels = typed(shipped_players.iloc[20000:21500])[["PlayerID", "EngagementLevel"]].assign(date=DAY)
    return join_labels(current, labels)


@pytest.fixture(scope="module")
def reports_with_labels(reference, current, labelled) -> dict:
    return build_reports(reference, current, labelled, DAY)


def test_every_report_is_built_and_model_quality_comes_with_labels(reports_with_labels):
    assert set(reports_with_labels) == {"data_quality", "data_drift", "prediction_drift", "model_quality"}
    for name, report in reports_with_labels.items():
        assert report.metadata["kind"] == name and report.metadata["day"] == DAY
        assert f"kind={name}" in report.tags
        assert report.timestamp.date().isoformat() == DAY  # the simulated day, not the wall clock
        assert report.as_dict()["metrics"], name


@pytest.mark.parametrize("labelled", [None, "no rows"])
def test_without_labels_there_is_no_model_quality_report(reference, current, labelled):
    rows = None if labelled is None else current.head(0).assign(EngagementLevel=pd.Series(dtype=str))
    assert set(build_reports(reference, current, rows, DAY)) == {"data_quality", "data_drift", "prediction_drift"}


def test_model_quality_measures_the_labelled_players(reports_with_labels, reference, current, labelled):
    perfect = find_metric_result(reports_with_labels["model_quality"], "ClassificationQualityMetric")
    wrong = labelled.assign(prediction=labelled["prediction"].map({"High": "Low", "Low": "Medium", "Medium": "High"}))
    worse = find_metric_result(
        build_reports(reference, current, wrong, DAY)["model_quality"], "ClassificationQualityMetric"
    )
    assert perfect is not None and worse is not None
    assert perfect["current"]["accuracy"] == 1.0
    assert worse["current"]["accuracy"] < 0.5


def test_drifted_data_has_a_higher_share_of_drifted_columns(reports_with_labels, reference, current):
    drifted = current.assign(
        SessionsPerWeek=current["SessionsPerWeek"] * 3,
        AvgSessionDurationMinutes=current["AvgSessionDurationMinutes"] * 0.3,
        PlayTimeHours=current["PlayTimeHours"] + 12,
        Age=current["Age"] + 20,
    )
    clean = find_metric_result(reports_with_labels["data_drift"], "DatasetDriftMetric")
    shifted = find_metric_result(build_reports(reference, drifted, None, DAY)["data_drift"], "DatasetDriftMetric")
    assert clean is not None and shifted is not None
    assert shifted["share_of_drifted_columns"] > clean["share_of_drifted_columns"]
    assert shifted["number_of_drifted_columns"] >= 4
    # The drift tests' columns, the features and the prediction: the report's share is the tests' share.
    assert clean["number_of_columns"] == shifted["number_of_columns"] == 12


def test_prediction_drift_reports_the_share_of_each_class(reports_with_labels, current):
    shares = {
        metric["result"]["category"]: metric["result"]["current"]["category_ratio"]
        for metric in reports_with_labels["prediction_drift"].as_dict()["metrics"]
        if metric["metric"] == "ColumnCategoryMetric"
    }
    expected = current["prediction"].value_counts(normalize=True)
    assert shares == pytest.approx({label: expected[label] for label in ("High", "Medium", "Low")})


def test_labels_join_on_player_and_day_whatever_the_id_type(current):
    labels = pd.DataFrame(
        {
            "PlayerID": [str(current["PlayerID"].iloc[0]), str(current["PlayerID"].iloc[1])],
            "EngagementLevel": ["High", "Low"],
            "date": [DAY, "2026-11-22"],  # the second player was labelled for another day
        }
    )
    joined = join_labels(current, labels)
    assert joined["PlayerID"].tolist() == [str(current["PlayerID"].iloc[0])]
    assert joined["EngagementLevel"].tolist() == ["High"]


def test_the_html_copy_is_a_self_contained_page(reports_with_labels):
    page = render_html(reports_with_labels["prediction_drift"]).decode()
    # Evidently's single-file format: the dashboard and its JavaScript embedded, nothing fetched from elsewhere.
    assert "<iframe" in page and "root_evidently_dashboard" in page
    assert not re.search(r'src=(&quot;|")https?://', page) and len(page) > 100_000


def test_model_quality_works_without_held_out_reference_rows(reference, current, labelled):
    trained_only = reference.assign(split="train")
    report = build_reports(trained_only, current, labelled, DAY)["model_quality"]
    report.to_snapshot()  # raises when a metric failed
