"""Container entrypoint: build the database URL from its parts, create the database if needed, run the command.

Usage: entrypoint.py [--database-url-variable NAME --database-url-scheme SCHEME] -- COMMAND [ARGS...]

With DB_HOST set (and NAME not already set), the URL is built from DB_USER, DB_PASSWORD, DB_HOST, DB_PORT
(default 5432), DB_NAME and the optional DB_SSLMODE, with the user and password URL-quoted (RDS-generated
passwords contain characters that break a URL), exported as NAME, and the database DB_NAME is created when it does
not exist yet: Mage and MLflow share one PostgreSQL server with a database each. Then COMMAND replaces this
process. Standard library plus psycopg2 (only when a database is configured).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote

CONNECT_ATTEMPTS = 30  # one per 2 s: PostgreSQL may still be starting next to us


def build_database_url(scheme: str, env: Mapping[str, str]) -> str:
    """Return the SQLAlchemy URL of the database described by the DB_* variables.

    Args:
        scheme: URL scheme, e.g. ``postgresql`` (MLflow) or ``postgresql+psycopg2`` (Mage).
        env: The environment holding DB_USER, DB_PASSWORD, DB_HOST, DB_NAME, optional DB_PORT and DB_SSLMODE.

    Returns:
        The URL, with user and password quoted.

    Raises:
        SystemExit: A required variable is missing.

    """
    missing = [name for name in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME") if not env.get(name)]
    if missing:
        raise SystemExit(f"error: DB_HOST is set but {', '.join(missing)} missing; set them or unset DB_HOST")
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    url = f"{scheme}://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT') or '5432'}/{env['DB_NAME']}"
    return f"{url}?sslmode={env['DB_SSLMODE']}" if env.get("DB_SSLMODE") else url


def ensure_database(env: Mapping[str, str]) -> None:
    """Create the database DB_NAME on the server if it does not exist (connecting to the ``postgres`` database).

    Args:
        env: The environment holding the DB_* variables.

    Raises:
        SystemExit: The server cannot be reached.

    """
    import psycopg2
    from psycopg2 import sql

    options = {
        "host": env["DB_HOST"],
        "port": int(env.get("DB_PORT") or 5432),
        "user": env["DB_USER"],
        "password": env["DB_PASSWORD"],
        "dbname": "postgres",
        "sslmode": env.get("DB_SSLMODE") or "prefer",
        "connect_timeout": 5,
    }
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            connection = psycopg2.connect(**options)
            break
        except psycopg2.OperationalError as error:
            if attempt == CONNECT_ATTEMPTS - 1:
                raise SystemExit(f"error: cannot reach PostgreSQL at {env['DB_HOST']}: {error}") from None
            time.sleep(2)
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (env["DB_NAME"],))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(env["DB_NAME"])))
                print(f"entrypoint: created database {env['DB_NAME']}", flush=True)
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Prepare the database URL when configured, then replace this process with the command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        raise SystemExit("usage: entrypoint.py [--database-url-variable NAME --database-url-scheme S] -- COMMAND")
    split = args.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url-variable")
    parser.add_argument("--database-url-scheme", default="postgresql")
    options = parser.parse_args(args[:split])
    command = args[split + 1 :]
    if not command:
        raise SystemExit("error: no command given after --")
    variable = options.database_url_variable
    if variable and os.environ.get("DB_HOST") and not os.environ.get(variable):
        os.environ[variable] = build_database_url(options.database_url_scheme, os.environ)
        ensure_database(os.environ)
    os.execvp(command[0], command)  # noqa: S606 - the container's own command, not user input


if __name__ == "__main__":
    main()
