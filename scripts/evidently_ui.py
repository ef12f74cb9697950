"""Run the Evidently UI (0.4.23) with its write secret and a Host-header allow-list.

Usage: evidently_ui.py --workspace DIR_OR_S3_URI --host 127.0.0.1 --port 8001

The same as ``evidently ui``, plus one thing its command line does not offer: Litestar's own
``AllowedHostsConfig`` (a maintained component of the framework Evidently is built on), so a request whose Host
header is not one the UI serves (``EVIDENTLY_ALLOWED_HOSTS``, comma-separated ``host:port`` entries; unset or
empty: every host, as upstream) gets HTTP 400. That closes DNS rebinding from a browser. Writes (creating or
deleting projects and snapshots, reloading a project) need the ``evidently-secret`` header to equal
``EVIDENTLY_SECRET``; without a secret the UI refuses to start. Reads stay open, as upstream.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any


def poll_new_projects(path: str, state: Any, every: float = 2.0) -> None:
    """Add projects created after start-up that Evidently's file watcher missed (until the process ends).

    Evidently 0.4.23's file watcher adds a project only on a "modified" event of its ``metadata.json``, and then
    without its snapshot tables; its thread dies for good on a file caught half-written. A title whose first
    report ran while the UI was up then stayed invisible until a restart (the UI's reload endpoint only knows
    projects it has). Snapshots of known projects are re-read by that endpoint, which the reports call.
    """
    import uuid

    from evidently.ui.storage.common import NO_USER
    from evidently.ui.storage.local.base import load_project

    while True:
        time.sleep(every)
        try:
            for name in os.listdir(path):
                if not os.path.isfile(os.path.join(path, name, "metadata.json")):
                    continue
                try:
                    project_id = uuid.UUID(name)
                except ValueError:
                    continue
                if project_id in state.projects and project_id in state.snapshots:
                    continue
                project = load_project(state.location, name)
                if project is None:
                    continue
                state.projects[project.id] = project.bind(state.project_manager, NO_USER.id)
                state.snapshots.setdefault(project.id, {})
                state.snapshot_data.setdefault(project.id, {})
                state.reload_snapshots(project.id, skip_errors=True)
                print(f"added project {project.name} ({project.id}) created after start-up", flush=True)
        except Exception as error:  # noqa: BLE001 - a failed scan is retried; the UI keeps serving
            print(f"warning: scanning {path} for new projects failed: {error}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    secret = os.environ.get("EVIDENTLY_SECRET", "")
    if not secret:
        raise SystemExit("error: EVIDENTLY_SECRET is not set; the Evidently UI would accept anonymous writes")
    allowed = [host.strip() for host in os.environ.get("EVIDENTLY_ALLOWED_HOSTS", "").split(",") if host.strip()]

    from machine_learning.monitoring.snapshots import set_aside_damaged_snapshots
    from machine_learning.monitoring.workspace import lock_workspace

    if not args.workspace.startswith("s3://"):
        with lock_workspace(args.workspace):  # one damaged snapshot must not keep the UI from starting
            for line in set_aside_damaged_snapshots(args.workspace):
                print(f"warning: {line}", flush=True)

    import evidently.ui.storage.local as local_storage

    watch = local_storage.start_workspace_watchdog

    def watch_and_poll(path: str, state: object) -> None:
        watch(path, state)
        threading.Thread(target=poll_new_projects, args=(path, state), daemon=True).start()

    local_storage.start_workspace_watchdog = watch_and_poll  # type: ignore[assignment]

    import uvicorn
    from evidently._pydantic_compat import SecretStr
    from evidently.ui.components.base import AppBuilder
    from evidently.ui.config import load_config, settings
    from evidently.ui.local_service import LocalConfig
    from evidently.ui.security.token import TokenSecurityComponent
    from litestar.config.allowed_hosts import AllowedHostsConfig

    # What evidently.ui.app.run_local does, with the secret always on and the Host allow-list added.
    settings.configure(settings_module=None)
    config = load_config(LocalConfig, settings)
    config.service.host, config.service.port, config.storage.path = args.host, args.port, args.workspace
    config.security = TokenSecurityComponent(token=SecretStr(secret))
    with config.context() as ctx:
        builder = AppBuilder(ctx)
        ctx.apply(builder)
        if allowed:
            builder.kwargs["allowed_hosts"] = AllowedHostsConfig(allowed_hosts=allowed, www_redirect=False)
        app = builder.build()
        ctx.finalize(app)
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
