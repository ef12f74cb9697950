"""Helpers of the unit tier: tiny raw CSVs, a synthetic player table and an in-memory S3 fake.

A plain module (not conftest) so test files can import it by a name no other tier uses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, LABELS, required_columns
from machine_learning.settings import Settings

# Port 1 refuses at once: a unit test that reaches for a service never meets a real one on the default ports
# (another stack may be running there).
CLOSED = "http://127.0.0.1:1"


def offline_settings(**overrides: object) -> Settings:
    """Settings of a unit test: every service address refuses, whatever runs on the machine's default ports."""
    services = ("s3_endpoint_url", "mlflow_tracking_uri", "mage_url", "evidently_url", "serving_url")
    addresses = dict.fromkeys(services, CLOSED)
    # No S3 here: the prediction log (on by default) would only count its batches as lost.
    defaults = {"game_title": "unit-test", "prediction_log": "off", **addresses}
    return Settings(**{**defaults, **overrides})  # type: ignore[arg-type]


VALID_ROW: dict[str, str] = {
    "PlayerID": "1",
    "Age": "25",
    "Gender": "Male",
    "Location": "USA",
    "GameGenre": "Action",
    "PlayTimeHours": "10.5",
    "InGamePurchases": "0",
    "GameDifficulty": "Easy",
    "SessionsPerWeek": "5",
    "AvgSessionDurationMinutes": "60",
    "PlayerLevel": "10",
    "AchievementsUnlocked": "3",
    "EngagementLevel": "High",
}


def raw_rows(count: int, **changes: Mapping[int, str]) -> list[dict[str, str]]:
    """Valid raw rows with unique PlayerIDs; ``changes`` maps a column to {row index: new text}."""
    rows = [{**VALID_ROW, ID_COLUMN: str(1000 + index), LABEL_COLUMN: LABELS[index % 3]} for index in range(count)]
    for column, by_row in changes.items():
        for index, value in by_row.items():
            rows[index][column] = value
    return rows


def csv_text(rows: Iterable[Mapping[str, str]], columns: Iterable[str] | None = None, newline: str = "\n") -> str:
    """Render rows as CSV text with the given columns (default: the full raw schema) and line ending."""
    header = list(columns) if columns is not None else list(required_columns(True))
    lines = [",".join(header), *(",".join(row.get(column, "") for column in header) for row in rows)]
    return newline.join(lines) + newline


def csv_bytes(rows: Iterable[Mapping[str, str]], *, newline: str = "\n", compress: bool = False, **kwargs) -> bytes:
    """CSV bytes, optionally gzip-compressed."""
    data = csv_text(rows, newline=newline, **kwargs).encode()
    return gzip.compress(data) if compress else data


def raw_frame(rows: Iterable[Mapping[str, str]]) -> pd.DataFrame:
    """Raw rows as the text DataFrame that ingest produces."""
    return pd.DataFrame(list(rows), columns=list(required_columns(True)), dtype=str)


