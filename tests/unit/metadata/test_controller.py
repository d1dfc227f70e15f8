"""The controller's decisions against an in-memory store: elections, ISR cleanup, reassignments."""

from __future__ import annotations

from odradek.metadata.controller import Controller, elect_preferred
from odradek.metadata.store import PartitionState, TopicMeta
from odradek.protocol.errors import ErrorCode


class FakeStore:
    def __init__(self, live, states, reassign=None):
        self.live = set(live)
        self.meta = TopicMeta("t", "00000000-0000-0000-0000-000000000001", {s.partition: s for s in states})
        self.reassign = dict(reassign or {})
        self.writes = []

    def topics(self):
        return {"t": self.meta}

    def live_brokers(self):
        return {b: ("h", 1, None) for b in self.live}

    def controller_id(self):
        return -1

    def try_become_controller(self):
        return 7

    def update_partition_state(self, topic, st):
        # as in ZooKeeper, replicas live in the topic's node, not the state node
        self.writes.append(st)
        st.replicas = list(self.meta.partitions[st.partition].replicas)
        self.meta.partitions[st.partition] = st
        return True

    def update_partition_states(self, items):
        return [self.update_partition_state(t, st) for t, st in items]

    def reassignments(self):
        return self.reassign

    def set_replicas(self, topic, p, replicas):
        st = self.meta.partitions[p]
        self.meta.partitions[p] = PartitionState(p, list(replicas), st.leader, st.leader_epoch, st.isr)
        return True

    def change_reassignments(self, changes):
        for k, v in changes.items():
            if v is None:
                self.reassign.pop(k, None)


def controller(store, unclean=False):
    c = Controller(store, 1, lambda t: unclean)
    assert c.elect()
    return c


def test_dead_leader_is_replaced_by_first_live_isr_member_with_a_new_epoch():
    store = FakeStore([2, 3], [PartitionState(0, [1, 2, 3], 1, 4, [1, 3, 2])])
    controller(store).on_change()
    st = store.meta.partitions[0]
    assert st.leader == 2 and st.leader_epoch == 5 and st.isr == [3, 2]


def test_dead_follower_leaves_the_isr():
    store = FakeStore([1, 2], [PartitionState(0, [1, 2, 3], 1, 4, [1, 2, 3])])
    controller(store).on_change()
    assert store.meta.partitions[0].isr == [1, 2] and store.meta.partitions[0].leader == 1


def test_no_live_isr_member_means_offline_unless_unclean():
    store = FakeStore([3], [PartitionState(0, [1, 2, 3], 1, 4, [1, 2])])
    controller(store).on_change()
    assert store.meta.partitions[0].leader == -1
    store2 = FakeStore([3], [PartitionState(0, [1, 2, 3], 1, 4, [1, 2])])
    controller(store2, unclean=True).on_change()
    assert store2.meta.partitions[0].leader == 3 and store2.meta.partitions[0].isr == [3]


def test_offline_partition_comes_back_with_its_last_isr_member():
    store = FakeStore([2], [PartitionState(0, [1, 2], -1, 6, [2])])
    controller(store).on_change()
    assert store.meta.partitions[0].leader == 2


def test_preferred_election_rules():
    store = FakeStore([1, 2, 3], [PartitionState(0, [1, 2, 3], 2, 4, [1, 2, 3])])
    assert elect_preferred(store, "t", store.meta.partitions[0], 1) is None
    assert store.meta.partitions[0].leader == 1
    assert elect_preferred(store, "t", store.meta.partitions[0], 1) == ErrorCode.election_not_needed
    store = FakeStore([2, 3], [PartitionState(0, [1, 2, 3], 2, 4, [2, 3])])
    assert elect_preferred(store, "t", store.meta.partitions[0], 1) == ErrorCode.preferred_leader_not_available


def test_reassignment_adds_waits_for_isr_then_removes():
    store = FakeStore([1, 2, 3, 4], [PartitionState(0, [1, 2], 1, 0, [1, 2])], {("t", 0): [3, 4]})
    c = controller(store)
    c.on_change()
    assert store.meta.partitions[0].replicas == [1, 2, 3, 4]
    c.on_change()  # 3 and 4 not in sync yet: nothing more
    assert store.meta.partitions[0].replicas == [1, 2, 3, 4]
    st = store.meta.partitions[0]
    store.meta.partitions[0] = PartitionState(0, st.replicas, st.leader, st.leader_epoch, [1, 2, 3, 4])
    c.on_change()
    st = store.meta.partitions[0]
    assert st.replicas == [3, 4] and st.leader == 3 and st.isr == [3, 4]
    assert store.reassign == {}
