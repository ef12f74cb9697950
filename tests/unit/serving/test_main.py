"""`python -m machine_learning.serving`: loopback by default, any interface when the container asks for it."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from machine_learning.serving import app


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda served, **options: calls.append(options))
    monkeypatch.setattr(app, "build_provider", lambda settings: object())
    monkeypatch.setattr(app, "create_app", lambda settings, provider, rollout=None: object())
    monkeypatch.setenv("SERVING_TOKEN", "unit-test-token")
    return calls


def test_binds_loopback_by_default(run_calls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVING_HOST", raising=False)
    monkeypatch.delenv("SERVING_PORT", raising=False)

    app.main()

    assert run_calls == [{"host": "127.0.0.1", "port": 8080, "workers": 1, "access_log": False, "log_level": "info"}]


def test_host_and_port_come_from_the_environment(run_calls, monkeypatch: pytest.MonkeyPatch) -> None:
    all_interfaces = "0.0.0.0"  # noqa: S104 - what the container image sets
    monkeypatch.setenv("SERVING_HOST", all_interfaces)
    monkeypatch.setenv("SERVING_PORT", "9090")

    app.main()

    assert (run_calls[0]["host"], run_calls[0]["port"]) == (all_interfaces, 9090)


def test_bad_settings_exit_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIN_ACCURACY", "2")

    with pytest.raises(SystemExit, match="MIN_ACCURACY"):
        app.main()
