"""The fault tier: a stack of its own (SeaweedFS as S3, MLflow) whose servers the tests stop and start again.

Servers are stopped the way ``make down`` stops them, by their process group (``scripts/stack.py``), never by
name, so nothing outside this stack is touched. Each test gets a title of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import ROOT, distinct_free_ports, free_port, sample_players


@dataclass
class FaultStack:
    """A running S3 + MLflow pair that a test may kill and restart."""

    env: dict[str, str]
    state: Path

    def stack(self, action: str, components: str) -> str:
        """Run ``stack.py <action> --components <components>`` for this stack; return its output."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "stack.py"), action, "--components", components],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def kill(self, component: str) -> None:
        """Stop one server by its process group, as a crash would leave it: gone."""
        self.stack("down", component)

    def restart(self, component: str) -> None:
        """Start a stopped server again on the same ports and state."""
        self.stack("up", component)


_STACK_PREFIXES = (
    "AWS_", "S3_", "MLFLOW_", "EVIDENTLY_", "MAGE_", "SERVING_", "OPERATOR_", "ALERT_", "DEFAULT_OWNER_", "LOCAL_STATE",
)  # fmt: skip
_SEAWEEDFS_PORTS = (
    "S3_PORT", "S3_MASTER_PORT", "S3_VOLUME_PORT", "S3_FILER_PORT", "S3_ADMIN_PORT", "S3_GRPC_PORT",
    "S3_MASTER_GRPC_PORT", "S3_VOLUME_GRPC_PORT", "S3_FILER_GRPC_PORT",
)  # fmt: skip


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    state = tmp_path_factory.mktemp("fault-stack")
    # Nothing of another stack (its ports, credentials or addresses) may leak into this one.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(_STACK_PREFIXES)}
    ports = dict(zip(_SEAWEEDFS_PORTS, distinct_free_ports(len(_SEAWEEDFS_PORTS)), strict=True))
    base = {**inherited, "LOCAL_STATE_DIR": str(state), "S3_SERVER": "seaweedfs", "S3_BUCKET": "mlops-faults"}
    base |= {name: str(port) for name, port in ports.items()} | {"MLFLOW_PORT": str(free_port())}
    stack = FaultStack(base, state)
    stack.stack("up", "s3,mlflow")
    try:
        printed = stack.stack("env", "s3,mlflow")
        exported = dict(line[len("export ") :].split("=", 1) for line in printed.splitlines() if "=" in line)
        stack.env = {**base, **exported, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        yield stack
    finally:
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "stack.py"), "down", "--components", "s3,mlflow"],
            env=stack.env,
            capture_output=True,
            check=False,
        )


def _title_settings(stack: FaultStack, monkeypatch: pytest.MonkeyPatch, title: str, folder: Path) -> Settings:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GAME_TITLE", title)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(folder / "model-cache"))
    monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(folder / "evidently"))
    return load_settings().with_overrides({"min_accuracy": 0.3})


def _prepare(settings: Settings, players: pd.DataFrame) -> pd.DataFrame:
    store = connect(settings).store
    prepare_players(sample_players(players, 3000), store, settings, "fault-sample")
    return load_prepared_players(store, settings)


@pytest.fixture
def settings(fault_stack: FaultStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """A title of the test's own."""
    return _title_settings(fault_stack, monkeypatch, f"fault-{uuid.uuid4().hex[:8]}", tmp_path)


@pytest.fixture
def prepared(settings: Settings, shipped_players: pd.DataFrame) -> pd.DataFrame:
    return _prepare(settings, shipped_players)


@pytest.fixture(scope="session")
def _shared_title(
    fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory, shipped_players: pd.DataFrame
) -> tuple[str, Path, pd.DataFrame]:
    from tests.integration.conftest import train_register_select

    title, folder = f"fault-shared-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("shared-title")
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = _title_settings(fault_stack, monkeypatch, title, folder)
        prepared = _prepare(settings, shipped_players)
        assert train_register_select(settings, prepared)[1]
    return title, folder, prepared


@pytest.fixture
def shared(fault_stack: FaultStack, monkeypatch: pytest.MonkeyPatch, _shared_title) -> tuple[Settings, pd.DataFrame]:
    """A title with a model in production, trained once for the tests that only score or fail with it.

    Tests using it must not change its production model, and write days of their own.
    """
    title, folder, prepared = _shared_title
    return _title_settings(fault_stack, monkeypatch, title, folder), prepared
