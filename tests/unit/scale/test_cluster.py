"""LocalCluster sizing from the settings."""

from __future__ import annotations

from machine_learning.scale.cluster import local_cluster_workers
from machine_learning.settings import Settings


def test_a_local_cluster_has_one_worker_per_core_unless_told():
    assert local_cluster_workers(Settings(), cores=6) == 6
    assert local_cluster_workers(Settings(dask_workers=2), cores=6) == 2
