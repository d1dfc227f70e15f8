"""Group administration through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient
(issue 3): ListGroups (with a state filter), DescribeGroups, OffsetFetch, OffsetCommit from an
admin (reset offsets of an empty group), OffsetDelete, DeleteGroups.

kafka-python 3.0.12 names the calls list_groups / describe_groups / list_group_offsets /
delete_groups / alter_group_offsets / delete_group_offsets (the older *_consumer_group* names are
gone).
"""

from __future__ import annotations

import warnings

import pytest

from test_groups_support import (
    Members,
    ck_admin,
    committed,
    create_topic,
    describe,
    produce,
    uniq,
    wait_for_value,
    wait_members,
    wait_stable,
)

pytestmark = pytest.mark.interop
NP = 6
PER = 5
NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: nothing committed


@pytest.fixture
def members(tmp_path):
    ms = Members(tmp_path / "members")
    yield ms
    ms.kill_all()


def _kp_admin(bs: str):
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)


def _ck_groups(admin, states=None) -> dict[str, object]:
    kw = {"request_timeout": 10}
    if states is not None:
        kw["states"] = states
    res = admin.list_consumer_groups(**kw).result(timeout=15)
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


def _ck_typed(admin, types) -> dict[str, object]:
    res = admin.list_consumer_groups(request_timeout=10, types=types).result(timeout=15)
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


def _ck_error(fut):
    from confluent_kafka import KafkaException

    with pytest.raises(KafkaException) as e:
        fut.result(timeout=15)
    return e.value.args[0]


def test_admin_clients_see_and_manage_a_group(shared_broker, members):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    kadmin = _kp_admin(bs)
    topic, group = uniq("gadmin"), uniq("grp-admin")
    create_topic(bs, topic, NP)
    values = produce(bs, topic, PER, NP)
    ms = [members.start("ck", bs, group, [topic], assignor="range") for _ in range(2)]
    wait_stable(admin, group, ms, topic, NP, sizes=[3, 3])
    wait_members(lambda: sum(len(m.evs("commit")) for m in ms) >= PER * NP, ms, 30, "the group reading everything")
    assert committed(admin, group, topic, NP) == {p: PER for p in range(NP)}

    try:
        # --- ListGroups, with and without a state filter ----------------------------------------
        groups = _ck_groups(admin)
        assert group in groups and groups[group].state == ConsumerGroupState.STABLE
        assert not groups[group].is_simple_consumer_group
        assert group in _ck_groups(admin, states={ConsumerGroupState.STABLE})
        assert group not in _ck_groups(admin, states={ConsumerGroupState.EMPTY})
        assert group in _ck_groups(admin, states={ConsumerGroupState.EMPTY, ConsumerGroupState.STABLE})
        # ListGroups v5 type filter: a classic group, not a KIP-848 "consumer" one
        from confluent_kafka import ConsumerGroupType

        assert _ck_typed(admin, {ConsumerGroupType.CLASSIC})[group].type == ConsumerGroupType.CLASSIC
        assert group not in _ck_typed(admin, {ConsumerGroupType.CONSUMER})

        klisted = {g["group_id"]: g for g in kadmin.list_groups()}
        assert group in klisted and klisted[group]["protocol_type"] == "consumer", klisted.get(group)
        klisted = {g["group_id"] for g in kadmin.list_groups(states_filter=["Empty"])}
        assert group not in klisted

        # --- DescribeGroups -----------------------------------------------------------------------
        d = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        assert d.state == ConsumerGroupState.STABLE
        assert d.partition_assignor == "range"
        assert d.coordinator.id == 0
        assert sorted(m.client_id for m in d.members) == sorted(m.name for m in ms)
        assert all(m.host.endswith("127.0.0.1") for m in d.members), [m.host for m in d.members]
        owned = sorted((tp.topic, tp.partition) for m in d.members for tp in m.assignment.topic_partitions)
        assert owned == [(topic, p) for p in range(NP)]

        kd = kadmin.describe_groups([group])[group]
        assert kd["group_state"] == "Stable" and kd["protocol_type"] == "consumer" and kd["protocol_data"] == "range", kd
        assert len(kd["members"]) == 2
        kowned = sorted(
            (a["topic"], p) for m in kd["members"] for a in m["member_assignment"]["assigned_partitions"] for p in a["partitions"]
        )
        assert kowned == [(topic, p) for p in range(NP)], kd["members"]

        # --- OffsetFetch --------------------------------------------------------------------------
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(timeout=15)
        assert sorted((tp.topic, tp.partition, tp.offset) for tp in res.topic_partitions) == [(topic, p, PER) for p in range(NP)]
        kofs = kadmin.list_group_offsets({group: None})[group]
        assert {(tp.topic, tp.partition): o.offset for tp, o in kofs.items()} == {(topic, p): PER for p in range(NP)}

        # --- what an active group refuses ---------------------------------------------------------
        err = _ck_error(admin.delete_consumer_groups([group], request_timeout=10)[group])
        assert err.code() == KafkaError.NON_EMPTY_GROUP, err
        kres = dict(kadmin.delete_groups([group]))
        assert kres[group] == "NonEmptyGroupError", kres  # kafka-python gives error names here
        reset = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 0) for p in range(NP)])]
        # An admin OffsetCommit (generation -1, no member id) to a group with members: UNKNOWN_MEMBER_ID.
        res = admin.alter_consumer_group_offsets(reset, request_timeout=10)[group].result(timeout=15)
        codes = {tp.error.code() if tp.error else None for tp in res.topic_partitions}
        assert codes == {KafkaError.UNKNOWN_MEMBER_ID}, res.topic_partitions
        odel = kadmin.delete_group_offsets(group, [KTP(topic, 0)])
        assert [v.__name__ for v in odel.values()] == ["GroupSubscribedToTopicError"], odel
        assert committed(admin, group, topic, NP) == {p: PER for p in range(NP)}
    finally:
        for m in ms:
            m.close()

    # --- the group is empty now ---------------------------------------------------------------------
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)
    assert group in _ck_groups(admin, states={ConsumerGroupState.EMPTY})
    assert group not in _ck_groups(admin, states={ConsumerGroupState.STABLE})
    kd = kadmin.describe_groups([group])[group]
    assert kd["group_state"] == "Empty" and kd["members"] == [], kd

    # Reset offsets (an admin OffsetCommit, generation -1): partition p back to p.
    reset = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, p) for p in range(NP)])]
    res = admin.alter_consumer_group_offsets(reset, request_timeout=10)[group].result(timeout=15)
    assert all(tp.error is None for tp in res.topic_partitions), res.topic_partitions
    assert committed(admin, group, topic, NP) == {p: p for p in range(NP)}
    kres = kadmin.alter_group_offsets(group, {KTP(topic, 5): OffsetAndMetadata(4, "by kafka-python", -1)})
    assert [v.__name__ for v in kres.values()] == ["NoError"], kres
    kofs = kadmin.list_group_offsets({group: [KTP(topic, 5)]})[group]
    assert kofs[KTP(topic, 5)].offset == 4 and kofs[KTP(topic, 5)].metadata == "by kafka-python"

    # A consumer of the group now starts from the reset offsets: exactly what lies after them.
    m = members.start("ck", bs, group, [topic])
    want = {p: range(p, PER) for p in range(NP)}
    want[5] = range(4, PER)
    total = sum(len(r) for r in want.values())
    wait_members(lambda: len(m.evs("commit")) >= total, [m], 30, "reading from the reset offsets")
    m.close()
    from test_groups_support import check_exactly

    check_exactly(m.msgs(), want, values)

    # --- OffsetDelete on an empty group, then DeleteGroups -------------------------------------------
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)
    odel = kadmin.delete_group_offsets(group, [KTP(topic, 0)])
    assert [v.__name__ for v in odel.values()] == ["NoError"], odel
    after = committed(admin, group, topic, NP)
    assert after[0] == NO_OFFSET and all(after[p] == PER for p in range(1, NP)), after

    kres = dict(kadmin.delete_groups([group]))
    assert kres[group] == "OK", kres
    assert group not in _ck_groups(admin)
    v = describe(admin, group)
    assert v.state == "DEAD" and v.members == (), v
    assert committed(admin, group, topic, NP) == {p: NO_OFFSET for p in range(NP)}

    # Deleting it again, or a group that never existed: GROUP_ID_NOT_FOUND.
    err = _ck_error(admin.delete_consumer_groups([group], request_timeout=10)[group])
    assert err.code() == KafkaError.GROUP_ID_NOT_FOUND, err
    kres = dict(kadmin.delete_groups([uniq("never")]))
    assert list(kres.values()) == ["GroupIdNotFoundError"], kres
    kadmin.close()


