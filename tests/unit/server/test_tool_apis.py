"""APIs Kafka's 4.x tools and Admin client use: DescribeTopicPartitions (paged), DescribeProducers,
AlterReplicaLogDirs, and the feature fields of ApiVersions v3+, over a real socket."""

from __future__ import annotations

import os

from odradek.protocol.errors import ErrorCode
from odradek.protocol.record_codec import build_batch
from wire import WireClient


def _create(c: WireClient, topic: str, partitions: int) -> None:
    resp = c.request(19, 5, {"topics": [{"name": topic, "num_partitions": partitions, "replication_factor": 1,
                                         "assignments": [], "configs": []}], "timeout": 10000, "validate_only": False})
    assert resp.topics[0].error_code == ErrorCode.none


def _dtp(c: WireClient, names: list[str], limit: int = 2000, cursor=None):
    return c.request(75, 0, {"topics": [{"name": n} for n in names], "response_partition_limit": limit, "cursor": cursor})


def test_describe_topic_partitions_pages_with_a_cursor(shared_broker):
    c = WireClient(shared_broker.port)
    _create(c, "dtp-a", 5)
    _create(c, "dtp-b", 2)
    # the whole answer in one page, topics in name order, never auto-created
    r = _dtp(c, ["dtp-b", "dtp-a", "dtp-none"])
    assert [t.name for t in r.topics] == ["dtp-a", "dtp-b", "dtp-none"]
    assert [p.partition_index for p in r.topics[0].partitions] == [0, 1, 2, 3, 4]
    assert r.topics[2].error_code == ErrorCode.unknown_topic_or_partition and r.next_cursor is None
    p0 = r.topics[0].partitions[0]
    assert (p0.leader_id, list(p0.replica_nodes), list(p0.isr_nodes)) == (0, [0], [0])
    assert list(p0.eligible_leader_replicas) == [] and list(p0.last_known_elr) == []
    assert r.topics[0].topic_id is not None and not r.topics[0].is_internal
    # pages of 3 partitions: a-0..2 | a-3,a-4,b-0 | b-1
    seen, cursor, pages = [], None, 0
    while True:
        r = _dtp(c, ["dtp-a", "dtp-b"], limit=3, cursor=cursor)
        pages += 1
        page = [(t.name, p.partition_index) for t in r.topics for p in t.partitions]
        assert 1 <= len(page) <= 3
        seen += page
        if r.next_cursor is None:
            break
        cursor = {"topic_name": r.next_cursor.topic_name, "partition_index": r.next_cursor.partition_index}
    assert seen == [("dtp-a", i) for i in range(5)] + [("dtp-b", 0), ("dtp-b", 1)] and pages == 3
    # a cursor naming a topic outside the list is a bad request: the connection is closed
    c2 = WireClient(shared_broker.port)
    try:
        _dtp(c2, ["dtp-a"], cursor={"topic_name": "dtp-b", "partition_index": 0})
        raise AssertionError("expected the broker to refuse the request")
    except (ConnectionError, OSError):
        pass
    # all topics when none is named
    names = [t.name for t in _dtp(c, []).topics]
    assert "dtp-a" in names and "dtp-b" in names and "dtp-none" not in names
    c.close()


def test_describe_producers_lists_idempotent_producers(shared_broker):
    c = WireClient(shared_broker.port)
    _create(c, "dp-t", 1)
    for seq in (0, 3):
        batch = build_batch([(b"k", b"v")] * 3, producer_id=4242, producer_epoch=2, base_sequence=seq, base_timestamp=1700000000000)
        assert c.produce("dp-t", batch).responses[0].partition_responses[0].error_code == ErrorCode.none
    r = c.request(61, 0, {"topics": [{"name": "dp-t", "partition_indexes": [0, 7]}]})
    p0, p7 = r.topics[0].partitions
    assert p0.error_code == ErrorCode.none
    (prod,) = p0.active_producers
    assert (prod.producer_id, prod.producer_epoch, prod.last_sequence, prod.current_txn_start_offset) == (4242, 2, 5, -1)
    assert prod.last_timestamp == 1700000000000
    assert p7.error_code == ErrorCode.unknown_topic_or_partition
    c.close()


def test_alter_replica_log_dirs_with_one_log_dir(shared_broker):
    c = WireClient(shared_broker.port)
    _create(c, "arld-t", 2)
    own = os.path.realpath(shared_broker.data_dir)
    r = c.request(34, 2, {"dirs": [
        {"path": own, "topics": [{"name": "arld-t", "partitions": [0, 1]}, {"name": "arld-none", "partitions": [0]}]},
        {"path": "/no/such/dir", "topics": [{"name": "arld-t", "partitions": [0]}]},
    ]})
    codes = {(t.topic_name, p.partition_index, i): p.error_code for t in r.results for i, p in enumerate(t.partitions)}
    assert codes[("arld-t", 0, 0)] == codes[("arld-t", 1, 1)] == ErrorCode.none
    assert codes[("arld-none", 0, 0)] == ErrorCode.unknown_topic_or_partition
    assert codes[("arld-t", 0, 2)] == ErrorCode.log_dir_not_found
    c.close()


def test_api_versions_features():
    """v4 lists supported features (minimum 0 included); v3 leaves minimum-0 features out, as Kafka
    does; nothing is finalized while Odradek has neither transactions nor the new group protocol."""
    from odradek.server.apis.versions import features

    v4, v3 = features(4), features(3)
    assert {f["name"]: (f["min_version"], f["max_version"]) for f in v4["supported_features"]} == {
        "group.version": (0, 0), "transaction.version": (0, 0)}
    assert v3["supported_features"] == [] and v4["finalized_features"] == []


def test_api_versions_v4_on_the_wire(shared_broker):
    c = WireClient(shared_broker.port)
    r = c.request(18, 4, {"client_software_name": "t", "client_software_version": "1"})
    assert {f.name for f in r.supported_features} == {"group.version", "transaction.version"}
    assert r.finalized_features == () and {k.api_key for k in r.api_keys} >= {34, 61, 75}
    r3 = c.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    assert r3.supported_features == ()
    c.close()
