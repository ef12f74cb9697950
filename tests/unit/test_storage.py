import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from unit_helpers import FakeS3

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import (
    ensure_bucket,
    make_s3_client,
    make_store,
    parse_s3_uri,
    read_source_bytes,
    to_parquet_bytes,
)


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://mlops/a.csv", "mlops", "a.csv"),
        ("s3://mlops/demo-game/raw/players.csv", "mlops", "demo-game/raw/players.csv"),
        ("s3://b-1/x/", "b-1", "x/"),
    ],
)
def test_parse_s3_uri_splits_bucket_and_key(uri, bucket, key):
    assert parse_s3_uri(uri) == (bucket, key)


@pytest.mark.parametrize("uri", ["mlops/a.csv", "s3://mlops", "s3://mlops/", "s3:///key", "http://mlops/a", ""])
def test_parse_s3_uri_rejects_malformed_uris(uri):
    with pytest.raises(InvalidInputError, match="not an S3 URI"):
        parse_s3_uri(uri)


def test_bytes_json_and_parquet_round_trip(store, fake_s3):
    assert store.write_bytes("k/raw.bin", b"\x00\x01") == "s3://unit-bucket/k/raw.bin"
    assert store.read_bytes("k/raw.bin") == b"\x00\x01"

    store.write_json("k/doc.json", {"b": 1, "a": [1, 2]})
    assert store.read_json("k/doc.json") == {"a": [1, 2], "b": 1}

    frame = pd.DataFrame({"PlayerID": [3, 1], "Age": [20.5, 30.0], "Gender": ["Male", "Female"]})
    store.write_parquet("k/t.parquet", frame)
    pd.testing.assert_frame_equal(store.read_parquet("k/t.parquet"), frame)
    assert list(fake_s3.objects) == [
        ("unit-bucket", "k/raw.bin"),
        ("unit-bucket", "k/doc.json"),
        ("unit-bucket", "k/t.parquet"),
    ]


def test_missing_object_is_not_found_with_its_uri(store):
    with pytest.raises(NotFoundError, match=r"s3://unit-bucket/nope\.json does not exist"):
        store.read_json("nope.json")


def test_other_client_errors_propagate(store, fake_s3):
    def denied(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    fake_s3.get_object = denied
    fake_s3.head_object = denied
    with pytest.raises(ClientError):
        store.read_bytes("k")
    with pytest.raises(ClientError):
        store.exists("k")


def test_exists(store):
    assert not store.exists("a")
    store.write_bytes("a", b"1")
    assert store.exists("a")


def test_list_keys_is_sorted_complete_across_pages_and_filtered_by_prefix(store, fake_s3):
    for key in ["p/c", "p/a", "q/z", "p/b", "p/d", "p/e"]:
        store.write_bytes(key, b"")
    assert fake_s3.page_size < 5  # several pages
    assert store.list_keys("p/") == ["p/a", "p/b", "p/c", "p/d", "p/e"]
    assert store.list_keys("none/") == []


def test_ensure_bucket_creates_only_when_missing(store, fake_s3):
    ensure_bucket(store)
    assert fake_s3.buckets == {"unit-bucket"}
    ensure_bucket(store)
    assert fake_s3.buckets == {"unit-bucket"}


def test_make_store_uses_the_given_client_and_bucket():
    fake = FakeS3()
    store = make_store(Settings(s3_bucket="my-bucket"), client=fake)
    assert store.client is fake
    assert store.bucket == "my-bucket"


def test_make_s3_client_points_at_the_configured_endpoint(monkeypatch):
    # dummy credentials and no metadata service, so creating the client cannot reach out to the network
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = make_s3_client(Settings(s3_endpoint_url="http://127.0.0.1:1"))
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_read_source_bytes_local_file(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,b\n")
    assert read_source_bytes(str(path), None) == b"a,b\n"


def test_read_source_bytes_missing_local_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        read_source_bytes(str(tmp_path / "missing.csv"), None)


def test_read_source_bytes_names_a_folder_as_a_folder(tmp_path):
    with pytest.raises(InvalidInputError, match="is a folder, not a file"):
        read_source_bytes(str(tmp_path), None)


def test_read_source_bytes_reads_s3_from_the_uris_bucket(store, fake_s3):
    fake_s3.objects[("elsewhere", "x.csv")] = b"data"
    assert read_source_bytes("s3://elsewhere/x.csv", store) == b"data"


def test_read_source_bytes_s3_without_a_store_is_refused():
    with pytest.raises(InvalidInputError, match="needs an S3 client"):
        read_source_bytes("s3://b/k", None)


def test_to_parquet_bytes_are_parquet():
    assert to_parquet_bytes(pd.DataFrame({"a": [1]})).startswith(b"PAR1")
