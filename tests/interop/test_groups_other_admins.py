"""Group administration from KafkaJS 2.2.4 and aiokafka 0.14 (issue 3), which use older versions
than the confluent-kafka / kafka-python admin tests: KafkaJS ListGroups v2, DescribeGroups v2,
OffsetFetch v4, DeleteGroups v1 (and a full join/seek/commit for setOffsets/resetOffsets);
aiokafka's ListGroups, DescribeGroups and OffsetFetch.
"""

from __future__ import annotations

import asyncio

import pytest

from test_groups_support import (
    Members,
    check_exactly,
    ck_admin,
    committed,
    create_topic,
    describe,
    kafkajs_available,
    kjs_admin,
    produce,
    uniq,
    wait_for_value,
    wait_members,
    wait_stable,
)

pytestmark = pytest.mark.interop
NP = 6
PER = 5


@pytest.fixture
def active_group(shared_broker, tmp_path):
    """A topic with PER records per partition and a group of two confluent-kafka consumers that
    read and committed them all; yields (bootstrap, topic, group, members)."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("goadm"), uniq("grp-oadm")
    create_topic(bs, topic, NP)
    produce(bs, topic, PER, NP)
    ms = Members(tmp_path / "members")
    try:
        group_members = [ms.start("ck", bs, group, [topic], assignor="range") for _ in range(2)]
        wait_stable(admin, group, group_members, topic, NP, sizes=[3, 3])
        wait_members(lambda: sum(len(m.evs("commit")) for m in group_members) >= PER * NP, group_members, 30, "the group reading")
        yield bs, topic, group, group_members
    finally:
        ms.kill_all()


@pytest.fixture
def members(tmp_path):
    ms = Members(tmp_path / "more-members")
    yield ms
    ms.kill_all()


def _ok(res: dict):
    assert res["ok"], res
    return res["result"]


@pytest.mark.skipif(not kafkajs_available(), reason="node or kafkajs node_modules missing")
def test_kafkajs_admin_group_calls(active_group, members):
    bs, topic, group, ms = active_group
    admin = ck_admin(bs)
    lst, desc, offs, dele = kjs_admin(
        bs,
        {"op": "listGroups"},
        {"op": "describeGroups", "groupIds": [group]},
        {"op": "fetchOffsets", "groupId": group, "topics": [topic]},
        {"op": "deleteGroups", "groupIds": [group]},
    )
    groups = {g["groupId"]: g for g in _ok(lst)["groups"]}
    assert groups[group]["protocolType"] == "consumer"
    (g,) = _ok(desc)["groups"]
    assert g["groupId"] == group and g["state"] == "Stable" and g["protocol"] == "range" and g["protocolType"] == "consumer", g
    assert sorted(m["clientId"] for m in g["members"]) == sorted(m.name for m in ms)
    owned = sorted(p for m in g["members"] for p in m["memberAssignment"][topic])
    assert owned == list(range(NP)), g["members"]
    assert all(m["memberMetadata"] == [topic] for m in g["members"]), g["members"]
    (t,) = _ok(offs)
    assert t["topic"] == topic
    assert sorted((p["partition"], p["offset"]) for p in t["partitions"]) == [(p, str(PER)) for p in range(NP)]
    assert not dele["ok"] and dele["error"]["groups"] == [{"groupId": group, "type": "NON_EMPTY_GROUP"}], dele

    for m in ms:
        m.close()
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)
    setr, after_set, reset, after_reset = kjs_admin(
        bs,
        {"op": "setOffsets", "groupId": group, "topic": topic, "partitions": [{"partition": p, "offset": str(p)} for p in range(NP)]},
        {"op": "fetchOffsets", "groupId": group, "topics": [topic]},
        {"op": "resetOffsets", "groupId": group, "topic": topic, "earliest": True},
        {"op": "fetchOffsets", "groupId": group, "topics": [topic]},
    )
    _ok(setr)
    assert sorted((p["partition"], p["offset"]) for p in _ok(after_set)[0]["partitions"]) == [(p, str(p)) for p in range(NP)]
    _ok(reset)
    # KafkaJS commits the logical offset -2 (earliest) and resolves it when a consumer starts.
    assert sorted((p["partition"], p["offset"]) for p in _ok(after_reset)[0]["partitions"]) == [(p, "-2") for p in range(NP)]
    m = members.start("kjs", bs, group, [topic])
    wait_members(lambda: len(m.evs("commit")) >= PER * NP, [m], 30, "a KafkaJS consumer after resetOffsets")
    m.close()
    check_exactly(m.msgs(), {p: range(PER) for p in range(NP)})
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)

    dele, lst, desc = kjs_admin(
        bs,
        {"op": "deleteGroups", "groupIds": [group]},
        {"op": "listGroups"},
        {"op": "describeGroups", "groupIds": [group]},
    )
    assert [d["groupId"] for d in _ok(dele)] == [group], dele
    assert group not in {g["groupId"] for g in _ok(lst)["groups"]}
    (g,) = _ok(desc)["groups"]
    assert g["state"] == "Dead" and g["members"] == [], g
    assert committed(admin, group, topic, NP) == {p: -1001 for p in range(NP)}


def test_aiokafka_admin_group_calls(active_group):
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import TopicPartition

    bs, topic, group, ms = active_group

    async def run():
        a = AIOKafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
        await a.start()
        try:
            listed = await a.list_consumer_groups()
            described = await a.describe_consumer_groups([group])
            offsets = await a.list_consumer_group_offsets(group)
            some = await a.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, 0), TopicPartition(topic, 9)])
            return listed, described, offsets, some
        finally:
            await a.close()

    listed, described, offsets, some = asyncio.run(run())
    assert (group, "consumer") in [tuple(x[:2]) for x in listed], listed
    (resp,) = described
    (g,) = resp.groups
    # DescribeGroups group: (error_code, group_id, group_state, protocol_type, protocol_data, members, ...)
    assert g[0] == 0 and g[1] == group and g[2] == "Stable" and g[3] == "consumer" and g[4] == "range", g
    assert len(g[5]) == 2
    assert {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()} == {(topic, p): PER for p in range(NP)}
    assert some[TopicPartition(topic, 0)].offset == PER
    assert TopicPartition(topic, 9) not in some or some[TopicPartition(topic, 9)].offset == -1, some
