"""Bad input over a real socket: the broker answers with Kafka's errors or closes only that connection."""

from __future__ import annotations

import random
import struct

import pytest

from helpers import FIXTURES
from odradek.protocol import messages
from odradek.protocol.errors import ErrorCode
from wire import WireClient


def test_api_versions_unknown_version_gets_v0_error_with_its_range(shared_broker):
    c = WireClient(shared_broker.port)
    c.send_frame(c.header(18, 99, True) + b"\x00")
    frame = c.recv_frame()
    corr, err, n = struct.unpack_from(">ihi", frame)
    assert corr == c.correlation and err == ErrorCode.unsupported_version and n == 1
    # only ApiVersions' own range, as Kafka answers: the client retries with a version in it
    assert struct.unpack_from(">hhh", frame, 10) == (18, 0, 4)
    # the connection stays usable
    resp = c.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    assert resp.error_code == ErrorCode.none
    c.close()


def test_api_versions_advertises_produce_from_zero(shared_broker):
    c = WireClient(shared_broker.port)
    resp = c.request(18, 0, {})
    ranges = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    assert ranges[0][0] == 0
    assert ranges[1][0] <= 4 and ranges[1][1] >= 12
    assert 69 not in ranges and 71 not in ranges  # trap 5: only what is implemented
    c.close()


