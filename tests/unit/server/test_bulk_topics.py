"""CreateTopics and DeleteTopics with many topics in one request (issue 14), over a real socket:
every valid topic is created (or deleted) together, each invalid one gets its own error, and the
answer comes when the broker's metadata has them all."""

from __future__ import annotations

from odradek.protocol.errors import ErrorCode
from wire import WireClient


def _topic(name: str, partitions: int = 2, rf: int = 1) -> dict:
    return {"name": name, "num_partitions": partitions, "replication_factor": rf, "assignments": [], "configs": []}


def _metadata(c: WireClient, version: int = 1) -> dict:
    md = c.request(3, version, {"topics": None, "allow_auto_topic_creation": False,
                                "include_topic_authorized_operations": False})
    return {t.name: t for t in md.topics}


def test_many_topics_in_one_create_and_one_delete(broker):
    c = WireClient(broker.port, timeout=60)
    c.request(19, 5, {"topics": [_topic("bulk-existing")], "timeout_ms": 30000, "validate_only": False})
    names = [f"bulk-{i:03d}" for i in range(150)]
    topics = [_topic(n) for n in names]
    topics += [_topic("bad/name"), _topic("bulk-existing"), _topic("bulk.dotted"), _topic("bulk_dotted"),
               _topic("bulk-zero", partitions=0), _topic("bulk-rf", rf=2)]
    resp = c.request(19, 5, {"topics": topics, "timeout_ms": 30000, "validate_only": False})
    codes = {t.name: t.error_code for t in resp.topics}
    assert len(resp.topics) == len(topics)
    assert all(codes[n] == ErrorCode.none for n in names + ["bulk.dotted"])
    assert codes["bad/name"] == ErrorCode.invalid_topic_exception
    assert codes["bulk-existing"] == ErrorCode.topic_already_exists
    assert codes["bulk_dotted"] == ErrorCode.invalid_topic_exception  # collides with bulk.dotted, made first
    assert codes["bulk-zero"] == ErrorCode.invalid_partitions
    assert codes["bulk-rf"] == ErrorCode.invalid_replication_factor
    ok = {t.name: t for t in resp.topics if t.error_code == 0}
    assert all(t.num_partitions == 2 and t.replication_factor == 1 and t.configs for t in ok.values())
    # answered when the broker's metadata has every topic, led
    md = _metadata(c)
    for n in names + ["bulk.dotted"]:
        assert md[n].error_code == 0 and len(md[n].partitions) == 2
        assert all(p.leader_id == 0 for p in md[n].partitions)
    assert "bulk_dotted" not in md and "bad/name" not in md
    logs = {p.name for p in broker.data_dir.iterdir() if p.is_dir()}
    assert {f"{n}-{i}" for n in names for i in (0, 1)} <= logs

    # validate_only creates nothing
    resp = c.request(19, 5, {"topics": [_topic("bulk-v1"), _topic("bulk-v2")], "timeout_ms": 30000,
                             "validate_only": True})
    assert [t.error_code for t in resp.topics] == [0, 0] and "bulk-v1" not in _metadata(c)

    # CreatePartitions for many topics in one request; a topic named twice is refused both times
    grow = [{"name": n, "count": 4, "assignments": None} for n in names[:60]]
    grow += [{"name": "bulk-never", "count": 4, "assignments": None},
             {"name": names[60], "count": 1, "assignments": None},
             {"name": names[61], "count": 3, "assignments": None}, {"name": names[61], "count": 3, "assignments": None}]
    resp = c.request(37, 1, {"topics": grow, "timeout_ms": 30000, "validate_only": False})
    codes = [(r.name, r.error_code) for r in resp.results]
    assert codes[:60] == [(n, 0) for n in names[:60]]
    assert codes[60:] == [("bulk-never", ErrorCode.unknown_topic_or_partition), (names[60], ErrorCode.invalid_partitions),
                          (names[61], ErrorCode.invalid_request), (names[61], ErrorCode.invalid_request)]
    md = _metadata(c)
    assert all(len(md[n].partitions) == 4 and all(p.leader_id == 0 for p in md[n].partitions) for n in names[:60])
    assert len(md[names[61]].partitions) == 2

    gone = names[:100] + ["bulk-never", "bulk.dotted"]
    resp = c.request(20, 4, {"topic_names": gone, "timeout_ms": 30000})
    codes = {t.name: t.error_code for t in resp.responses}
    assert all(codes[n] == ErrorCode.none for n in names[:100] + ["bulk.dotted"])
    assert codes["bulk-never"] == ErrorCode.unknown_topic_or_partition
    md = _metadata(c)
    assert not set(gone) & set(md) and set(names[100:]) <= set(md)
    logs = {p.name.split(".")[0] for p in broker.data_dir.iterdir() if p.is_dir()}
    assert not {f"{n}-{i}" for n in names[:100] for i in (0, 1, 2, 3)} & logs
    # the names are free again
    resp = c.request(19, 5, {"topics": [_topic(n, 3) for n in names[:10]], "timeout_ms": 30000, "validate_only": False})
    assert all(t.error_code == 0 and t.num_partitions == 3 for t in resp.topics)
    c.close()


def test_topics_named_by_id_follow_deletion_and_recreation(broker):
    """Fetch v13+ and Metadata v10+ name topics by id: the broker finds them in an index kept in
    step with the metadata (a deleted topic's id is unknown at once, a recreated name has a new id)."""
    c = WireClient(broker.port, timeout=30)
    c.request(19, 5, {"topics": [_topic("byid", 1)], "timeout_ms": 30000, "validate_only": False})
    old = _metadata(c, 12)["byid"].topic_id

    def fetch(tid):
        r = c.request(1, 13, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                              "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                              "topics": [{"topic_id": tid, "partitions": [{
                                  "partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                                  "last_fetched_epoch": -1, "log_start_offset": -1,
                                  "partition_max_bytes": 1 << 20}]}],
                              "forgotten_topics_data": [], "rack_id": ""})
        return r.responses[0].partitions[0].error_code

    def by_id(tid):
        md = c.request(3, 12, {"topics": [{"topic_id": tid, "name": None}], "allow_auto_topic_creation": False,
                               "include_topic_authorized_operations": False})
        return md.topics[0].error_code, md.topics[0].name

    assert fetch(old) == ErrorCode.none and by_id(old) == (0, "byid")
    c.request(20, 4, {"topic_names": ["byid"], "timeout_ms": 30000})
    assert fetch(old) == ErrorCode.unknown_topic_id and by_id(old)[0] == ErrorCode.unknown_topic_id
    c.request(19, 5, {"topics": [_topic("byid", 1)], "timeout_ms": 30000, "validate_only": False})
    new = _metadata(c, 12)["byid"].topic_id
    assert new != old
    assert fetch(old) == ErrorCode.unknown_topic_id and fetch(new) == ErrorCode.none
    assert by_id(new) == (0, "byid")
    c.close()
