"""Tag-based cleanup against a live moto server (moto lives in the services venv, not in the app venv)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from machine_learning.deploy.cleanup import (
    Resource,
    TagScope,
    delete_resources,
    find_resources,
    main,
    parse_arn,
)

ROOT = Path(__file__).resolve().parents[3]
MOTO_SERVER = ROOT / ".local" / "venv-services" / "bin" / "moto_server"
REGION = "eu-west-1"
DEV = TagScope(project="engagement-mlops", game_title="demo-game", environment="dev")
PROD = TagScope(project="engagement-mlops", game_title="demo-game", environment="prod")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, in its own process group, stopped afterwards."""
    assert MOTO_SERVER.exists(), f"{MOTO_SERVER} is missing: run `make setup`"
    port = _free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                import urllib.request

                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)


@pytest.fixture
def client_for(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """boto3 clients pointed at a freshly reset moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import urllib.request

    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
    urllib.request.urlopen(reset, timeout=5)  # noqa: S310 - loopback
    session = boto3.session.Session(region_name=REGION)
    return lambda service: session.client(service, endpoint_url=moto_endpoint)


def _tag_list(scope: TagScope, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in scope.as_tags().items()]


def _create_deployment(client_for: Callable[[str], Any], scope: TagScope, with_data: bool = False) -> None:
    """Create one resource of each kind the cleanup handles, tagged with the scope."""
    name = f"{scope.game_title}-{scope.environment}"
    s3 = client_for("s3")
    s3.create_bucket(Bucket=f"{name}-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=f"{name}-data", Tagging={"TagSet": _tag_list(scope)})
    if with_data:
        s3.put_object(Bucket=f"{name}-data", Key=f"{scope.game_title}/raw/players.csv", Body=b"PlayerID\n1\n")
    client_for("ecr").create_repository(repositoryName=f"mlops/{name}/serving", tags=_tag_list(scope))
    client_for("logs").create_log_group(logGroupName=f"/engagement-mlops/{name}/serving", tags=scope.as_tags())
    client_for("secretsmanager").create_secret(
        Name=f"mlops/{name}/serving-token", SecretString="x", Tags=_tag_list(scope)
    )
    client_for("ecs").create_cluster(clusterName=name, tags=_tag_list(scope, "key", "value"))


def _bucket_names(client_for: Callable[[str], Any]) -> set[str]:
    return {bucket["Name"] for bucket in client_for("s3").list_buckets().get("Buckets", [])}


def test_parse_arn_names_each_kind() -> None:
    assert parse_arn("arn:aws:s3:::demo-game-dev-data").name == "demo-game-dev-data"
    log_group = parse_arn("arn:aws:logs:eu-west-1:1:log-group:/engagement-mlops/x:*")
    assert (log_group.kind, log_group.name) == ("log-group", "/engagement-mlops/x")
    service = parse_arn("arn:aws:ecs:eu-west-1:1:service/demo-game-dev/serving")
    assert (service.kind, service.name, service.supported) == ("service", "demo-game-dev/serving", True)
    assert not parse_arn("arn:aws:ec2:eu-west-1:1:vpc/vpc-123").supported


def test_finds_only_the_deployment_with_all_three_tags(client_for: Callable[[str], Any]) -> None:
    _create_deployment(client_for, DEV)
    _create_deployment(client_for, PROD)

    found = find_resources(client_for, DEV)

    kinds = {(resource.service, resource.kind) for resource in found}
    assert {("s3", "bucket"), ("ecr", "repository"), ("logs", "log-group"), ("secretsmanager", "secret")} <= kinds
    assert ("ecs", "cluster") in kinds
    assert all(DEV.matches(resource.tags) for resource in found)
    assert not any("prod" in resource.name for resource in found)


def test_dry_run_lists_and_deletes_nothing(client_for: Callable[[str], Any], tmp_path: Path, capsys) -> None:
    _create_deployment(client_for, DEV)
    before = find_resources(client_for, DEV)

    code = main(
        ["--game-title", "demo-game", "--environment", "dev", "--dry-run", "--backup-dir", str(tmp_path)], client_for
    )

    assert code == 0
    assert "demo-game-dev-data" in capsys.readouterr().out
    assert find_resources(client_for, DEV) == before
    assert list(tmp_path.iterdir()) == []  # nothing deleted, so nothing to back up


def test_wrong_confirmation_cancels(client_for: Callable[[str], Any], tmp_path: Path, monkeypatch) -> None:
    _create_deployment(client_for, DEV)
    monkeypatch.setattr("builtins.input", lambda prompt: "prod")

    code = main(["--game-title", "demo-game", "--environment", "dev", "--backup-dir", str(tmp_path)], client_for)

    assert code == 1
    assert "demo-game-dev-data" in _bucket_names(client_for)


def test_confirmed_cleanup_backs_up_then_deletes_only_its_environment(
    client_for: Callable[[str], Any], tmp_path: Path, monkeypatch
) -> None:
    _create_deployment(client_for, DEV)
    _create_deployment(client_for, PROD)
    expected = {resource.arn for resource in find_resources(client_for, DEV)}
    monkeypatch.setattr("builtins.input", lambda prompt: "dev")

    code = main(["--game-title", "demo-game", "--environment", "dev", "--backup-dir", str(tmp_path)], client_for)

    assert code == 0
    assert find_resources(client_for, DEV) == []
    assert {resource.name for resource in find_resources(client_for, PROD)} >= {"demo-game-prod-data", "demo-game-prod"}
    (backup,) = tmp_path.glob("cleanup-demo-game-dev-*.json")
    saved = json.loads(backup.read_text())
    assert {item["arn"] for item in saved["resources"]} == expected
    assert saved["scope"] == DEV.as_tags()
    assert "SecretString" not in backup.read_text()


def test_bucket_with_data_is_kept_unless_contents_deletion_is_asked(client_for: Callable[[str], Any]) -> None:
    _create_deployment(client_for, DEV, with_data=True)
    buckets = [resource for resource in find_resources(client_for, DEV) if resource.kind == "bucket"]

    kept = delete_resources(client_for, buckets)
    assert "--delete-bucket-contents" in kept.skipped[buckets[0].arn]
    assert "demo-game-dev-data" in _bucket_names(client_for)

    emptied = delete_resources(client_for, buckets, delete_bucket_contents=True)
    assert emptied.deleted == [buckets[0].arn]
    assert "demo-game-dev-data" not in _bucket_names(client_for)


def test_unsupported_kinds_are_reported_not_deleted(client_for: Callable[[str], Any]) -> None:
    vpc = Resource(arn="arn:aws:ec2:eu-west-1:1:vpc/vpc-1", service="ec2", kind="vpc", name="vpc-1")

    report = delete_resources(client_for, [vpc])

    assert report.deleted == [] and report.failed == {}
    assert "yourself" in report.skipped[vpc.arn]
