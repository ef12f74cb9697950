"""What scripts/stack.py does to lock the local stack: server configs with secrets, users, file modes.

- MLflow runs its basic-auth app. The admin comes from an ini file written here (0600); ``provision_mlflow``
  then creates one user per role over MLflow's REST API: the trainer (Mage, the CLI and the tests: creates
  experiments, runs and registered models, and so owns them with MANAGE) and the reader (the serving API).
  ``default_permission = READ`` lets every user read everything and write nothing it does not own; anonymous
  requests get 401.
- SeaweedFS (``weed mini``) gets a ``security.toml``: JWT keys for every read and write of its volume server and
  filer over HTTP, and mutual TLS on every gRPC port (``seaweedfs_certs.py``). Together with ``-disableHttp``
  (no master or filer HTTP API) only the signed S3 API accepts anonymous clients, and it checks signatures.
- Servers start with umask 077, and ``protect_files`` sets 0700 on the state folder and 0600 on databases and
  env files made before.

Standard library only, like stack.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

# The stack's secrets, and which server gets which. Every other server's environment has them removed, also when
# they come from the caller's environment (a shell that loaded stack.env).
SECRET_KEYS = (
    "AWS_SECRET_ACCESS_KEY",
    "DEFAULT_OWNER_PASSWORD",
    "JWT_SECRET",
    "SERVING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_READER_PASSWORD",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "EVIDENTLY_SECRET",
    "S3_JWT_WRITE_KEY",
    "S3_JWT_READ_KEY",
    "OPERATOR_VIEWER_TOKEN",
    "OPERATOR_OPERATOR_TOKEN",
    "OPERATOR_APPROVER_TOKEN",
    "ALERT_RELAY_TOKEN",
    "ALERT_RELAY_URL",  # holds the relay token
    "ALERT_WEBHOOK_URL",  # a Slack webhook URL is a credential
)
SECRETS_OF = {
    "s3": ("AWS_SECRET_ACCESS_KEY",),
    "mlflow": ("AWS_SECRET_ACCESS_KEY", "MLFLOW_FLASK_SERVER_SECRET_KEY"),
    "evidently": ("EVIDENTLY_SECRET",),
    # Mage's blocks train, register and move aliases (the trainer), read and write S3, start runs as the owner,
    # and ask the Evidently UI to reload a project.
    "mage": ("AWS_SECRET_ACCESS_KEY", "DEFAULT_OWNER_PASSWORD", "JWT_SECRET", "MLFLOW_TRACKING_PASSWORD",
             "EVIDENTLY_SECRET", "ALERT_RELAY_URL", "ALERT_WEBHOOK_URL"),
    "serving": ("SERVING_TOKEN", "MLFLOW_TRACKING_PASSWORD"),  # the reader's password, under the client's name
    # The operator API acts like the CLI (S3, MLflow as the trainer, Mage as the owner) behind its role tokens.
    "operator": ("AWS_SECRET_ACCESS_KEY", "DEFAULT_OWNER_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "OPERATOR_VIEWER_TOKEN",
                 "OPERATOR_OPERATOR_TOKEN", "OPERATOR_APPROVER_TOKEN", "ALERT_RELAY_TOKEN", "ALERT_WEBHOOK_URL"),
}  # fmt: skip
TRAINER, READER, ADMIN = "mlops-trainer", "mlops-reader", "admin"


def server_environment(name: str, base: dict[str, str], stack_env: dict[str, str]) -> dict[str, str]:
    """Return the environment of one server: the caller's and the stack's, minus the secrets it does not need."""
    env = {**base, **stack_env}
    if name == "serving":  # serving only reads the registry: the reader user
        env["MLFLOW_TRACKING_USERNAME"] = stack_env["MLFLOW_READER_USERNAME"]
        env["MLFLOW_TRACKING_PASSWORD"] = stack_env["MLFLOW_READER_PASSWORD"]
    if name == "serving":  # and it reads models through MLflow's artifact proxy, not S3
        env.pop("AWS_ACCESS_KEY_ID", None)
    for key in SECRET_KEYS:
        if key not in SECRETS_OF.get(name, ()):
            env.pop(key, None)
    return env


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, and 0600 if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def write_mlflow_auth_config(state: Path, env: dict[str, str]) -> Path:
    """Write MLflow's basic-auth ini (admin credentials, user database) and return its path."""
    folder = state / "mlflow"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "basic_auth.ini"
    write_private(
        path,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        f"admin_username = {env['MLFLOW_ADMIN_USERNAME']}\n"
        f"admin_password = {env['MLFLOW_ADMIN_PASSWORD']}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
    )
    return path


def write_seaweedfs_security(state: Path, env: dict[str, str], certs: Path) -> None:
    """Write ``security.toml`` into the S3 server's working folder (``weed`` reads it from there)."""
    write_key, read_key = env["S3_JWT_WRITE_KEY"], env["S3_JWT_READ_KEY"]
    lines = []
    for section, key in (
        ("jwt.signing", write_key),
        ("jwt.signing.read", read_key),
        ("jwt.filer_signing", write_key),
        ("jwt.filer_signing.read", read_key),
    ):
        lines += [f"[{section}]", f'key = "{key}"', "expires_after_seconds = 10"]
    lines += ["[access]", "ui = false", "[grpc]", f'ca = "{certs / "ca.crt"}"']
    cert, key = certs / "node.crt", certs / "node.key"
    for role in ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq"):
        lines += [f"[grpc.{role}]", f'cert = "{cert}"', f'key = "{key}"']
        lines += [f'client_cert = "{cert}"', f'client_key = "{key}"']
    lines += ["[grpc.client]", f'cert = "{cert}"', f'key = "{key}"']
    write_private(state / "security.toml", "\n".join(lines) + "\n")


