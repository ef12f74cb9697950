"""Fixtures of the unit tier (helpers live in ``unit_helpers``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from threadpoolctl import threadpool_limits
from unit_helpers import FakeS3, offline_settings

from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore


@pytest.fixture(scope="session", autouse=True)
def single_threaded():
    """Tiny frames gain nothing from OpenMP threads, which only thrash when the machine is busy."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def settings() -> Settings:
    return offline_settings(s3_bucket="unit-bucket")


@pytest.fixture
def fake_s3() -> FakeS3:
    return FakeS3()


@pytest.fixture
def store(fake_s3: FakeS3, settings: Settings) -> ObjectStore:
    return ObjectStore(client=fake_s3, bucket=settings.s3_bucket)


@pytest.fixture
def make_csv_file(tmp_path) -> Callable[..., str]:
    """Write bytes to a file in a temporary folder and return its path."""

    def write(data: bytes, name: str = "players.csv") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write
