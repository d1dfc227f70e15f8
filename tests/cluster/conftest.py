"""Cluster fixtures: a real ZooKeeper and several broker processes, stopped by PID."""

from __future__ import annotations

import pytest

from zk_cluster import Cluster, ZooKeeper


@pytest.fixture
def zookeeper(tmp_path):
    zk = ZooKeeper(tmp_path).start()
    yield zk
    zk.stop()


@pytest.fixture
def cluster_factory(tmp_path, zookeeper):
    made: list[Cluster] = []

    def make(size: int = 3, **overrides: str) -> Cluster:
        c = Cluster(tmp_path, zookeeper, size, {k.replace("_", "."): v for k, v in overrides.items()}).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