def synthetic_players(count: int = 300, seed: int = 0) -> pd.DataFrame:
    """A typed, labelled player table whose label follows weekly play minutes (learnable, balanced)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            ID_COLUMN: np.arange(count, dtype="int64"),
            "Age": rng.integers(15, 50, count),
            "Gender": rng.choice(["Female", "Male"], count),
            "Location": rng.choice(["Asia", "Europe", "Other", "USA"], count),
            "GameGenre": rng.choice(["Action", "RPG", "Simulation", "Sports", "Strategy"], count),
            "PlayTimeHours": rng.uniform(0, 24, count),
            "InGamePurchases": rng.integers(0, 2, count),
            "GameDifficulty": rng.choice(["Easy", "Hard", "Medium"], count),
            "SessionsPerWeek": rng.integers(0, 20, count),
            "AvgSessionDurationMinutes": rng.uniform(10, 180, count),
            "PlayerLevel": rng.integers(1, 100, count),
            "AchievementsUnlocked": rng.integers(0, 50, count),
        }
    )
    weekly = frame["SessionsPerWeek"] * frame["AvgSessionDurationMinutes"]
    low, high = np.quantile(weekly, [1 / 3, 2 / 3])
    frame[LABEL_COLUMN] = np.where(weekly > high, "High", np.where(weekly > low, "Medium", "Low"))
    assert list(frame.columns) == [ID_COLUMN, *FEATURE_COLUMNS, LABEL_COLUMN]
    return frame


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    """The part of a boto3 S3 client that ObjectStore uses, kept in memory.

    Args:
        fail_on_put: 1-based number of the ``put_object`` call that raises (a broken connection mid-run).
        page_size: Keys per ``list_objects_v2`` page, small so pagination is exercised.
    """

    def __init__(self, fail_on_put: int | None = None, page_size: int = 2) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.modified: dict[tuple[str, str], datetime] = {}  # a test may age an object by moving its time back
        self.put_keys: list[str] = []
        self.buckets: set[str] = set()
        self.fail_on_put = fail_on_put
        self.page_size = page_size
        self._put_calls = 0
        self._lock = threading.Lock()

    def put_object(
        self,
        Bucket: str,
        Key: str,
        Body: bytes,
        ContentType: str = "",
        IfNoneMatch: str | None = None,
        IfMatch: str | None = None,
        **_: object,
    ) -> dict:
        with self._lock:  # a conditional write is atomic, as in S3
            return self._put(Bucket, Key, Body, IfNoneMatch, IfMatch)

    def _put(self, Bucket: str, Key: str, Body: bytes, IfNoneMatch: str | None, IfMatch: str | None) -> dict:
        self._put_calls += 1
        if self.fail_on_put is not None and self._put_calls == self.fail_on_put:
            raise _client_error("InternalError", "PutObject")
        present = (Bucket, Key) in self.objects
        if (IfNoneMatch == "*" and present) or (
            IfMatch is not None and (not present or IfMatch != self._etag(Bucket, Key))
        ):
            raise _client_error("PreconditionFailed", "PutObject")  # S3's conditional writes
        self.objects[(Bucket, Key)] = bytes(Body)
        self.modified[(Bucket, Key)] = datetime.now(UTC)
        self.put_keys.append(Key)
        return {"ETag": self._etag(Bucket, Key)}

    def _etag(self, bucket: str, key: str) -> str:
        return '"' + hashlib.md5(self.objects[(bucket, key)], usedforsecurity=False).hexdigest() + '"'

    def delete_object(self, Bucket: str, Key: str) -> dict:
        self.objects.pop((Bucket, Key), None)
        return {}

    def delete_objects(self, Bucket: str, Delete: dict) -> dict:
        for item in Delete["Objects"]:
            self.objects.pop((Bucket, item["Key"]), None)
        return {}

    def get_object(self, Bucket: str, Key: str) -> dict:
        if (Bucket, Key) not in self.objects:
            raise _client_error("NoSuchKey", "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)]), "ETag": self._etag(Bucket, Key)}

    def head_object(self, Bucket: str, Key: str) -> dict:
        if (Bucket, Key) not in self.objects:
            raise _client_error("404", "HeadObject")
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def head_bucket(self, Bucket: str) -> dict:
        if Bucket not in self.buckets:
            raise _client_error("404", "HeadBucket")
        return {}

    def create_bucket(self, Bucket: str) -> dict:
        self.buckets.add(Bucket)
        return {}

    def get_paginator(self, operation: str) -> _Paginator:
        assert operation == "list_objects_v2"
        return _Paginator(self)


_PLANTED = datetime(2026, 1, 1, tzinfo=UTC)  # objects a test put into ``objects`` directly


class _Paginator:
    def __init__(self, fake: FakeS3) -> None:
        self.fake = fake

    def paginate(self, Bucket: str, Prefix: str = ""):
        keys = [key for bucket, key in self.fake.objects if bucket == Bucket and key.startswith(Prefix)]
        if not keys:
            yield {"KeyCount": 0}  # S3 omits "Contents" on an empty page
            return
        for start in range(0, len(keys), self.fake.page_size):
            chunk = keys[start : start + self.fake.page_size]
            contents = [{"Key": key, "LastModified": self.fake.modified.get((Bucket, key), _PLANTED)} for key in chunk]
            yield {"Contents": contents, "KeyCount": len(chunk)}


class FakeMlflowClient:
    """The registry calls of an MlflowClient, in memory, recording every alias change."""

    def __init__(self) -> None:
        self.models: set[str] = set()
        self.versions: dict[str, SimpleNamespace] = {}
        self.aliases: dict[str, str] = {}
        self.alias_calls: list[tuple[str, str, str | None]] = []

    def create_registered_model(self, name, description=None):
        if name in self.models:
            raise MlflowException(f"{name} exists", error_code=RESOURCE_ALREADY_EXISTS)
        self.models.add(name)

    def create_model_version(self, name, source, run_id, tags=None, model_id=None, description=None):
        assert name in self.models
        version = SimpleNamespace(
            version=str(len(self.versions) + 1),
            run_id=run_id,
            tags=dict(tags or {}),
            source=source,
            model_id=model_id,
            description=description,
        )
        self.versions[version.version] = version
        return version

    def set_registered_model_alias(self, name, alias, version):
        assert str(version) in self.versions, f"alias {alias} set to unknown version {version}"
        self.aliases[alias] = str(version)
        self.alias_calls.append(("set", alias, str(version)))

    def delete_registered_model_alias(self, name, alias):
        del self.aliases[alias]
        self.alias_calls.append(("delete", alias, None))

    def get_model_version_by_alias(self, name, alias):
        if name not in self.models or alias not in self.aliases:
            raise MlflowException(f"alias {alias} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return self.versions[self.aliases[alias]]

    def set_model_version_tag(self, name, version, key, value):
        self.versions[str(version)].tags[key] = value

    def get_model_version(self, name, version):
        if str(version) not in self.versions:
            raise MlflowException(f"version {version} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return self.versions[str(version)]
