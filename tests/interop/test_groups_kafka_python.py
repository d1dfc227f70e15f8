"""kafka-python 3.0.12 against the group coordinator, in-process (issue 3): the broker's fencing
errors as kafka-python surfaces them, and three consumers in threads of one process.

- OffsetCommit with a stale generation: the broker answers ILLEGAL_GENERATION, kafka-python
  raises CommitFailedError (and rejoins); with a member id the group does not know:
  UNKNOWN_MEMBER_ID, CommitFailedError;
- a second static member with the same group_instance_id fences the first: its next request gets
  FENCED_INSTANCE_ID (kafka-python raises FencedInstanceIdError);
- a consumer subscribing with a protocol no member shares gets INCONSISTENT_GROUP_PROTOCOL.

kafka-python does not let a test hold a stale generation on its own (it fails such commits
client-side), so the stale-generation case sets the coordinator's generation back by hand, which
is what a consumer that missed a rebalance sends.
"""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from test_groups_support import (
    ck_admin,
    create_topic,
    describe,
    patch_kafka_python_join,
    produce,
    uniq,
    wait_for_value,
    wait_stable,
)

pytestmark = pytest.mark.interop
NP = 6


def _consumer(bs: str, group: str, **kw):
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer

    patch_kafka_python_join()
    conf = dict(
        bootstrap_servers=bs,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=20000,
        fetch_max_wait_ms=100,
        request_timeout_ms=30000,
    )
    conf.update(kw)
    return KafkaConsumer(**conf)


