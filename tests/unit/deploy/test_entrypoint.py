"""docker/entrypoint.py and docker/healthcheck.py: the database URL the containers build, and the health probe."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

DOCKER = Path(__file__).resolve().parents[3] / "docker"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docker_{name}", DOCKER / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entrypoint = _load("entrypoint")
healthcheck = _load("healthcheck")

DB = {"DB_USER": "mlops", "DB_PASSWORD": "p@ss:w/rd#?", "DB_HOST": "db.internal", "DB_NAME": "mlflow"}


def test_database_url_quotes_the_password_and_keeps_it_recoverable() -> None:
    url = entrypoint.build_database_url("postgresql", DB)

    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("postgresql", "db.internal", 5432, "/mlflow")
    assert parts.username == "mlops"
    assert parts.password is not None and "@" not in parts.password


def test_database_url_carries_port_and_sslmode() -> None:
    url = entrypoint.build_database_url("postgresql+psycopg2", {**DB, "DB_PORT": "6543", "DB_SSLMODE": "require"})

    assert url.startswith("postgresql+psycopg2://") and ":6543/mlflow?sslmode=require" in url


def test_database_url_names_missing_parts() -> None:
    with pytest.raises(SystemExit, match="DB_PASSWORD"):
        entrypoint.build_database_url("postgresql", {"DB_USER": "u", "DB_HOST": "h", "DB_NAME": "n"})


def test_entrypoint_needs_a_command() -> None:
    with pytest.raises(SystemExit, match="usage"):
        entrypoint.main(["mlflow", "server"])
    with pytest.raises(SystemExit, match="no command"):
        entrypoint.main(["--"])


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_health_probe_accepts_only_http_200(server: str) -> None:
    assert healthcheck.probe(f"{server}/ok")
    assert not healthcheck.probe(f"{server}/starting")
    assert not healthcheck.probe("file:///etc/passwd")
    assert not healthcheck.probe("http://127.0.0.1:1/")
