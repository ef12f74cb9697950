"""Safe rollout against real MLflow and S3 servers: manual approval with its audit log, and a canary, a shadow
and an automatic withdrawal through the serving API as `make up` runs it (a uvicorn subprocess)."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest

from machine_learning.cli import main
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN
from machine_learning.registry import CANDIDATE, PRODUCTION, get_alias_version, register_candidate
from machine_learning.rollout.approval import CHALLENGER, PENDING_ALIAS
from machine_learning.rollout.audit import AuditLog
from machine_learning.rollout.split import challenger_rows, split_salt
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.training.train import train_candidate
from tests.conftest import Stack
from tests.integration.conftest import train_register_select
from tests.integration.test_serving_live import WEAK, Server, server, wait_for  # noqa: F401 - the server fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"it-roll-{uuid.uuid4().hex[:8]}")
    # Read by this process and by the serving subprocess: judge a canary after a few requests, and hold a
    # latency limit no model meets, so the challenger below is "deliberately bad".
    monkeypatch.setenv("CANARY_MIN_REQUESTS", "5")
    monkeypatch.setenv("MIN_ACCURACY", "0.3")
    return load_settings()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_under_manual_policy_a_winner_waits_for_approval_and_every_step_is_audited(
    settings: Settings, prepared: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROMOTION_POLICY", "manual")
    manual = load_settings()
    services = connect(manual)

    first, promoted = train_register_select(manual, prepared, WEAK)
    assert not promoted, "under manual nothing reaches production without an approval"
    assert get_alias_version(services.mlflow, manual, PRODUCTION) is None
    assert get_alias_version(services.mlflow, manual, PENDING_ALIAS).version == first

    code, out, _ = run_cli(capsys, "approve", first, "--reason", "first model, checked by hand")
    assert code == 0 and f"v{first} is in production" in out
    assert get_alias_version(services.mlflow, manual, PRODUCTION).version == first

    second, promoted = train_register_select(manual, prepared)
    assert not promoted
    assert get_alias_version(services.mlflow, manual, PRODUCTION).version == first
    code, out, _ = run_cli(capsys, "reject", second, "--reason", "not before the tournament")
    assert code == 0 and "will not be promoted" in out
    code, _, err = run_cli(capsys, "approve", second, "--reason", "changed my mind")
    assert code == 1 and "rejected version cannot be approved" in err
    assert get_alias_version(services.mlflow, manual, PRODUCTION).version == first

    code, out, _ = run_cli(capsys, "history", "--json")
    events = [(e["event"], e["version"]) for e in json.loads(out)]
    assert events == [
        ("proposed", first),
        ("approved", first),
        ("promoted", first),
        ("proposed", second),
        ("rejected", second),
    ]
    audit = [key for key in services.store.list_keys(f"{manual.s3_prefix}/audit/") if key.endswith(".json")]
    assert len(audit) == len(events), "one S3 object per event"
    reason = json.loads(services.store.read_bytes(next(key for key in audit if "-rejected-" in key)))["reason"]
    assert "not before the tournament" in reason
    tags = services.mlflow.get_model_version(manual.model_name, second).tags
    assert tags["rollout_state"] == "rejected"
    assert any(key.startswith("audit.") and key.endswith(".rejected") for key in tags)


def distinct_players(prepared: pd.DataFrame, count: int) -> list[dict[str, object]]:
    rows = prepared[[ID_COLUMN, *FEATURE_COLUMNS]].sample(count, replace=True, random_state=0).reset_index(drop=True)
    rows[ID_COLUMN] = np.arange(5_000_000, 5_000_000 + count)
    return rows.to_dict(orient="records")


def test_a_canary_gets_its_share_sticky_a_shadow_is_never_seen_and_a_bad_canary_is_withdrawn(
    settings: Settings,
    prepared: pd.DataFrame,
    server: Server,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services = connect(settings)
    production, promoted = train_register_select(settings, prepared, WEAK)
    assert promoted
    result = train_candidate(prepared, services.store, settings)
    challenger = register_candidate(
        services.mlflow, settings, result, AuditLog(services.mlflow, services.store, settings)
    )
    assert get_alias_version(services.mlflow, settings, CANDIDATE).version == challenger.version

    code, out, _ = run_cli(capsys, "canary", "start", challenger.version, "--share", "0.1")
    assert code == 0 and "canary at 10.0%" in out
    wait_for(lambda: (server.get("/model-version").json().get("challenger") or {}).get("status") == "serving",
             what="the challenger")  # fmt: skip
    listed = server.get("/model-version").json()
    assert (listed["model_version"], listed["challenger"]["model_version"]) == (production, challenger.version)

    players = distinct_players(prepared, 10_000)
    answer = server.predict(players).json()["predictions"]
    chosen = {row for row, p in enumerate(answer) if p["variant"] == "challenger"}
    share = len(chosen) / len(players)
    print(f"canary share of 10,000 distinct players: {share:.4f}")
    assert 0.09 <= share <= 0.11
    assert chosen == set(
        challenger_rows(list(range(5_000_000, 5_010_000)), 0.1, split_salt(settings.model_name, challenger.version))
    )
    assert {p["model_version"] for p in answer if p["variant"] == "challenger"} == {challenger.version}
    assert {p["model_version"] for p in answer if p["variant"] == "production"} == {production}
    for row in sorted(chosen)[:3] + [r for r in range(10) if r not in chosen][:3]:  # alone, same variant again
        assert server.predict([players[row]]).json()["predictions"][0]["variant"] == answer[row]["variant"]

    code, out, _ = run_cli(capsys, "canary", "start", challenger.version, "--share", "1.0", "--mode", "shadow")
    assert code == 0
    wait_for(lambda: (server.get("/model-version").json().get("challenger") or {}).get("mode") == "shadow",
             what="shadow mode")  # fmt: skip
    wait_for(lambda: server.get("/model-version").json()["challenger"]["status"] == "serving", what="the shadow")
    shadowed = server.predict(players[:200]).json()["predictions"]
    assert {(p["variant"], p["model_version"]) for p in shadowed} == {("production", production)}
    wait_for(lambda: server.get("/rollout").json()["challenger"]["shadow_compared"] >= 200, what="shadow scoring")

    # A deliberately bad canary: a p99 limit no model meets. Serving stops routing to it by itself ...
    monkeypatch.setenv("CANARY_MAX_P99_MS", "0.0001")
    monkeypatch.setenv("SERVING_URL", server.url)
    monkeypatch.setenv("SERVING_TOKEN", server.token)
    code, _, _ = run_cli(capsys, "canary", "start", challenger.version, "--share", "1.0")
    assert code == 0
    wait_for(lambda: server.get("/model-version").json()["challenger"]["mode"] == "canary", what="canary mode")
    wait_for(lambda: server.get("/model-version").json()["challenger"]["status"] == "serving", what="the canary")
    for player in players[:10]:
        server.predict([player])
    # ... serving's own limit is the default (50 ms), so only the durable check below withdraws it here:
    code, out, _ = run_cli(capsys, "canary", "check")
    assert code == 0 and "WITHDRAWN" in out and "CANARY_MAX_P99_MS" in out
    assert get_alias_version(services.mlflow, settings, CHALLENGER) is None
    wait_for(lambda: server.get("/model-version").json()["challenger"] is None, what="the alias to go")
    assert {p["variant"] for p in server.predict(players[:50]).json()["predictions"]} == {"production"}
    code, out, _ = run_cli(capsys, "history")
    assert "canary-withdrawn" in out and "withdrawn automatically: p99 latency" in out
