"""The prediction log against real S3 and MLflow servers, through the serving API as `make up` runs it.

Online answers (production, a canary and a shadow) land in the date-partitioned S3 log with the player's fields;
a refused request does not; once labels are published, `mlops prediction-log quality` gives live accuracy per
variant and version and the promotion rule's decision, recorded like the batch side's (an MLflow run in the
title's monitoring experiment and a JSON record in S3).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.monitoring.data import labels_key
from machine_learning.monitoring.nightly import monitoring_experiment
from machine_learning.predlog.quality import quality_key
from machine_learning.predlog.records import LOG_COLUMNS, PROBABILITY_COLUMNS, log_prefix
from machine_learning.registry import PRODUCTION, get_alias_version, register_candidate
from machine_learning.rollout.audit import AuditLog
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.training.train import train_candidate
from tests.conftest import Stack
from tests.integration.conftest import train_register_select
from tests.integration.test_rollout_live import run_cli
from tests.integration.test_serving_live import WEAK, Server, server, wait_for  # noqa: F401 - the server fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"it-plog-{uuid.uuid4().hex[:8]}")
    # Read by this process and by the serving subprocess: the log on, flushed every half second; a verdict
    # after a few labelled players.
    monkeypatch.setenv("PREDICTION_LOG", "on")
    monkeypatch.setenv("PREDICTION_LOG_FLUSH_SECONDS", "0.5")
    monkeypatch.setenv("CANARY_MIN_REQUESTS", "20")
    monkeypatch.setenv("MIN_ACCURACY", "0.3")
    return load_settings()


def logged_rows(settings: Settings, day: str) -> pd.DataFrame:
    store = connect(settings).store
    frames = [store.read_parquet(key) for key in store.list_keys(log_prefix(settings.s3_prefix, day))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(LOG_COLUMNS))


def players_of(prepared: pd.DataFrame, first_id: int, count: int) -> pd.DataFrame:
    rows = prepared[[ID_COLUMN, *FEATURE_COLUMNS, LABEL_COLUMN]].head(count).reset_index(drop=True)
    rows[ID_COLUMN] = np.arange(first_id, first_id + len(rows))
    return rows


def test_online_answers_are_logged_joined_with_labels_and_judged_per_variant(
    settings: Settings,
    prepared: pd.DataFrame,
    server: Server,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services = connect(settings)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    production, promoted = train_register_select(settings, prepared, WEAK)
    assert promoted
    challenger = register_candidate(services.mlflow, settings, train_candidate(prepared, services.store, settings),
                                    AuditLog(services.mlflow, services.store, settings)).version  # fmt: skip
    wait_for(lambda: server.get("/model-version").status_code == 200, what="production")

    # A bad request: a clear 4xx, and never logged.
    bad = players_of(prepared, 9_000_000, 1).drop(columns=LABEL_COLUMN).to_dict(orient="records")
    bad[0]["Age"] = -5
    refused = server.predict(bad)
    assert refused.status_code == 422 and "Age" in refused.text

    # A canary at half the players, then a shadow of the same version on others.
    code, _, _ = run_cli(capsys, "canary", "start", challenger, "--share", "0.5")
    assert code == 0
    wait_for(lambda: (server.get("/model-version").json().get("challenger") or {}).get("status") == "serving",
             what="the canary")  # fmt: skip
    canary = players_of(prepared, 7_000_000, 400)
    canary_answer = server.predict(canary.drop(columns=LABEL_COLUMN).to_dict(orient="records"))
    assert canary_answer.status_code == 200
    assert {p["variant"] for p in canary_answer.json()["predictions"]} == {"production", "challenger"}
    code, _, _ = run_cli(capsys, "canary", "start", challenger, "--share", "0.5", "--mode", "shadow")
    assert code == 0
    wait_for(lambda: server.get("/model-version").json()["challenger"]["mode"] == "shadow", what="shadow mode")
    wait_for(lambda: server.get("/model-version").json()["challenger"]["status"] == "serving", what="the shadow")
    shadow = players_of(prepared.iloc[::-1], 8_000_000, 400)
    assert server.predict(shadow.drop(columns=LABEL_COLUMN).to_dict(orient="records")).status_code == 200

    def complete() -> bool:
        rows = logged_rows(settings, today)
        return len(rows[rows["variant"] != "shadow"]) >= 800 and (rows["variant"] == "shadow").any()

    wait_for(complete, what="every answer and the shadow's in the S3 log")
    log = logged_rows(settings, today)
    assert set(log["variant"]) == {"production", "challenger", "shadow"}
    assert list(log.columns) == list(LOG_COLUMNS)
    assert 9_000_000 not in set(log[ID_COLUMN]), "the refused request is not logged"
    served = log[log["variant"] != "shadow"]
    assert sorted(served[ID_COLUMN]) == sorted([*canary[ID_COLUMN], *shadow[ID_COLUMN]]), "one row per answer"
    answered = {p["PlayerID"]: p for p in canary_answer.json()["predictions"]}
    for row in served[served[ID_COLUMN] < 8_000_000].itertuples():
        assert (row.variant, row.model_version) == (answered[row.PlayerID]["variant"],
                                                    answered[row.PlayerID]["model_version"])  # fmt: skip
    fields = canary.set_index(ID_COLUMN)
    assert (served.set_index(ID_COLUMN).loc[fields.index, "Age"] == fields["Age"]).all(), "the player's fields"
    assert np.allclose(log[list(PROBABILITY_COLUMNS)].sum(axis=1), 1.0)
    assert (log["latency_ms"] > 0).all() and log["logged_at"].notna().all()
    assert set(log.loc[log["variant"] == "shadow", "model_version"]) == {challenger}
    assert set(log.loc[log["variant"] == "shadow", ID_COLUMN]) <= set(shadow[ID_COLUMN])

    monkeypatch.setenv("SERVING_URL", server.url)
    monkeypatch.setenv("SERVING_TOKEN", server.token)
    code, out, err = run_cli(capsys, "prediction-log", "stats")
    assert code == 0, err
    with capsys.disabled():  # the README shows this output
        print(f"\n$ mlops prediction-log stats\n{out}")
    stats = json.loads(out)
    assert stats["enabled"] and stats["written_rows"] == len(log) and stats["lost_rows"] == 0

    # Labels arrive: the log joined with them gives live quality per variant and the rule's decision.
    labels = pd.concat([canary, shadow])[[ID_COLUMN, LABEL_COLUMN]]
    services.store.write_parquet(labels_key(settings, today), labels)
    code, out, err = run_cli(capsys, "prediction-log", "quality", "--date", today, "--days", "1", "--dry-run")
    assert code == 0, err
    with capsys.disabled():
        print(f"$ mlops prediction-log quality --date {today} --days 1 --dry-run\n{out}")
    assert "online-shadow" in out and "decision: " in out and "not applied" in out
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == production, "a dry run changes nothing"

    code, out, err = run_cli(capsys, "prediction-log", "quality", "--date", today, "--days", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    roles = {(q["role"], q["version"]) for q in result["live_quality"]}
    assert {("online-production", production), ("online-challenger", challenger),
            ("online-shadow", challenger)} <= roles  # fmt: skip
    assert all(0.0 <= q["accuracy"] <= 1.0 and q["rows"] > 0 for q in result["live_quality"])
    decision = result["decision"]
    assert decision["action"] in {"promote", "keep", "withdraw"} and decision["challenger"]["role"] == "online-shadow"
    assert f"v{challenger}" in decision["reason"], "the reason names the figures it rests on"
    record = services.store.read_json(quality_key(settings, today))
    assert record["decision"]["action"] == decision["action"] and record["mlflow_run_id"] == result["mlflow_run_id"]
    run = services.mlflow.get_run(result["mlflow_run_id"])
    experiment = services.mlflow.get_experiment_by_name(monitoring_experiment(settings))
    assert run.info.experiment_id == experiment.experiment_id
    assert run.data.tags["source"] == "prediction-log" and run.data.tags["action"] == decision["action"]
    assert f"live_accuracy_online-shadow_v{challenger}" in run.data.metrics
    assert f"live_accuracy_online-production_v{production}" in run.data.metrics
    if decision["action"] == "promote":  # the shadow was better on live labels by the margin
        assert get_alias_version(services.mlflow, settings, PRODUCTION).version == challenger
