"""Fixtures shared by every tier: sample data drawn from the shipped dataset, and a live local stack."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "data" / "online_gaming_behavior_dataset.csv.gz"


@pytest.fixture(scope="session")
def shipped_players() -> pd.DataFrame:
    """The shipped dataset as text columns, exactly as a raw file would be read."""
    with gzip.open(DATASET, "rt", newline="") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def sample_players(players: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """A label-stratified random sample of the shipped players."""
    share = rows / len(players)
    return (
        players.groupby("EngagementLevel", group_keys=False)
        .sample(frac=share, random_state=seed)
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def distinct_free_ports(count: int) -> list[int]:
    """Free loopback ports, all different, each below 55000 (SeaweedFS's admin adds 10000 to its port)."""
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] < 55000:
                held.append(sock)
            else:
                sock.close()
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


@dataclass(frozen=True)
class Stack:
    """A running S3 (moto) + MLflow pair on loopback, and the environment that points at it."""

    env: dict[str, str]
    state: Path

    def apply(self, monkeypatch: pytest.MonkeyPatch, game_title: str) -> None:
        """Point this process's settings at the stack, under a title of its own."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("GAME_TITLE", game_title)


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start real MLflow and S3 servers on free loopback ports with scripts/stack.py; stop them afterwards."""
    state = tmp_path_factory.mktemp("stack")
    env = {
        **os.environ,
        "LOCAL_STATE_DIR": str(state),
        "S3_SERVER": "moto",
        "S3_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "S3_BUCKET": "mlops-test",
    }
    command = [sys.executable, str(ROOT / "scripts" / "stack.py")]
    started = subprocess.run([*command, "up", "--components", "s3,mlflow"], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        printed = subprocess.run([*command, "env"], env=env, capture_output=True, text=True, check=True).stdout
        stack_env = dict(
            line[len("export ") :].split("=", 1) for line in printed.splitlines() if line.startswith("export ")
        )
        stack_env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        # This stack runs no Evidently UI: a report's UI reload (which carries EVIDENTLY_SECRET) goes to port 9,
        # refused at once, never to whatever runs on the default port. Tests with a UI set their own.
        stack_env["EVIDENTLY_URL"] = "http://127.0.0.1:9"
        yield Stack(env=stack_env, state=state)
    finally:
        subprocess.run([*command, "down", "--components", "s3,mlflow"], env=env, capture_output=True, check=False)
