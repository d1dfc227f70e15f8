"""The controller's decisions against an in-memory store: elections, ISR cleanup, reassignments."""

from __future__ import annotations

from odradek.metadata.controller import Controller, elect_preferred, elect_unclean
from odradek.metadata.store import Changes, PartitionState, TopicMeta
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

    def update_partition_states(self, items):
        return [self.update_partition_state(t, st) for t, st in items]

    def update_partition_state(self, topic, st):
        # as in ZooKeeper, replicas live in the topic's node, not the state node
        self.writes.append(st)
        known = self.meta.partitions[st.partition]
        st.replicas, st.adding, st.removing = list(known.replicas), list(known.adding), list(known.removing)
        self.meta.partitions[st.partition] = st
        return True

    def update_partition_states(self, items):
        return [self.update_partition_state(t, st) for t, st in items]

    def reassignments(self):
        return self.reassign

    def set_replicas(self, topic, p, replicas, adding=None, removing=None):
        st = self.meta.partitions[p]
        self.meta.partitions[p] = PartitionState(p, list(replicas), st.leader, st.leader_epoch, st.isr,
                                                 adding=list(adding or []), removing=list(removing or []))
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


def test_unclean_elections_are_counted():
    store = FakeStore([3], [PartitionState(0, [1, 2, 3], 1, 4, [1, 2])])
    c = controller(store, unclean=True)
    c.on_change()
    assert c.unclean_elections == 1
    store2 = FakeStore([2, 3], [PartitionState(0, [1, 2, 3], 1, 4, [1, 2])])
    c2 = controller(store2, unclean=True)
    c2.on_change()  # a clean election from the ISR
    assert store2.meta.partitions[0].leader == 2 and c2.unclean_elections == 0


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
    # as Kafka: the target first, then the original replicas not in it; what is added and removed recorded
    st = store.meta.partitions[0]
    assert (st.replicas, st.adding, st.removing, st.leader) == ([3, 4, 1, 2], [3, 4], [1, 2], 1)
    c.on_change()  # 3 and 4 not in sync yet: nothing more
    assert store.meta.partitions[0].replicas == [3, 4, 1, 2]
    assert c.preferred_election() == 0  # no preferred-leader move while it is being reassigned
    st = store.meta.partitions[0]
    store.meta.partitions[0] = PartitionState(0, st.replicas, st.leader, st.leader_epoch, [1, 2, 3, 4],
                                              adding=st.adding, removing=st.removing)
    c.on_change()
    st = store.meta.partitions[0]
    assert st.replicas == [3, 4] and st.leader == 3 and st.isr == [3, 4] and st.adding == st.removing == []
    assert store.reassign == {}


def test_cancelled_reassignment_goes_back_to_the_original_replicas():
    store = FakeStore([1, 2, 3], [PartitionState(0, [1, 2], 1, 0, [1, 2])], {("t", 0): [2, 3]})
    c = controller(store)
    c.on_change()
    st = store.meta.partitions[0]
    assert (st.replicas, st.adding, st.removing) == ([2, 3, 1], [3], [1])
    # 3 caught up, but the request is withdrawn before 1 goes
    store.meta.partitions[0] = PartitionState(0, st.replicas, st.leader, st.leader_epoch, [1, 2, 3],
                                              adding=st.adding, removing=st.removing)
    store.reassign.clear()
    c.on_change()
    st = store.meta.partitions[0]
    # the original replicas in the order of the merged set, as Kafka reverts (replicas minus adding)
    assert (st.replicas, st.adding, st.removing, st.leader, st.isr) == ([2, 1], [], [], 1, [1, 2])
    c.on_change()  # nothing left to do
    assert store.meta.partitions[0].replicas == [2, 1]


def test_a_new_target_replaces_the_one_under_way():
    store = FakeStore([1, 2, 3, 4], [PartitionState(0, [1, 2], 1, 0, [1, 2])], {("t", 0): [1, 3]})
    c = controller(store)
    c.on_change()
    assert store.meta.partitions[0].replicas == [1, 3, 2]
    store.reassign[("t", 0)] = [1, 4]
    c.on_change()
    st = store.meta.partitions[0]
    # the original is still [1, 2]: 3 is no longer wanted, 4 is
    assert (st.replicas, st.adding, st.removing) == ([1, 4, 2], [4], [2])


def test_unclean_election_on_request():
    # a live leader: nothing to do
    store = FakeStore([1, 2], [PartitionState(0, [1, 2], 1, 3, [1])])
    assert elect_unclean(store, "t", store.meta.partitions[0], 1) == ErrorCode.election_not_needed
    # the leader is gone and the only in-sync replica with it: the live out-of-sync replica leads alone
    store = FakeStore([2, 3], [PartitionState(0, [1, 3, 2], -1, 3, [1])])
    assert elect_unclean(store, "t", store.meta.partitions[0], 1) is None
    st = store.meta.partitions[0]
    assert (st.leader, st.leader_epoch, st.isr) == (3, 4, [3])
    # a live in-sync replica is preferred over an out-of-sync one, and the ISR keeps its live members
    store = FakeStore([2, 3], [PartitionState(0, [1, 3, 2], 1, 3, [1, 2])])
    assert elect_unclean(store, "t", store.meta.partitions[0], 1) is None
    st = store.meta.partitions[0]
    assert (st.leader, st.isr) == (2, [2])
    # nobody alive
    store = FakeStore([4], [PartitionState(0, [1, 2], -1, 3, [1])])
    assert elect_unclean(store, "t", store.meta.partitions[0], 1) == ErrorCode.eligible_leaders_not_available
    assert store.writes == []


def test_changes_name_the_partitions_to_look_at() -> None:
    """What the controller decides again and a broker reconciles after a change: the partitions
    whose state changed and every partition of a changed topic (one no longer listed adds none)."""
    topics = {"a": TopicMeta("a", "00000000-0000-0000-0000-000000000001", {p: PartitionState(p, [1], 1) for p in range(3)}),
              "b": TopicMeta("b", "00000000-0000-0000-0000-000000000002", {0: PartitionState(0, [1], 1)})}
    changes = Changes(topics={"a", "gone"}, partitions={("b", 0), ("gone", 4)})
    assert changes.partition_keys(topics) == {("a", 0), ("a", 1), ("a", 2), ("b", 0), ("gone", 4)}
    assert Changes().partition_keys(topics) == set()