def _create(c: WireClient, topic: str, partitions: int = 1, configs=None):
    resp = c.request(19, 4, {"topics": [{"name": topic, "num_partitions": partitions, "replication_factor": 1,
                                         "assignments": [], "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
                             "timeout": 5000, "validate_only": False})
    return resp.topics[0]


def test_corrupt_batch_gets_corrupt_message_and_nothing_is_written(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, "corrupt-test").error_code == ErrorCode.none
    good = FIXTURES.joinpath("ck-default.bin").read_bytes()
    bad = bytearray(good)
    bad[200] ^= 0xFF
    resp = c.produce("corrupt-test", bytes(bad))
    assert resp.responses[0].partition_responses[0].error_code == ErrorCode.corrupt_message
    resp = c.produce("corrupt-test", good[:-10])  # no whole batch: Kafka says INVALID_RECORD
    assert resp.responses[0].partition_responses[0].error_code == ErrorCode.invalid_record
    resp = c.produce("corrupt-test", good)
    p = resp.responses[0].partition_responses[0]
    assert p.error_code == ErrorCode.none and p.base_offset == 0
    c.close()


def test_produce_batch_rules_as_kafka(shared_broker):
    """What Kafka 4 refuses in a Produce request (tests/differential compares it with Kafka itself)."""
    import time

    from odradek.protocol.record_codec import build_batch

    c = WireClient(shared_broker.port)
    assert _create(c, "rules").error_code == ErrorCode.none
    assert _create(c, "rules-compact", configs={"cleanup.policy": "compact"}).error_code == ErrorCode.none

    def p(records, topic="rules", version=9):
        return c.produce(topic, records, version=version).responses[0].partition_responses[0]

    one = build_batch([(b"k", b"v")])
    assert p(one).base_offset == 0
    old = bytearray(one)
    old[16] = 1  # magic 1
    for bad in (b"", one + one, bytes(old), one[:-3]):
        r = p(bad)
        assert (r.error_code, r.log_start_offset) == (ErrorCode.invalid_record, -1), bad[:20]
    # a batch without records is refused by the log's checks: those answers carry the log start offset
    r = p(build_batch([]))
    assert (r.error_code, r.log_start_offset) == (ErrorCode.invalid_record, 0)
    assert p(build_batch([(b"k", b"v")], producer_id=9, producer_epoch=0, base_sequence=0, is_transactional=True)
             ).error_code == ErrorCode.transactional_id_authorization_failed
    # an idempotent producer the partition does not know may start at any sequence (Kafka's rule)
    assert p(build_batch([(b"k", b"v")], producer_id=4242, producer_epoch=0, base_sequence=5)).error_code == ErrorCode.none
    r = p(build_batch([(b"k", b"v")], producer_id=4242, producer_epoch=0, base_sequence=9))
    assert (r.error_code, r.log_start_offset) == (ErrorCode.out_of_order_sequence_number, 0)
    # records without key on a compacted topic: each named by its index (KIP-467)
    r = p(build_batch([(b"a", b"1"), (None, b"2"), (b"c", b"3"), (None, b"4")]), "rules-compact")
    assert r.error_code == ErrorCode.invalid_record and r.log_start_offset == 0
    assert [e.batch_index for e in r.record_errors] == [1, 3]
    assert r.record_errors[0].batch_index_error_message == (
        "Compacted topic cannot accept message without key in topic partition rules-compact-0")
    assert r.error_message.startswith("One or more records have been rejected due to 2 record errors in total")
    # message.timestamp.after.max.ms is one hour by default, as in Kafka 4
    now = int(time.time() * 1000)
    r = p(build_batch([(b"k", b"v"), (b"k", b"v")], timestamps=[now, now + 7200_000]))
    assert r.error_code == ErrorCode.invalid_timestamp and [e.batch_index for e in r.record_errors] == [1]
    assert r.error_message == "One or more records have been rejected due to invalid timestamp"
    assert p(build_batch([(b"k", b"v")], timestamps=[now + 600_000])).error_code == ErrorCode.none
    c.close()


def test_too_large_batch_and_unknown_topic(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, "small-max", configs={"max.message.bytes": "1000"}).error_code == ErrorCode.none
    resp = c.produce("small-max", FIXTURES.joinpath("ck-default.bin").read_bytes())
    assert resp.responses[0].partition_responses[0].error_code == ErrorCode.message_too_large
    resp = c.produce("no-such-topic-xyz", FIXTURES.joinpath("ck-gzip.bin").read_bytes())
    assert resp.responses[0].partition_responses[0].error_code == ErrorCode.unknown_topic_or_partition
    c.close()


def test_min_insync_replicas_above_one_refuses_acks_all(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, "misr", configs={"min.insync.replicas": "2"}).error_code == ErrorCode.none
    batch = FIXTURES.joinpath("ck-gzip.bin").read_bytes()
    assert c.produce("misr", batch, acks=-1).responses[0].partition_responses[0].error_code == ErrorCode.not_enough_replicas
    assert c.produce("misr", batch, acks=1).responses[0].partition_responses[0].error_code == ErrorCode.none
    c.close()


def test_invalid_topic_names(shared_broker):
    c = WireClient(shared_broker.port)
    for name in ["bad name", "a" * 250, "..", "x/y"]:
        assert _create(c, name).error_code == ErrorCode.invalid_topic_exception
    assert _create(c, "dup-topic").error_code == ErrorCode.none
    assert _create(c, "dup-topic").error_code == ErrorCode.topic_already_exists
    assert _create(c, "zero-parts", partitions=0).error_code == ErrorCode.invalid_partitions
    assert _create(c, "huge-parts", partitions=6_000_000).error_code == ErrorCode.policy_violation  # as Kafka
    assert _create(c, "bad-conf", configs={"retention.ms": "soon"}).error_code == ErrorCode.invalid_config
    assert _create(c, "bad-conf2", configs={"no.such.config": "1"}).error_code == ErrorCode.invalid_config
    c.close()


@pytest.mark.parametrize("seed", range(8))
def test_fuzz_random_and_truncated_frames_do_not_stop_the_broker(shared_broker, seed):
    rng = random.Random(seed)
    good = FIXTURES.joinpath("kp-gzip.bin").read_bytes()
    c0 = WireClient(shared_broker.port)
    _create(c0, f"fuzz-{seed}")
    templates = [
        c0.header(0, 7, False) + messages.encode_request(0, 7, {"transactional_id": None, "acks": 1, "timeout": 1000,
            "topic_data": [{"name": f"fuzz-{seed}", "partition_data": [{"index": 0, "records": good}]}]}),
        c0.header(3, 12, True) + messages.encode_request(3, 12, {"topics": None, "allow_auto_topic_creation": False}),
        c0.header(1, 11, False) + messages.encode_request(1, 11, {"replica_id": -1, "max_wait": 10, "min_bytes": 1, "max_bytes": 1 << 20,
            "topics": [{"topic": f"fuzz-{seed}", "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}]}),
        c0.header(19, 7, True) + messages.encode_request(19, 7, {"topics": [{"name": "fz", "num_partitions": 1, "replication_factor": 1}], "timeout": 100}),
    ]
    c0.close()
    for i in range(300):
        t = bytearray(rng.choice(templates))
        mode = rng.randrange(4)
        if mode == 0:
            payload = bytes(t[: rng.randrange(len(t))])
        elif mode == 1:
            for _ in range(rng.randrange(1, 8)):
                t[rng.randrange(len(t))] = rng.randrange(256)
            payload = bytes(t)
        elif mode == 2:
            payload = rng.randbytes(rng.randrange(1, 300))
        else:
            payload = bytes(t[:8]) + rng.randbytes(rng.randrange(0, 200))
        c = WireClient(shared_broker.port, timeout=5)
        try:
            if rng.random() < 0.2:
                c.send_raw(struct.pack(">i", len(payload) + rng.randrange(1, 50)) + payload)  # lying length
            else:
                c.send_frame(payload)
            c.sock.shutdown(1)
            # A mutated request may legitimately long-poll (e.g. a huge max_wait): read briefly.
            c.sock.settimeout(0.2)
            try:
                c.recv_frame()
            except (ConnectionError, OSError, struct.error):
                pass
        finally:
            c.close()
    assert shared_broker.alive()
    c = WireClient(shared_broker.port)
    resp = c.request(3, 12, {"topics": [{"name": f"fuzz-{seed}", "topic_id": None}], "allow_auto_topic_creation": False})
    assert resp.topics[0].error_code == ErrorCode.none
    c.close()


def test_list_offsets_and_fetch_errors_as_kafka(shared_broker):
    """ListOffsets: special timestamps need their version, tiered storage answers -1, a leader
    epoch only with an offset, a fenced epoch and a partition asked twice are errors; a consumer's
    fetch error carries no offsets. (tests/differential compares these with Apache Kafka.)"""
    from odradek.protocol.record_codec import build_batch

    c = WireClient(shared_broker.port)
    assert _create(c, "lo-rules").error_code == ErrorCode.none
    for ts in (1000, 3000, 2000):
        c.produce("lo-rules", build_batch([(b"k", b"v")], timestamps=[ts]))

    def lo(ts, version=9, epoch=-1, parts=None):
        parts = parts or [{"partition_index": 0, "current_leader_epoch": epoch, "timestamp": ts}]
        r = c.request(2, version, {"replica_id": -1, "isolation_level": 0, "topics": [{"name": "lo-rules", "partitions": parts}]})
        return [(p.error_code, p.offset, getattr(p, "leader_epoch", None)) for p in r.topics[0].partitions]

    assert lo(-3, version=7) == [(ErrorCode.none, 1, 0)]
    for ts, version in ((-3, 6), (-4, 7), (-5, 8), (-6, 10), (-7, 11)):
        assert lo(ts, version) == [(ErrorCode.unsupported_version, -1, -1)], (ts, version)
    assert lo(-5) == [(ErrorCode.none, -1, -1)] and lo(-6, version=11) == [(ErrorCode.none, -1, -1)]
    assert lo(99999) == [(ErrorCode.none, -1, -1)]  # nothing at or after: no epoch either
    assert lo(-1, epoch=3) == [(ErrorCode.unknown_leader_epoch, -1, -1)]
    twice = [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": t} for t in (-1, -2)]
    assert lo(0, parts=twice) == [(ErrorCode.invalid_request, -1, -1)]
    r = c.request(1, 12, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
                          "session_id": 0, "session_epoch": -1, "topics": [{"topic": "lo-rules", "partitions": [
                              {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 50, "log_start_offset": -1,
                               "partition_max_bytes": 1 << 20}]}], "forgotten_topics_data": [], "rack_id": ""})
    p = r.responses[0].partitions[0]
    assert (p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset) == (ErrorCode.offset_out_of_range, -1, -1, -1)
    c.close()


def test_group_requests_answered_as_kafka(shared_broker):
    """Kafka 4's answers for group requests outside a group's life (compared with Apache Kafka by
    tests/differential): the empty group id takes commits and fetches but nothing else; a commit
    with a generation for a group that does not exist; a group named twice in DeleteGroups."""
    c = WireClient(shared_broker.port)
    assert _create(c, "grp-rules").error_code == ErrorCode.none

    def commit(group, generation=-1, member="", version=9):
        r = c.request(8, version, {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member,
                                   "group_instance_id": None, "retention_time": -1, "topics": [{"name": "grp-rules",
                                   "partitions": [{"partition_index": 0, "committed_offset": 5, "committed_metadata": ""}]}]})
        return r.topics[0].partitions[0].error_code

    coordinator = c.request(10, 4, {"key_type": 0, "coordinator_keys": [""]}).coordinators[0]
    assert coordinator.error_code == ErrorCode.none and coordinator.port == shared_broker.port
    assert commit("") == ErrorCode.none
    fetched = c.request(9, 5, {"group_id": "", "topics": None, "require_stable": False})
    assert [(t.name, t.partitions[0].committed_offset) for t in fetched.topics] == [("grp-rules", 5)]
    hb = c.request(12, 4, {"group_id": "", "generation_id": 1, "member_id": "m", "group_instance_id": None})
    assert hb.error_code == ErrorCode.invalid_group_id
    leave = c.request(13, 5, {"group_id": "", "members": [{"member_id": "m", "group_instance_id": None}]})
    assert (leave.error_code, leave.members) == (ErrorCode.invalid_group_id, ())
    join = c.request(11, 7, {"group_id": "grp-x", "session_timeout": 10000, "rebalance_timeout": 10000, "member_id": "",
                             "group_instance_id": None, "protocol_type": "", "protocols": [{"name": "range", "metadata": b""}]})
    assert join.error_code == ErrorCode.inconsistent_group_protocol
    assert commit("grp-none", 5, "m", version=9) == ErrorCode.group_id_not_found
    assert commit("grp-none", 5, "", version=8) == ErrorCode.illegal_generation
    deleted = c.request(42, 2, {"groups_names": ["", "", "grp-none"]}).results
    assert [(r.group_id, r.error_code) for r in deleted] == [("", ErrorCode.none), ("grp-none", ErrorCode.group_id_not_found)]
    gone = c.request(47, 0, {"group_id": "grp-none", "topics": [{"name": "grp-rules", "partitions": [{"partition_index": 0}]}]})
    assert (gone.error_code, gone.topics) == (ErrorCode.group_id_not_found, ())
    c.close()
