"""The bad-input tier: each case checks the exit code or HTTP status, the one-line message, and that nothing
was written (no file, no S3 object, no network call for a refusal that needs none)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from machine_learning.settings import _ENV_NAMES


@pytest.fixture
def offline(monkeypatch, tmp_path) -> list[object]:
    """Settings of a stack that is not there, dummy credentials, and every connection refused and recorded."""
    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bad-input")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bad-input")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("DEFAULT_OWNER_EMAIL", "owner@example.com")
    monkeypatch.setenv("DEFAULT_OWNER_PASSWORD", "not-a-real-password")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    attempts: list[object] = []

    def refuse(self_or_address, *args, **kwargs):
        attempts.append(args[0] if args else self_or_address)
        raise ConnectionRefusedError("a refused input makes no network call")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its content (symlinks as their target), to compare before and after."""
    return {
        str(path.relative_to(folder)): (str(path.readlink()).encode() if path.is_symlink() else path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A folder with the files the cases point at."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


MakeFile = Callable[[str, bytes], Path]
