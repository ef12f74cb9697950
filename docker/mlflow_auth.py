"""MLflow container step: write the basic-auth config, create the users, then run the server.

Usage: mlflow_auth.py -- COMMAND [ARGS...]   (after entrypoint.py, before ``mlflow server --app-name basic-auth``)

The same design as the local stack (scripts/stack_security.py): ``default_permission = READ``; an admin for a
person; the trainer (Mage) owns what it creates; the reader (serving) only reads. Passwords come from the
environment (Secrets Manager on ECS, .env with compose): MLFLOW_ADMIN_PASSWORD, MLFLOW_TRAINER_PASSWORD,
MLFLOW_READER_PASSWORD, each more than 12 characters. The users live in their own database (``DB_NAME`` +
``_auth``, created when missing) because MLflow's auth migrations and its tracking migrations would share one
alembic version table in the same database; without DB_HOST they live in basic_auth.db next to the config.
Users are created with MLflow's own auth store, and an existing user gets the password from the environment, so
rotating a secret and restarting the task is enough.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entrypoint import build_database_url, ensure_database

CONFIG = Path(os.environ.get("MLFLOW_AUTH_CONFIG_PATH", "/tmp/basic_auth.ini"))  # noqa: S108 - the task's own /tmp
USERS = {"MLFLOW_TRAINER_PASSWORD": "mlops-trainer", "MLFLOW_READER_PASSWORD": "mlops-reader"}


def auth_database_url(env: dict[str, str]) -> str:
    """Return the users' database: a PostgreSQL database of its own next to MLflow's, else a local SQLite file."""
    if not env.get("DB_HOST"):
        return f"sqlite:///{CONFIG.parent / 'basic_auth.db'}"
    auth_env = {**env, "DB_NAME": f"{env['DB_NAME']}_auth"}
    ensure_database(auth_env)
    return build_database_url("postgresql", auth_env)


def main(argv: Sequence[str] | None = None) -> None:
    """Write the config, create or update the users, then replace this process with the command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args or not args[args.index("--") + 1 :]:
        raise SystemExit("usage: mlflow_auth.py -- COMMAND [ARGS...]")
    env = dict(os.environ)
    missing = [name for name in ("MLFLOW_ADMIN_PASSWORD", *USERS) if len(env.get(name, "")) <= 12]
    if missing or not env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        raise SystemExit(f"error: set {', '.join(missing) or 'MLFLOW_FLASK_SERVER_SECRET_KEY'} (> 12 characters)")
    database = auth_database_url(env)
    admin = env.get("MLFLOW_ADMIN_USERNAME", "admin")
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {database.replace('%', '%%')}\n"
            f"admin_username = {admin}\nadmin_password = {env['MLFLOW_ADMIN_PASSWORD']}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database)
    for variable, user in {"MLFLOW_ADMIN_PASSWORD": admin, **USERS}.items():
        if store.has_user(user):
            store.update_user(user, password=env[variable])
        else:
            store.create_user(user, env[variable], is_admin=user == admin)
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = str(CONFIG)
    command = args[args.index("--") + 1 :]
    os.execvp(command[0], command)  # noqa: S606 - the container's own command, not user input


if __name__ == "__main__":
    main()