def test_offsets_of_a_group_without_members(shared_broker):
    """Offsets committed by an admin for a group that never had members (a 'simple' group)."""
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, TopicPartition

    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gsimple"), uniq("grp-simple")
    create_topic(bs, topic, NP)
    produce(bs, topic, PER, NP)
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 3) for p in range(NP)])]
    res = admin.alter_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=15)
    assert all(tp.error is None for tp in res.topic_partitions), res.topic_partitions
    assert committed(admin, group, topic, NP) == {p: 3 for p in range(NP)}
    groups = _ck_groups(admin)
    assert group in groups and groups[group].state == ConsumerGroupState.EMPTY
    assert groups[group].is_simple_consumer_group

    # A second one, then both at once: OffsetFetch v8 (several groups), FindCoordinator v4 (several keys),
    # DescribeGroups of two groups.
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    other = uniq("grp-simple2")
    kadmin = _kp_admin(bs)
    try:
        kres = kadmin.alter_group_offsets(other, {KTP(topic, p): OffsetAndMetadata(p, f"m{p}", -1) for p in range(NP)})
        assert {v.__name__ for v in kres.values()} == {"NoError"}, kres
        both = kadmin.list_group_offsets({group: None, other: [KTP(topic, 1), KTP(topic, 2)]})
        assert {tp.partition: o.offset for tp, o in both[group].items()} == {p: 3 for p in range(NP)}
        assert {tp.partition: (o.offset, o.metadata) for tp, o in both[other].items()} == {1: (1, "m1"), 2: (2, "m2")}
        kd = kadmin.describe_groups([group, other])
        assert {g: d["group_state"] for g, d in kd.items()} == {group: "Empty", other: "Empty"}, kd
    finally:
        kadmin.close()
    descs = admin.describe_consumer_groups([group, other], request_timeout=10)
    assert {g: f.result(timeout=15).state for g, f in descs.items()} == {group: ConsumerGroupState.EMPTY, other: ConsumerGroupState.EMPTY}

    fs = admin.delete_consumer_groups([group, other], request_timeout=10)
    for f in fs.values():
        f.result(timeout=15)
    listed = _ck_groups(admin)
    assert group not in listed and other not in listed
    assert committed(admin, group, topic, NP) == {p: NO_OFFSET for p in range(NP)}
    assert committed(admin, other, topic, NP) == {p: NO_OFFSET for p in range(NP)}
