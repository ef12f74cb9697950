"""S3 access through boto3: one small object-store wrapper used by every stage."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings


def make_s3_client(settings: Settings) -> Any:
    """Create a boto3 S3 client for the configured endpoint.

    Credentials come from the usual AWS environment variables or profile.

    Args:
        settings: Provides the endpoint URL (empty for AWS itself).

    Returns:
        A boto3 S3 client.

    """
    # The environment's keys are passed explicitly: boto3's default session caches the first credentials it
    # resolves, so a process that talks to two stacks (the tests) would sign for the wrong one. Without them, the
    # usual chain (profile, task role) applies.
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key.

    Args:
        uri: An S3 URI.

    Returns:
        The bucket and the key.

    Raises:
        InvalidInputError: The URI is not of the form ``s3://bucket/key``.

    """
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidInputError(f"not an S3 URI of the form s3://bucket/key: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise InvalidInputError(f"not an S3 URI of the form s3://bucket/key: {uri!r}")
    return bucket, key


@dataclass(frozen=True)
class ObjectStore:
    """A bucket seen through a boto3 client. Every write is a single PUT, so an object is never partial."""

    client: Any
    bucket: str

    def uri(self, key: str) -> str:
        """Return the ``s3://`` URI of a key in this bucket."""
        return f"s3://{self.bucket}/{key}"

    def read_bytes(self, key: str) -> bytes:
        """Read a whole object.

        Raises:
            NotFoundError: The object does not exist.

        """
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise NotFoundError(f"{self.uri(key)} does not exist") from None
            raise
        return body

    def write_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Write a whole object and return its URI."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return self.uri(key)

    def exists(self, key: str) -> bool:
        """Tell whether an object exists."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str) -> list[str]:
        """List every key under a prefix, sorted."""
        return [key for key, _ in self.list_objects(prefix)]

    def list_objects(self, prefix: str) -> list[tuple[str, datetime]]:
        """List every key under a prefix with the time it was last written, sorted by key."""
        found: list[tuple[str, datetime]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend((item["Key"], item["LastModified"]) for item in page.get("Contents", []))
        return sorted(found)

    def read_parquet(self, key: str) -> pd.DataFrame:
        """Read a Parquet object, or a folder of Parquet parts under ``key/`` (in name order), into a DataFrame.

        Raises:
            NotFoundError: Neither exists.

        """
        try:
            return pd.read_parquet(io.BytesIO(self.read_bytes(key)))
        except NotFoundError:
            parts = [one for one in self.list_keys(f"{key.rstrip('/')}/") if one.endswith(".parquet")]
            if not parts:
                raise
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pq.read_table(io.BytesIO(self.read_bytes(part))) for part in parts]
        return pa.concat_tables(tables).to_pandas()

    def write_parquet(self, key: str, frame: pd.DataFrame) -> str:
        """Write a DataFrame as one Parquet object and return its URI."""
        return self.write_bytes(key, to_parquet_bytes(frame))

    def read_json(self, key: str) -> Any:
        """Read a JSON object."""
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, payload: Any) -> str:
        """Write a JSON object and return its URI."""
        data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
        return self.write_bytes(key, data, content_type="application/json")


def make_store(settings: Settings, client: Any | None = None) -> ObjectStore:
    """Build the object store of the configured bucket.

    Args:
        settings: Provides bucket and endpoint.
        client: An existing S3 client; one is created when omitted.

    Returns:
        The object store.

    """
    return ObjectStore(client=client or make_s3_client(settings), bucket=settings.s3_bucket)


def ensure_bucket(store: ObjectStore) -> None:
    """Create the bucket if it does not exist yet."""
    try:
        store.client.head_bucket(Bucket=store.bucket)
    except ClientError:
        store.client.create_bucket(Bucket=store.bucket)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a DataFrame to Parquet bytes (done before any write, so a failure writes nothing)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_source_bytes(source: str, store: ObjectStore | None) -> bytes:
    """Read an input given as a local path or an ``s3://`` URI.

    Args:
        source: Local file path or S3 URI.
        store: Used for S3 URIs (its client; the bucket comes from the URI).

    Returns:
        The file's bytes.

    Raises:
        NotFoundError: The file or object does not exist.

    """
    if source.startswith("s3://"):
        if store is None:
            raise InvalidInputError("an S3 input needs an S3 client")
        bucket, key = parse_s3_uri(source)
        return ObjectStore(client=store.client, bucket=bucket).read_bytes(key)
    path = Path(source)
    if path.is_dir():
        raise InvalidInputError(f"input {source} is a folder, not a file")
    if not path.is_file():
        raise NotFoundError(f"input file {source} does not exist")
    return path.read_bytes()
