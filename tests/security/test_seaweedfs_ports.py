"""SeaweedFS (the default S3 server) opens only moved ports, and nothing but the signed S3 API answers anonymously."""

from __future__ import annotations

import ast
import os
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT

pytestmark = pytest.mark.security

HTTP_PORTS = ("S3_MASTER_PORT", "S3_VOLUME_PORT", "S3_FILER_PORT", "S3_ADMIN_PORT")
GRPC_PORTS = ("S3_GRPC_PORT", "S3_MASTER_GRPC_PORT", "S3_VOLUME_GRPC_PORT", "S3_FILER_GRPC_PORT")


def s3_client(env: dict[str, str], secret: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def listening_ports(pid: int) -> set[int]:
    """Loopback TCP ports the process group's main process listens on (from /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def test_every_port_is_the_one_stack_env_records(seaweedfs: dict[str, str]) -> None:
    requested = ast.literal_eval(seaweedfs["REQUESTED"])
    pid = int((Path(seaweedfs["LOCAL_STATE_DIR"]) / "pids" / "s3.pid").read_text())

    assert {variable: int(seaweedfs[variable]) for variable in requested} == requested
    assert seaweedfs["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{requested['S3_PORT']}"
    expected = {*requested.values(), requested["S3_ADMIN_PORT"] + 10000}
    assert listening_ports(pid) <= expected, "no port besides the recorded ones (and the admin's gRPC port)"
    assert int(seaweedfs["S3_PORT"]) in listening_ports(pid)


def test_the_s3_api_needs_a_valid_signature(seaweedfs: dict[str, str]) -> None:
    bucket, url = seaweedfs["S3_BUCKET"], seaweedfs["AWS_ENDPOINT_URL"]
    s3_client(seaweedfs).put_object(Bucket=bucket, Key="sec/kept.txt", Body=b"kept")

    assert httpx.get(f"{url}/{bucket}/sec/kept.txt").status_code == 403
    assert httpx.put(f"{url}/{bucket}/sec/evil.txt", content=b"evil").status_code == 403
    assert httpx.get(f"{url}/{bucket}?list-type=2").status_code == 403
    with pytest.raises(ClientError, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        s3_client(seaweedfs, secret="wrong-secret-key-0000").get_object(Bucket=bucket, Key="sec/kept.txt")
    assert s3_client(seaweedfs).get_object(Bucket=bucket, Key="sec/kept.txt")["Body"].read() == b"kept"


@pytest.mark.parametrize("variable", HTTP_PORTS)
def test_no_internal_http_port_reads_or_writes_data_anonymously(seaweedfs: dict[str, str], variable: str) -> None:
    base, bucket = f"http://127.0.0.1:{seaweedfs[variable]}", seaweedfs["S3_BUCKET"]
    s3_client(seaweedfs).put_object(Bucket=bucket, Key="sec/data.txt", Body=b"secret data")
    attempts = {
        "delete the bucket's collection": httpx.get(f"{base}/col/delete?collection={bucket}"),
        "assign a file id": httpx.get(f"{base}/dir/assign"),
        "upload through the master": httpx.post(f"{base}/submit", files={"file": ("x.txt", b"evil")}),
        "write a file": httpx.post(f"{base}/buckets/{bucket}/evil.txt", files={"file": ("x.txt", b"evil")}),
        "read a file": httpx.get(f"{base}/buckets/{bucket}/sec/data.txt"),
        "list a folder": httpx.get(f"{base}/buckets/{bucket}/sec/"),
        "read a needle": httpx.get(f"{base}/1,01"),
    }

    for what, response in attempts.items():
        assert 400 <= response.status_code < 500, f"{variable}: {what} answered {response.status_code}"
        assert b"secret data" not in response.content
    assert s3_client(seaweedfs).get_object(Bucket=bucket, Key="sec/data.txt")["Body"].read() == b"secret data"


@pytest.mark.parametrize("variable", [*GRPC_PORTS, "S3_ADMIN_PORT + 10000"])
def test_grpc_ports_refuse_clients_without_the_stacks_certificate(seaweedfs: dict[str, str], variable: str) -> None:
    name, _, offset = variable.partition(" + ")
    port = int(seaweedfs[name]) + int(offset or 0)
    # Plain gRPC (HTTP/2 without TLS), as `weed shell` speaks it by default: the server wants TLS.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        plain.settimeout(5)
        try:
            answer = plain.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x00\x00"), "no HTTP/2 frame comes back in plain text"
    # TLS without a client certificate: the handshake or the first read fails.
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    refused = (ssl.SSLError, ConnectionResetError, BrokenPipeError, TimeoutError)
    with (
        pytest.raises(refused),
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        if not tls.recv(64):
            raise ConnectionResetError("closed")


def test_weed_shell_without_the_certificate_cannot_list_files(seaweedfs: dict[str, str], tmp_path: Path) -> None:
    weed = ROOT / ".local" / "venv-services" / "bin" / "weed"
    master = f"127.0.0.1:{seaweedfs['S3_MASTER_PORT']}.{seaweedfs['S3_MASTER_GRPC_PORT']}"
    filer = f"127.0.0.1:{seaweedfs['S3_FILER_PORT']}.{seaweedfs['S3_FILER_GRPC_PORT']}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEED_")}
    env["HOME"] = str(tmp_path)  # no ~/.seaweedfs/security.toml either
    try:
        done = subprocess.run(
            [str(weed), "shell", f"-master={master}", f"-filer={filer}"],
            input=f"fs.ls /buckets/{seaweedfs['S3_BUCKET']}\n",
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=8,
        )
        output = done.stdout
    except subprocess.TimeoutExpired as expired:  # it keeps retrying the refused connection
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
    assert "sec" not in output.split(), f"weed shell listed the bucket: {output[:300]}"


def test_unix_sockets_and_keys_are_private(seaweedfs: dict[str, str]) -> None:
    state = Path(seaweedfs["LOCAL_STATE_DIR"])
    private = [state, state / "s3-certs", state / "security.toml", state / "stack.env", state / "s3-certs" / "node.key"]

    for path in private:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is open to other users"
    assert not list(Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{seaweedfs['S3_PORT']}.sock")), "not in /tmp"
