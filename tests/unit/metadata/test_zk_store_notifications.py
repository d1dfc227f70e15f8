"""The ZooKeeper store's partition-state notifications, against a real ZooKeeper: states written
by one broker's store reach another's through one notification per multi-op (no watch per state
znode), lost compare-and-set races are reported per partition, and the controller removes old
notifications."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest

from helpers import wait_for
from odradek.metadata import zk_store
from odradek.metadata.store import PartitionState, TopicMeta
from odradek.metadata.zk_store import NOTIFY_PATH, ZooKeeperStore
from zk_cluster import ZooKeeper


@pytest.fixture
def zk(tmp_path):
    server = ZooKeeper(tmp_path).start()
    yield server
    server.stop()


class Loop:
    """Runs what a store schedules when the test says so (as the broker's event loop would)."""

    def __init__(self) -> None:
        self.pending: list = []
        self.lock = threading.Lock()

    def schedule(self, fn) -> None:
        with self.lock:
            self.pending.append(fn)

    def run(self) -> None:
        with self.lock:
            todo, self.pending = self.pending, []
        for fn in todo:
            fn()


def _store(zk, broker_id: int, loop: Loop, session_timeout_ms: int = 6000) -> ZooKeeperStore:
    s = ZooKeeperStore(zk.connect + "/notify", broker_id, session_timeout_ms=session_timeout_ms, schedule=loop.schedule)
    s.refresh()
    return s


def _topic(name: str, partitions: int) -> TopicMeta:
    return TopicMeta(name, str(uuid.uuid4()), {p: PartitionState(p, [0, 1], 0, 0, [0, 1]) for p in range(partitions)})


def test_states_reach_other_brokers_through_notifications(zk):
    loop_a, loop_b = Loop(), Loop()
    a, b = _store(zk, 0, loop_a), _store(zk, 1, loop_b)
    try:
        a.create_topic(_topic("t", 450))

        def b_sees(check):
            def step():
                loop_b.run()
                meta = b.topics().get("t")
                return meta is not None and check(meta)
            return step

        wait_for(b_sees(lambda m: len(m.partitions) == 450), 20, what="the topic at the other store")
        # 450 leaders move in three multi-ops: three notifications, no watch on any state znode
        moved = [("t", replace(st, leader=1, leader_epoch=1, isr=[1])) for st in a.topics()["t"].partitions.values()]
        assert all(a.update_partition_states(moved))
        assert len(a.zk.get_children(NOTIFY_PATH)) == 3
        b.take_changes()
        wait_for(b_sees(lambda m: all(st.leader == 1 and st.leader_epoch == 1 and st.isr == [1]
                                      for st in m.partitions.values())), 20, what="the moves at the other store")
        assert b.take_changes().partitions == {("t", p) for p in range(450)}
        watched = [p for p in b.zk._data_watchers if p.endswith("/state")]
        assert watched == []
        # the writer's cache has what it wrote, with the new znode versions
        assert all(st.version == 1 for st in a.topics()["t"].partitions.values())

        # a stale write (b's view of partition 0 is older than a's next write) loses its race
        # alone; the rest of its multi-op still goes through
        assert a.update_partition_states([("t", replace(a.topics()["t"].partitions[0], leader_epoch=2))]) == [True]
        stale = replace(b.topics()["t"].partitions[0], leader_epoch=3)
        fresh = replace(b.topics()["t"].partitions[1], leader_epoch=3)
        assert b.update_partition_states([("t", stale), ("t", fresh)]) == [False, True]
        assert b.topics()["t"].partitions[0].leader_epoch == 2  # re-read after the lost race
        wait_for(lambda: (loop_a.run(), a.topics()["t"].partitions[1].leader_epoch == 3)[1], 20,
                 what="the winning write at the other store")
    finally:
        a.close()
        b.close()


def test_the_controller_removes_old_notifications(zk, monkeypatch):
    loop = Loop()
    s = _store(zk, 0, loop)
    try:
        assert s.try_become_controller() is not None
        s.create_topic(_topic("old", 3))
        for epoch in range(1, 4):
            items = [("old", replace(st, leader_epoch=epoch)) for st in s.topics()["old"].partitions.values()]
            assert all(s.update_partition_states(items))
        assert len(s.zk.get_children(NOTIFY_PATH)) == 3
        monkeypatch.setattr(zk_store, "NOTIFY_RETENTION_S", 0)

        def looked_again() -> bool:  # each look at the notifications removes those seen long enough
            s._dirty.add(("notifications",))
            s.refresh()
            return len(s.zk.get_children(NOTIFY_PATH)) == 1

        # every notification but the newest goes
        wait_for(looked_again, 20, what="old notifications removed")
    finally:
        s.close()


def test_a_new_session_tells_the_broker_what_it_missed(zk):
    """A broker whose ZooKeeper session expired (a long pause) registers again; that registration's
    own read is the full re-read the new session needs, and the subscribers must hear of it: they
    reconcile with what changed meanwhile (here: its leadership moved away). Before, the full read
    was taken in silently and the broker went on as leader until some later change fired a watch."""
    from kazoo.client import KazooClient
    from kazoo.protocol.states import KazooState

    loop_a, loop_b = Loop(), Loop()
    a, b = _store(zk, 0, loop_a, 2000), _store(zk, 1, loop_b)
    told: list[int] = []
    a.subscribe(lambda: told.append(1))
    try:
        a.register_broker("127.0.0.1", 9092)
        b.register_broker("127.0.0.1", 9093)
        a.create_topic(_topic("moved", 2))
        loop_a.run()
        a.take_changes()
        wait_for(lambda: (loop_b.run(), "moved" in b.topics() and 0 in a.live_brokers())[1], 20, what="setup seen")
        states: list = []
        a.zk.add_listener(states.append)
        # expire a's session: another client joins it with its id and password, then closes it
        other = KazooClient(hosts=zk.connect + "/notify", client_id=a.zk.client_id)
        other.start(timeout=15)
        other.stop()
        other.close()
        wait_for(lambda: KazooState.LOST in states, 20, what="a's session expired")
        # while a is away, b (as the controller would) moves both leaders to itself
        moved = [("moved", replace(st, leader=1, leader_epoch=1, isr=[1])) for st in b.topics()["moved"].partitions.values()]
        assert all(b.update_partition_states(moved))
        told.clear()

        def caught_up() -> bool:
            loop_a.run()
            return bool(told)

        wait_for(caught_up, 20, what="a's subscribers told after the new session")
        changes = a.take_changes()
        assert changes.full
        assert all(st.leader == 1 and st.leader_epoch == 1 for st in a.topics()["moved"].partitions.values())
        assert "0" in a.zk.get_children("/brokers/ids")  # registered again in the new session
    finally:
        a.close()
        b.close()


def test_a_controller_elected_between_the_read_and_the_watch_is_seen(zk, monkeypatch):
    """/controller read as absent, then created before the exists watch is set: that watch never
    fires (the znode is there already), so the store must read it then. Before, it went on with
    controller -1 (Metadata said so) until the controller changed again."""
    loop_a, loop_b = Loop(), Loop()
    a, b = _store(zk, 0, loop_a), _store(zk, 1, loop_b)
    try:
        assert a.try_become_controller() is not None
        wait_for(lambda: (loop_b.run(), b.controller_id() == 0)[1], 20, what="b sees controller 0")
        real_exists = b.zk.exists
        raced: list[str] = []

        def exists_after_an_election(path, watch=None):
            if path == "/controller" and not raced:
                raced.append(path)
                assert a.try_become_controller() is not None  # a takes it again in that instant
            return real_exists(path, watch=watch)

        monkeypatch.setattr(b.zk, "exists", exists_after_an_election)
        a.resign_controller()
        wait_for(lambda: (loop_b.run(), bool(raced))[1], 20, what="b reads /controller as absent")
        loop_b.run()
        assert b.controller_id() == 0
    finally:
        a.close()
        b.close()
