"""ZooKeeper's multiRead through kazoo (odradek.metadata.zk_multiread), against a real ZooKeeper:
one answer per path in order (data and stat, or NoNodeError), under a chroot; and, as ZooKeeper
does, no watch left by its reads (the store learns of changes from notifications instead)."""

from __future__ import annotations

import threading

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from helpers import wait_for
from odradek.metadata.zk_multiread import multi_read_async, supported
from zk_cluster import ZooKeeper


@pytest.fixture(scope="module")
def zk(tmp_path_factory):
    server = ZooKeeper(tmp_path_factory.mktemp("zk")).start()
    yield server
    server.stop()


def test_many_reads_in_one_request(zk):
    root = KazooClient(hosts=zk.connect)
    root.start()
    root.ensure_path("/mr")
    client = KazooClient(hosts=zk.connect + "/mr")
    client.start()
    try:
        assert supported(client)
        for i in range(0, 1200, 400):
            tx = client.transaction()
            for j in range(i, i + 400):
                tx.create(f"/n{j}", b"v%d" % j)
            tx.commit()
        client.set("/n7", b"seven")
        paths = [f"/n{i}" for i in range(1200)]
        answers = multi_read_async(client, paths[:600] + ["/missing"] + paths[600:]).get(30)
        assert len(answers) == 1201
        assert isinstance(answers[600], NoNodeError)
        rest = answers[:600] + answers[601:]
        assert [a[0] for a in rest] == [b"seven" if i == 7 else b"v%d" % i for i in range(1200)]
        assert [a[1].version for a in rest] == [1 if i == 7 else 0 for i in range(1200)]
        assert multi_read_async(client, []).get(10) == []
    finally:
        for c in (client, root):
            c.stop()
            c.close()


def test_its_reads_leave_no_watch(zk):
    """Why the store does not use multiRead for watched reads: ZooKeeper drops the watch flag."""
    client = KazooClient(hosts=zk.connect)
    client.start()
    try:
        client.create("/w1", b"a")
        client.create("/w2", b"a")
        events: list[str] = []
        lock = threading.Lock()

        def on_change(event):
            with lock:
                events.append(event.path)

        multi_read_async(client, ["/w1"]).get(10)
        client.get("/w2", watch=on_change)
        client.set("/w1", b"b")
        client.set("/w2", b"b")
        wait_for(lambda: events == ["/w2"], 10, what="the event of the node read with get")
        assert client._data_watchers.get("/w1") is None
    finally:
        client.stop()
        client.close()
