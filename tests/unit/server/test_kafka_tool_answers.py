"""What Kafka's command-line tools read from the broker, checked on the wire (the tools themselves
run in tests/interop/test_kafka_tools.py and tests/cluster/test_kafka_tools_cluster.py): error
messages worded as Kafka 4.4 words them, config synonyms, and the answers the tools print."""

from __future__ import annotations

import pytest

from odradek.config import TOPIC, ConfigError
from odradek.protocol.errors import ErrorCode
from wire import WireClient

TOPIC_RESOURCE = 2


def _create(c: WireClient, topic: str, partitions: int = 1):
    return c.request(19, 5, {"topics": [{"name": topic, "num_partitions": partitions, "replication_factor": 1,
                                         "assignments": [], "configs": []}], "timeout": 10000, "validate_only": False}).topics[0]


@pytest.mark.parametrize("key,value,message", [
    ("retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
    ("max.message.bytes", "3000000000", "Invalid value 3000000000 for configuration max.message.bytes: Not a number of type INT"),
    ("unclean.leader.election.enable", "maybe",
     "Invalid value maybe for configuration unclean.leader.election.enable: Expected value to be either true or false"),
    ("min.cleanable.dirty.ratio", "2", "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("retention.ms", "-5", "Invalid value -5 for configuration retention.ms: Value must be at least -1"),
    ("cleanup.policy", "compact,bogus", "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete"),
])
def test_config_values_refused_in_kafka_words(key, value, message):
    with pytest.raises(ConfigError) as e:
        TOPIC[key].parse(value, key)
    assert str(e.value) == message


def test_admin_errors_in_kafka_words(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, "msg-a", 3).error_code == ErrorCode.none
    bad = _create(c, "bad/name")
    assert bad.error_code == ErrorCode.invalid_topic_exception
    assert bad.error_message == ("Topic name is invalid: 'bad/name' contains one or more characters other than "
                                 "ASCII alphanumerics, '.', '_' and '-'")

    def grow(count, assignments=None):
        r = c.request(37, 1, {"topics": [{"name": "msg-a", "count": count, "assignments": assignments}],
                              "timeout_ms": 5000, "validate_only": False})
        return r.results[0].error_code, r.results[0].error_message

    assert grow(3) == (ErrorCode.invalid_partitions, "Topic already has 3 partition(s).")
    assert grow(2) == (ErrorCode.invalid_partitions, "The topic msg-a currently has 3 partition(s); 2 would not be an increase.")
    assert grow(5, [{"broker_ids": [0]}]) == (
        ErrorCode.invalid_replica_assignment,
        "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.")

    r = c.request(44, 0, {"resources": [{"resource_type": TOPIC_RESOURCE, "resource_name": "msg-none", "configs": [
        {"name": "retention.ms", "config_operation": 0, "value": "1"}]}], "validate_only": False})
    assert (r.responses[0].error_code, r.responses[0].error_message) == (
        ErrorCode.unknown_topic_or_partition, "The topic 'msg-none' does not exist.")
    c.close()


def test_topic_config_synonyms_name_kafkas_broker_keys(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, "msg-syn").error_code == ErrorCode.none
    r = c.request(32, 4, {"resources": [{"resource_type": TOPIC_RESOURCE, "resource_name": "msg-syn",
                                         "configuration_keys": None}],
                          "include_synonyms": True, "include_documentation": False})
    syn = {e.name: [(s.name, s.value) for s in e.synonyms] for e in r.results[0].configs}
    assert syn["file.delete.delay.ms"] == [("log.segment.delete.delay.ms", "60000")]
    assert syn["local.retention.ms"] == [("log.local.retention.ms", "-2")]
    assert syn["local.retention.bytes"] == [("log.local.retention.bytes", "-2")]
    assert syn["max.message.bytes"] == [("message.max.bytes", "1048588")]
    # no broker key, or one without a default: no synonyms (as Kafka)
    for key in ("flush.ms", "segment.jitter.ms", "remote.storage.enable", "leader.replication.throttled.replicas",
                "follower.replication.throttled.replicas"):
        assert syn[key] == [], key
    c.close()


def test_list_offsets_special_timestamps_by_version(shared_broker):
    """kafka-get-offsets --time -1..-5: each special timestamp from the version that defines it
    (-3 max timestamp v7, -4 earliest local v8, -5 latest tiered v9, -6 earliest pending upload v11);
    without tiered storage -5 and -6 find no offset; a partition named twice is INVALID_REQUEST."""
    from odradek.protocol.record_codec import build_batch

    c = WireClient(shared_broker.port)
    assert _create(c, "lo-special").error_code == ErrorCode.none
    assert c.produce("lo-special", build_batch([(None, b"v%d" % i) for i in range(3)], timestamps=[1000, 3000, 2000])) \
        .responses[0].partition_responses[0].error_code == ErrorCode.none

    def ask(version, *timestamps):
        r = c.request(2, version, {"replica_id": -1, "isolation_level": 0, "topics": [{"name": "lo-special", "partitions": [
            {"partition_index": 0, "current_leader_epoch": -1, "timestamp": ts} for ts in timestamps]}]})
        return [(p.error_code, p.offset) for p in r.topics[0].partitions]

    assert ask(1, -1) == [(0, 3)] and ask(1, -2) == [(0, 0)]
    assert ask(6, -3) == [(ErrorCode.unsupported_version, -1)]
    assert ask(7, -3) == [(0, 1)]
    assert ask(7, -4) == [(ErrorCode.unsupported_version, -1)]
    assert ask(8, -4) == [(0, 0)]
    assert ask(8, -5) == [(ErrorCode.unsupported_version, -1)]
    assert ask(9, -5) == [(0, -1)]
    assert ask(10, -6) == [(ErrorCode.unsupported_version, -1)]
    assert ask(11, -6) == [(0, -1)]
    assert ask(11, -7) == [(ErrorCode.unsupported_version, -1)]
    assert ask(11, -1, -2) == [(ErrorCode.invalid_request, -1)]
    c.close()


def test_describe_groups_v6_unknown_group_is_an_error(shared_broker):
    """DescribeGroups v6 (KIP-1043): GROUP_ID_NOT_FOUND with a message for a group the coordinator does
    not know (kafka-consumer-groups --describe prints it); v5 still answers an empty Dead group."""
    c = WireClient(shared_broker.port)
    c.request(10, 3, {"key": "dg-none", "key_type": 0})  # FindCoordinator: this broker
    g = c.request(15, 6, {"groups": ["dg-none"], "include_authorized_operations": False}).groups[0]
    assert (g.error_code, g.error_message, g.group_state) == (ErrorCode.group_id_not_found, "Group dg-none not found.", "Dead")
    g = c.request(15, 5, {"groups": ["dg-none"], "include_authorized_operations": False}).groups[0]
    assert (g.error_code, g.group_state, g.members) == (ErrorCode.none, "Dead", ())
    # a group that exists (committed offsets, no members) is described as before
    assert _create(c, "dg-t").error_code == ErrorCode.none
    r = c.request(8, 8, {"group_id": "dg-simple", "generation_id_or_member_epoch": -1, "member_id": "",
                         "group_instance_id": None, "topics": [{"name": "dg-t", "partitions": [
                             {"partition_index": 0, "committed_offset": 0, "committed_leader_epoch": -1,
                              "committed_metadata": None}]}]})
    assert r.topics[0].partitions[0].error_code == ErrorCode.none
    g = c.request(15, 6, {"groups": ["dg-simple"], "include_authorized_operations": False}).groups[0]
    assert (g.error_code, g.error_message, g.group_state) == (ErrorCode.none, None, "Empty")
    c.close()


def test_elect_leaders_answers_as_kafka(shared_broker):
    """kafka-leader-election: asked for every partition, partitions that already have the leader
    they should are left out (the tool then prints nothing); named ones are ELECTION_NOT_NEEDED;
    unknown topics and partitions with Kafka's messages; unclean elections are understood."""
    c = WireClient(shared_broker.port)
    assert _create(c, "el-t", 2).error_code == ErrorCode.none

    def elect(etype, tps):
        r = c.request(43, 2, {"election_type": etype, "topic_partitions": tps, "timeout_ms": 5000})
        return {(t.topic, p.partition_id): (p.error_code, p.error_message) for t in r.replica_election_results
                for p in t.partition_result}

    assert elect(0, None) == {}
    assert elect(1, None) == {}
    assert elect(0, [{"topic": "el-t", "partitions": [0, 1]}]) == {
        ("el-t", 0): (ErrorCode.election_not_needed, None), ("el-t", 1): (ErrorCode.election_not_needed, None)}
    assert elect(1, [{"topic": "el-t", "partitions": [1]}]) == {("el-t", 1): (ErrorCode.election_not_needed, None)}
    assert elect(0, [{"topic": "el-t", "partitions": [7]}, {"topic": "el-none", "partitions": [0]}]) == {
        ("el-t", 7): (ErrorCode.unknown_topic_or_partition, "No such partition as el-t-7"),
        ("el-none", 0): (ErrorCode.unknown_topic_or_partition, "No such topic as el-none")}
    c.close()


def test_broker_config_synonyms_as_kafka_lists_them(shared_broker):
    """kafka-configs --describe --entity-type brokers prints each key's synonyms: source by source
    (this broker, the cluster default, static, default) over the key and its other-unit keys,
    starting at the key itself."""
    c = WireClient(shared_broker.port)
    BROKER_RESOURCE = 4

    def alter(scope, value):
        op = 0 if value is not None else 1
        r = c.request(44, 1, {"resources": [{"resource_type": BROKER_RESOURCE, "resource_name": scope, "configs": [
            {"name": "log.retention.ms", "config_operation": op, "value": value}]}], "validate_only": False})
        assert r.responses[0].error_code == ErrorCode.none

    def describe(resource_type, name, *keys):
        r = c.request(32, 4, {"resources": [{"resource_type": resource_type, "resource_name": name,
                                             "configuration_keys": list(keys)}],
                              "include_synonyms": True, "include_documentation": False})
        return {e.name: (e.value, e.config_source, [(s.name, s.value, s.source) for s in e.synonyms])
                for e in r.results[0].configs}

    assert _create(c, "syn-b").error_code == ErrorCode.none
    alter("0", "86400000000")
    alter("", "172800000000")
    try:
        got = describe(BROKER_RESOURCE, "0", "log.retention.ms", "log.retention.minutes", "log.retention.hours")
        assert got["log.retention.ms"] == ("86400000000", 2, [("log.retention.ms", "86400000000", 2),
                                                              ("log.retention.ms", "172800000000", 3),
                                                              ("log.retention.hours", "168", 5)])
        assert got["log.retention.minutes"] == (None, 5, [])
        assert got["log.retention.hours"] == ("168", 5, [("log.retention.hours", "168", 5)])
        # the cluster-wide default resource: only what was set for it, with that one synonym
        r = c.request(32, 4, {"resources": [{"resource_type": BROKER_RESOURCE, "resource_name": "",
                                             "configuration_keys": None}],
                              "include_synonyms": True, "include_documentation": False})
        got = {e.name: (e.value, e.config_source, [(s.name, s.value, s.source) for s in e.synonyms])
               for e in r.results[0].configs}
        assert got == {"log.retention.ms": ("172800000000", 3, [("log.retention.ms", "172800000000", 3)])}
        got = describe(TOPIC_RESOURCE, "syn-b", "retention.ms")
        assert got["retention.ms"] == ("86400000000", 2, [("log.retention.ms", "86400000000", 2),
                                                          ("log.retention.ms", "172800000000", 3),
                                                          ("log.retention.hours", "168", 5)])
    finally:
        alter("0", None)
        alter("", None)
    # without dynamic values: a topic's retention.ms has no synonyms (Kafka drops the hours default)
    assert describe(TOPIC_RESOURCE, "syn-b", "retention.ms")["retention.ms"] == ("604800000", 5, [])
    assert describe(BROKER_RESOURCE, "0", "log.retention.ms")["log.retention.ms"] == (None, 5, [])
    c.close()
