"""The security tier's servers: the shared live stack (moto S3 + MLflow with auth), plus the Evidently UI and the
serving API started by scripts/stack.py in the same state folder, and a SeaweedFS S3 server on moved ports."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Stack, distinct_free_ports, free_port
from tests.e2e.mage_server import STACK

PORT_VARIABLES = (
    "S3_PORT", "MLFLOW_PORT", "EVIDENTLY_PORT", "MAGE_PORT", "SERVING_PORT", "S3_MASTER_PORT", "S3_VOLUME_PORT",
    "S3_FILER_PORT", "S3_ADMIN_PORT", "S3_GRPC_PORT", "S3_MASTER_GRPC_PORT", "S3_VOLUME_GRPC_PORT",
    "S3_FILER_GRPC_PORT",
)  # fmt: skip


def stack_environment(state: Path, **ports: int) -> dict[str, str]:
    """This process's environment for stack.py: no port but the given ones, so nothing else moves."""
    env = {key: value for key, value in os.environ.items() if key not in PORT_VARIABLES}
    return {**env, "LOCAL_STATE_DIR": str(state), **{key: str(value) for key, value in ports.items()}}


def read_stack_env(env: dict[str, str]) -> dict[str, str]:
    printed = subprocess.run([*STACK, "env"], env=env, capture_output=True, text=True, check=True).stdout
    return dict(line[len("export ") :].split("=", 1) for line in printed.splitlines() if line.startswith("export "))


def server_environ(state: Path, name: str) -> dict[str, str]:
    """The environment a running server was started with, read from /proc."""
    pid = (state / "pids" / f"{name}.pid").read_text().strip()
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@dataclass(frozen=True)
class Servers:
    """The live stack's MLflow, plus its Evidently UI and serving API, and what stack.env says about them."""

    stack: Stack
    env: dict[str, str]


@pytest.fixture(scope="session")
def servers(live_stack: Stack) -> Iterator[Servers]:
    """Start the Evidently UI and the serving API beside the live stack, on moved ports; stop them afterwards."""
    env = stack_environment(live_stack.state, EVIDENTLY_PORT=free_port(), SERVING_PORT=free_port())
    env["S3_SERVER"] = "moto"
    names = "evidently,serving"
    started = subprocess.run([*STACK, "up", "--components", names], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield Servers(stack=live_stack, env=read_stack_env(env))
    finally:
        subprocess.run([*STACK, "down", "--components", names], env=env, capture_output=True, check=False)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SeaweedFS S3 server (the default) with every one of its ports moved; yields its stack.env."""
    state = tmp_path_factory.mktemp("seaweedfs")
    ports = dict(zip([v for v in PORT_VARIABLES if v.startswith("S3_")], distinct_free_ports(9), strict=True))
    env = {**stack_environment(state, **ports), "S3_SERVER": "seaweedfs", "S3_BUCKET": "mlops-sec"}
    started = subprocess.run([*STACK, "up", "--components", "s3"], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {**read_stack_env(env), "LOCAL_STATE_DIR": str(state), "REQUESTED": repr(ports)}
    finally:
        subprocess.run([*STACK, "down", "--components", "s3"], env=env, capture_output=True, check=False)