def protect_files(state: Path, env: dict[str, str]) -> None:
    """State folder 0700; databases, env and config files 0600 (also those an older version left open)."""
    state.chmod(0o700)
    candidates = [
        state / "stack.env",
        state / "security.toml",
        state / "mlflow" / "mlflow.db",
        state / "mlflow" / "basic_auth.db",
        state / "mlflow" / "basic_auth.ini",
    ]
    candidates += [*state.glob("logs/*.log"), *state.glob("pids/*.pid")]
    mage_data = Path(env.get("MAGE_DATA_DIR", state / "mage_data"))
    if mage_data.is_dir():
        mage_data.chmod(0o700)
        candidates += list(mage_data.glob("**/*.db"))
    for folder in (state / "logs", state / "pids", state / "mlflow", state / "model-cache", state / "evidently"):
        if folder.is_dir():
            folder.chmod(0o700)
    for path in candidates:
        if path.is_file():
            path.chmod(0o600)


def _mlflow_call(env: dict[str, str], method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call MLflow's REST API as the admin; return the JSON answer, or ``{"error_code": ...}`` on HTTP errors."""
    login = f"{env['MLFLOW_ADMIN_USERNAME']}:{env['MLFLOW_ADMIN_PASSWORD']}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(login).decode(), "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    url = env["MLFLOW_TRACKING_URI"] + path  # http://127.0.0.1:<port>, built by stack.py
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise SystemExit(
                "error: MLflow refused the admin password from stack.env; its user database "
                "(mlflow/basic_auth.db) belongs to other credentials. Restore the old stack.env, or delete "
                "that file to start the users afresh."
            ) from None
        try:
            return {"error_code": json.loads(error.read()).get("error_code", str(error.code))}
        except ValueError:
            return {"error_code": str(error.code)}


def provision_mlflow(state: Path, env: dict[str, str]) -> None:
    """Create (or reset the password of) the trainer and reader users; give the trainer what it must own.

    The trainer owns what it creates (MLflow grants MANAGE to the creator). Experiments and registered models made
    before authentication was on (a stack from an older version) have no owner: the trainer gets MANAGE on them,
    so an upgrade keeps training. Everything else gets ``default_permission`` (READ).
    """
    for user, password in ((TRAINER, env["MLFLOW_TRACKING_PASSWORD"]), (READER, env["MLFLOW_READER_PASSWORD"])):
        answer = _mlflow_call(env, "POST", "/api/2.0/mlflow/users/create", {"username": user, "password": password})
        if answer.get("error_code") == "RESOURCE_ALREADY_EXISTS":
            body = {"username": user, "password": password}
            answer = _mlflow_call(env, "PATCH", "/api/2.0/mlflow/users/update-password", body)
        if "error_code" in answer:
            raise SystemExit(f"error: could not create MLflow user {user}: {answer['error_code']}")
    rehash_passwords(state / "mlflow" / "basic_auth.db", env)
    for experiment_id in _all_ids(env, "/api/2.0/mlflow/experiments/search", "experiments", "experiment_id"):
        _grant(env, "experiments", {"experiment_id": experiment_id})
    for name in _all_ids(env, "/api/2.0/mlflow/registered-models/search", "registered_models", "name"):
        _grant(env, "registered-models", {"name": name})


def rehash_passwords(database: Path, env: dict[str, str]) -> None:
    """Store the users' password hashes with 1,000 rounds of PBKDF2 instead of MLflow's default scrypt.

    MLflow 3.2 checks the password of every request, and its scrypt hash costs 0.1-1 s of CPU per request on a
    busy 2-core machine, which made a training run several times slower. Key stretching protects guessable
    passwords; these are 32 random characters (192 bits) generated here, which no guessing reaches either way.
    The hash is Werkzeug's own ``pbkdf2:sha256:<rounds>$salt$hash`` format, which MLflow's check reads as is.
    """
    users = {
        env["MLFLOW_ADMIN_USERNAME"]: env["MLFLOW_ADMIN_PASSWORD"],
        TRAINER: env["MLFLOW_TRACKING_PASSWORD"],
        READER: env["MLFLOW_READER_PASSWORD"],
    }
    with sqlite3.connect(database, timeout=30) as connection:
        for user, password in users.items():
            salt = secrets.token_hex(8)
            digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
            connection.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (f"pbkdf2:sha256:1000${salt}${digest}", user)
            )
    connection.close()


def _all_ids(env: dict[str, str], path: str, field: str, key: str) -> list[str]:
    found: list[str] = []
    token = ""
    while True:
        page = {"max_results": 1000, **({"page_token": token} if token else {})}
        if field == "experiments":  # a POST, so that deleted experiments are included
            answer = _mlflow_call(env, "POST", path, {**page, "view_type": "ALL"})
        else:
            answer = _mlflow_call(env, "GET", f"{path}?{urllib.parse.urlencode(page)}")
        found += [item[key] for item in answer.get(field, [])]
        token = answer.get("next_page_token", "")
        if not token:
            return found


def _grant(env: dict[str, str], kind: str, resource: dict[str, str]) -> None:
    query = urllib.parse.urlencode({**resource, "username": TRAINER})
    answer = _mlflow_call(env, "GET", f"/api/2.0/mlflow/{kind}/permissions/get?{query}")
    if answer.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
        body = {**resource, "username": TRAINER, "permission": "MANAGE"}
        _mlflow_call(env, "POST", f"/api/2.0/mlflow/{kind}/permissions/create", body)
