"""Connecting to a Dask cluster: the scheduler in ``DASK_SCHEDULER_ADDRESS``, or a ``LocalCluster`` for the run.

The ``LocalCluster`` listens on loopback only, on ports the OS picks (never Dask's default 8786/8787, which other
users of the machine may hold), without a dashboard, with one single-threaded worker process per core (or
``DASK_WORKERS``). Each worker gets an equal share of the machine's memory, which Dask enforces by pausing and
restarting a worker that exceeds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from machine_learning.errors import ConfigurationError
from machine_learning.settings import Settings

_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


def local_cluster_workers(settings: Settings, cores: int | None = None) -> int:
    """Workers of a ``LocalCluster`` for these settings: ``DASK_WORKERS``, else one per CPU core."""
    return settings.dask_workers or cores or os.cpu_count() or 1


@contextmanager
def dask_client(settings: Settings, dashboard: bool = False) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for the run and close it (and a cluster it started) afterwards.

    Args:
        settings: ``DASK_SCHEDULER_ADDRESS`` and ``DASK_WORKERS``.
        dashboard: Serve the ``LocalCluster``'s dashboard (needs ``bokeh``) on its free loopback port (printed).

    Yields:
        The connected client.

    Raises:
        ConfigurationError: The scheduler cannot be reached.

    """
    import dask
    from distributed import Client, LocalCluster

    if settings.dask_scheduler_address:
        try:
            client = Client(settings.dask_scheduler_address, timeout="20s")
        except OSError as error:
            raise ConfigurationError(
                f"the Dask scheduler at {settings.dask_scheduler_address} (DASK_SCHEDULER_ADDRESS) cannot be "
                f"reached: {error}"
            ) from None
        with client:
            yield client
        return
    # Dask exports MALLOC_TRIM_THRESHOLD_ to its workers; with it glibc serves every array above 128 KB with a fresh
    # mmap, and validation took 5x the page faults and 2x the CPU of the same code in this process (measured).
    spawn_environ = dict(dask.config.get(_SPAWN_ENVIRON))
    spawn_environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({_SPAWN_ENVIRON: spawn_environ}):
        cluster = LocalCluster(
            n_workers=local_cluster_workers(settings),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            # The scheduler always serves HTTP (health, metrics): on a free loopback port, never the default 8787.
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": dashboard},
            worker_dashboard_address=None,
            silence_logs=40,  # logging.ERROR: a lost worker is reported by the run itself
        )
    with cluster, Client(cluster) as client:
        if dashboard:
            print(f"Dask dashboard: {client.dashboard_link}")
        yield client
