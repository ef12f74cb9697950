"""Engine selection: one scoring entry point for ``mlops predict`` and batch_inference, local or on Dask.

``SCORING_ENGINE=local`` (the default) is the streaming path of :mod:`machine_learning.inference.batch`; a
folder or S3 prefix input is scored partition by partition in this process. ``SCORING_ENGINE=dask`` plans the
input as partitions and scores them on the cluster of :func:`machine_learning.scale.cluster.dask_client`. Both
give the same tables and write a manifest last (see :mod:`machine_learning.scale.publish`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from machine_learning.errors import ConfigurationError
from machine_learning.inference.batch import DEFAULT_CHUNK_ROWS, BatchOutputs, BatchResult, score_batch
from machine_learning.inference.model import LoadedModel
from machine_learning.scale.cluster import dask_client
from machine_learning.scale.publish import manifest_location, remove_location, write_manifest
from machine_learning.scale.score import dask_runner, is_partitioned_input, run_in_process, score_partitioned
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore


def score_with_engine(
    settings: Settings,
    source: str,
    outputs: BatchOutputs,
    model: LoadedModel,
    store: ObjectStore | None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Score a batch with the engine of ``SCORING_ENGINE`` and publish it whole, manifest last.

    Args:
        settings: Engine, cluster, quarantine limit, model cache (workers load ``model.version`` from it).
        source: File, folder or ``s3://`` prefix (ending with ``/``) of CSV or Parquet files.
        outputs: Where predictions, quarantine and monitoring "current" data go.
        model: The model (the local engine scores with it; Dask workers load the same version).
        store: S3 access.
        chunk_rows: Rows validated and scored together (identical on both engines).
        on_progress: Called with progress lines.

    Returns:
        Counts, reasons, outputs (with the manifest) and timings.

    Raises:
        InvalidInputError: Unreadable input, missing columns, no rows, or too many invalid rows.
        NotFoundError: The input does not exist.
        ConfigurationError: A remote cluster was given local paths.
        ScaleError: The cluster failed the run.

    """
    engine = settings.scoring_engine
    remove_location(manifest_location(outputs), store)
    extra: dict[str, object] = {"chunk_rows": chunk_rows}
    if engine == "local" and not is_partitioned_input(source):
        result = score_batch(source, outputs, model, store, settings.max_quarantine_share, chunk_rows, on_progress)
        for target in result.outputs.values():
            if target.startswith("s3://"):
                remove_location(f"{target}/", store)  # a previous partitioned run's parts under the same name
    elif engine == "local":
        result, extra["partitions"] = score_partitioned(
            settings, source, outputs, model.version, store, run_in_process, chunk_rows
        )
    else:
        _check_remote_paths(settings, source, outputs)
        started = time.perf_counter()
        with dask_client(settings) as client:
            extra["workers"] = len(client.scheduler_info(n_workers=-1)["workers"])
            connected = time.perf_counter() - started
            result, extra["partitions"] = score_partitioned(
                settings, source, outputs, model.version, store, dask_runner(client, on_progress), chunk_rows
            )
        result.timings = {"cluster": round(connected, 3), **result.timings}
    result.outputs["manifest"] = write_manifest(outputs, result, engine, store, extra)
    return result


def _check_remote_paths(settings: Settings, source: str, outputs: BatchOutputs) -> None:
    host = settings.dask_scheduler_address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    if host in ("", "127.0.0.1", "localhost", "::1"):
        return  # a cluster on this machine shares its files
    local = [where for where in (source, outputs.predictions, outputs.quarantine, outputs.current) if where]
    local = [where for where in local if not where.startswith("s3://")]
    if local:
        raise ConfigurationError(
            f"a remote Dask cluster (DASK_SCHEDULER_ADDRESS) reads and writes S3 only; local paths given: {local}"
        )