def _poll_until(c, cond, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.poll(timeout_ms=100)
        if cond():
            return
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_commit_with_stale_generation_or_unknown_member_fails(shared_broker):
    from kafka import TopicPartition
    from kafka.coordinator.base import Generation
    from kafka.errors import CommitFailedError
    from kafka.structs import OffsetAndMetadata

    bs = shared_broker.bootstrap
    topic, group = uniq("kpfence"), uniq("grp-kpfence")
    create_topic(bs, topic, NP)
    produce(bs, topic, 2, NP)
    c = _consumer(bs, group)
    try:
        c.subscribe([topic])
        _poll_until(c, lambda: len(c.assignment()) == NP, what="an assignment")
        tp = TopicPartition(topic, 0)
        c.commit({tp: OffsetAndMetadata(1, "ok", -1)})
        assert c.committed(tp) == 1

        coord = c._coordinator
        gen = coord._generation
        assert gen.generation_id > 0
        coord._generation = Generation(gen.generation_id - 1, gen.member_id, gen.protocol)
        with pytest.raises(CommitFailedError) as e:
            c.commit({tp: OffsetAndMetadata(2, "stale", -1)})
        assert "IllegalGeneration" in repr(e.value), repr(e.value)
        assert c.committed(tp) == 1

        # kafka-python rejoins on the next poll, with a newer generation.
        _poll_until(c, lambda: coord._generation.generation_id > gen.generation_id and len(c.assignment()) == NP,
                    what="a rejoin after ILLEGAL_GENERATION")
        c.commit({tp: OffsetAndMetadata(2, "ok", -1)})
        assert c.committed(tp) == 2

        gen = coord._generation
        coord._generation = Generation(gen.generation_id, gen.member_id + "-nobody", gen.protocol)
        with pytest.raises(CommitFailedError) as e:
            c.commit({tp: OffsetAndMetadata(3, "unknown", -1)})
        assert "UnknownMemberId" in repr(e.value), repr(e.value)
        assert c.committed(tp) == 2
    finally:
        c.close()


def test_second_static_member_fences_the_first(shared_broker):
    from kafka import TopicPartition
    from kafka.errors import FencedInstanceIdError
    from kafka.structs import OffsetAndMetadata

    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("kpstatic"), uniq("grp-kpstatic")
    create_topic(bs, topic, NP)
    inst = uniq("kp-inst")
    a = _consumer(bs, group, group_instance_id=inst, session_timeout_ms=10000)
    b = _consumer(bs, group, group_instance_id=inst, session_timeout_ms=10000)
    try:
        a.subscribe([topic])
        _poll_until(a, lambda: len(a.assignment()) == NP, what="the first static member's assignment")
        first_id = describe(admin, group).by_instance()[inst].member_id
        b.subscribe([topic])
        _poll_until(b, lambda: len(b.assignment()) == NP, what="the second static member's assignment")
        view = describe(admin, group)
        assert [m.instance_id for m in view.members] == [inst]
        assert view.members[0].member_id != first_id
        # The first one still believes in its old member id: the broker fences it.
        with pytest.raises(FencedInstanceIdError):
            a.commit({TopicPartition(topic, 0): OffsetAndMetadata(1, None, -1)})
    finally:
        b.close()
        try:
            a.close()
        except Exception:  # noqa: BLE001 - a fenced consumer may complain while closing
            pass


def test_inconsistent_group_protocol(shared_broker, tmp_path):
    from kafka.errors import InconsistentGroupProtocolError

    from test_groups_support import Members

    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("kpproto"), uniq("grp-kpproto")
    create_topic(bs, topic, NP)
    ms = Members(tmp_path / "members")
    try:
        ck = ms.start("ck", bs, group, [topic], assignor="range")
        wait_stable(admin, group, [ck], topic, NP, sizes=[6])
        from test_groups_support import kp_assignors

        c = _consumer(bs, group, partition_assignment_strategy=kp_assignors("roundrobin"))
        try:
            c.subscribe([topic])
            with pytest.raises(InconsistentGroupProtocolError):
                _poll_until(c, lambda: False, timeout=10, what="INCONSISTENT_GROUP_PROTOCOL")
        finally:
            c.close()
        view = describe(admin, group)
        assert view.state == "STABLE" and len(view.members) == 1 and view.assignor == "range", view
        ck.close()
    finally:
        ms.kill_all()


def test_three_consumers_in_threads_then_a_fourth(shared_broker):
    """The same 2/2/2 then 2/2/1/1 split with kafka-python consumers as threads of this process."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("kpthreads"), uniq("grp-kpthreads")
    create_topic(bs, topic, NP)
    stop = threading.Event()
    views: dict[int, frozenset] = {}
    errors: list = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            c = _consumer(bs, group, client_id=f"kp-thread-{i}")
            c.subscribe([topic])
            try:
                while not stop.is_set():
                    c.poll(timeout_ms=50)
                    with lock:
                        views[i] = frozenset((tp.topic, tp.partition) for tp in c.assignment())
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(4)]

    def stable(n: int, sizes: list[int]):
        v = describe(admin, group)
        with lock:
            local = sorted(sorted(x) for i, x in views.items() if i < n)
        if errors:
            raise AssertionError(f"consumer thread failed: {errors}")
        ok = (v.state == "STABLE" and len(v.members) == n and v.owned() == [(topic, p) for p in range(NP)]
              and sorted(len(m.tps) for m in v.members) == sizes and local == sorted(sorted(m.tps) for m in v.members))
        return v if ok else None

    try:
        for t in threads[:3]:
            t.start()
        wait_for_value(lambda: stable(3, [2, 2, 2]), 30)
        threads[3].start()
        view = wait_for_value(lambda: stable(4, [1, 1, 2, 2]), 30)
        assert {m.client_id for m in view.members} == {f"kp-thread-{i}" for i in range(4)}
    finally:
        stop.set()
        for t in threads:
            if t.is_alive() or t.ident:
                t.join(30)
    assert not errors, errors
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)


def test_restarted_static_leader_is_not_told_it_leads(shared_broker):
    """A static member that was the leader restarts (new process, same group.instance.id) into a
    Stable group: Kafka answers its JoinGroup with the current generation, no member list, and the
    *old* leader member id, so the rejoined member does not take itself for the leader and run
    its assignor over an empty member list (JoinGroup < v9 has no skipAssignment). kafka-python
    shows what it was told in ``_is_leader``."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("kpsl"), uniq("grp-kpsl")
    create_topic(bs, topic, NP)
    a = _consumer(bs, group, group_instance_id="leader", session_timeout_ms=10000)
    b = _consumer(bs, group, group_instance_id="follower", session_timeout_ms=10000)
    a2 = None
    try:
        a.subscribe([topic])
        _poll_until(a, lambda: len(a.assignment()) == NP, what="the first member alone")
        b.subscribe([topic])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (len(a.assignment()) == 3 and len(b.assignment()) == 3):
            a.poll(timeout_ms=50)
            b.poll(timeout_ms=50)
        assert len(a.assignment()) == 3 and len(b.assignment()) == 3
        assert a._coordinator._is_leader and not b._coordinator._is_leader
        # The restart must find the group Stable: a member that still wants to rejoin (e.g. the
        # leader seeing the topic's metadata change after it assigned) starts a rebalance in which
        # the returning member may rightly be made leader.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (a._coordinator.need_rejoin() or b._coordinator.need_rejoin()
                                               or describe(admin, group).state != "STABLE"):
            a.poll(timeout_ms=50)
            b.poll(timeout_ms=50)
        assert not a._coordinator.need_rejoin() and not b._coordinator.need_rejoin()
        assert describe(admin, group).state == "STABLE"
        owned = set(a.assignment())
        a.close()  # a static member: no LeaveGroup
        a2 = _consumer(bs, group, group_instance_id="leader", session_timeout_ms=10000)
        a2.subscribe([topic])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and set(a2.assignment()) != owned:
            a2.poll(timeout_ms=50)
            b.poll(timeout_ms=50)
        assert set(a2.assignment()) == owned
        view = describe(admin, group)
        assert view.state == "STABLE" and len(view.members) == 2, view
        assert not a2._coordinator._is_leader, (
            "the restarted static leader was answered leader == its own new member id with an empty member list "
            "(Kafka answers the old leader id), so it ran its assignor over no members"
        )
    finally:
        b.close()
        if a2 is not None:
            a2.close()


def test_join_and_commit_validation(shared_broker):
    """session.timeout.ms below group.min.session.timeout.ms (6000): INVALID_SESSION_TIMEOUT;
    offset metadata over offset.metadata.max.bytes (4096): OFFSET_METADATA_TOO_LARGE."""
    from kafka import TopicPartition
    from kafka.errors import InvalidSessionTimeoutError, OffsetMetadataTooLargeError
    from kafka.structs import OffsetAndMetadata

    bs = shared_broker.bootstrap
    topic = uniq("kpval")
    create_topic(bs, topic, NP)
    c = _consumer(bs, uniq("grp-kpval"), session_timeout_ms=3000, heartbeat_interval_ms=500)
    try:
        c.subscribe([topic])
        with pytest.raises(InvalidSessionTimeoutError):
            _poll_until(c, lambda: False, timeout=10, what="INVALID_SESSION_TIMEOUT")
    finally:
        c.close()
    c = _consumer(bs, uniq("grp-kpval"))
    try:
        tp = TopicPartition(topic, 0)
        with pytest.raises(OffsetMetadataTooLargeError):
            c.commit({tp: OffsetAndMetadata(1, "x" * 4097, -1)})
        c.commit({tp: OffsetAndMetadata(1, "x" * 4096, -1)})
        assert c.committed(tp) == 1
    finally:
        c.close()
