"""What the Java client's Admin asks and Kafka answers, over a real socket: Metadata by topic id
(the Java client sends name "" beside the id), ListOffsets for tiered-storage specs on a broker
without tiered storage, and DescribeGroups v6 (KIP-1043: an unknown group is GROUP_ID_NOT_FOUND)."""

from __future__ import annotations

import uuid

from odradek.protocol.errors import ErrorCode
from odradek.protocol.record_codec import build_batch
from wire import WireClient


def _create(c: WireClient, topic: str, partitions: int) -> None:
    resp = c.request(19, 5, {"topics": [{"name": topic, "num_partitions": partitions, "replication_factor": 1,
                                         "assignments": [], "configs": []}], "timeout": 10000, "validate_only": False})
    assert resp.topics[0].error_code == ErrorCode.none


def _metadata(c: WireClient, topics, version: int = 12, create: bool = False):
    return c.request(3, version, {"topics": topics, "allow_auto_topic_creation": create,
                                  "include_topic_authorized_operations": False})


def test_metadata_by_topic_id_as_the_java_client_asks(shared_broker):
    c = WireClient(shared_broker.port)
    _create(c, "jmd-a", 2)
    (t,) = _metadata(c, [{"name": "jmd-a"}]).topics
    tid = t.topic_id
    assert tid.int != 0
    unknown = uuid.uuid4()
    for name in ("", None):  # Java sends "", other clients null
        r = _metadata(c, [{"topic_id": tid, "name": name}, {"topic_id": unknown, "name": name}], version=13)
        known, missing = r.topics
        assert (known.name, known.topic_id, known.error_code) == ("jmd-a", tid, ErrorCode.none)
        assert [p.partition_index for p in known.partitions] == [0, 1]
        assert (missing.name, missing.topic_id, missing.error_code) == (None, unknown, ErrorCode.unknown_topic_id)
    # ids decide: a name beside an id is not looked up, and nothing is auto-created
    r = _metadata(c, [{"topic_id": tid, "name": "jmd-other"}], create=True)
    assert [(x.name, x.error_code) for x in r.topics] == [("jmd-a", ErrorCode.none)]
    assert "jmd-other" not in {x.name for x in _metadata(c, None).topics}
    c.close()


def test_list_offsets_special_timestamps(shared_broker):
    c = WireClient(shared_broker.port)
    _create(c, "jlo-a", 1)
    batch = build_batch([(b"k", b"v")] * 4, base_timestamp=1_700_000_000_000)
    assert c.produce("jlo-a", batch).responses[0].partition_responses[0].error_code == ErrorCode.none

    def lookup(ts: int):
        r = c.request(2, 11, {"replica_id": -1, "isolation_level": 0, "timeout_ms": 5000,
                              "topics": [{"name": "jlo-a", "partitions": [
                                  {"partition_index": 0, "current_leader_epoch": -1, "timestamp": ts}]}]})
        p = r.topics[0].partitions[0]
        assert p.error_code == ErrorCode.none
        return p.offset, p.timestamp, p.leader_epoch

    assert lookup(-1) == (4, -1, 0)  # latest
    assert lookup(-2) == (0, -1, 0) and lookup(-4) == (0, -1, 0)  # earliest, earliest-local
    # latest-tiered and earliest-pending-upload: nothing is tiered here, so -1 as Kafka answers
    assert lookup(-5) == (-1, -1, -1) and lookup(-6) == (-1, -1, -1)
    # a time after every record: no offset and no epoch; a record found: its batch's epoch
    assert lookup(1_800_000_000_000) == (-1, -1, -1)
    assert lookup(1_700_000_000_000) == (0, 1_700_000_000_000, 0)
    c.close()


def test_describe_groups_v6_unknown_group(shared_broker):
    c = WireClient(shared_broker.port)
    group = "jdg-none"
    coordinator = c.request(10, 3, {"key": group, "key_type": 0})
    assert coordinator.error_code == ErrorCode.none
    v6 = c.request(15, 6, {"groups": [group], "include_authorized_operations": False}).groups[0]
    assert (v6.error_code, v6.group_state, v6.error_message) == (ErrorCode.group_id_not_found, "Dead", f"Group {group} not found.")
    v5 = c.request(15, 5, {"groups": [group], "include_authorized_operations": False}).groups[0]
    assert (v5.error_code, v5.group_state, v5.members) == (ErrorCode.none, "Dead", ())
    c.close()
