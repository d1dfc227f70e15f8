"""Admin answers that follow Apache Kafka 4.4 (tests/differential compares them with Kafka itself):
config synonyms and sources, what may change at run time, CreateTopics/CreatePartitions limits and
duplicates, DescribeGroups v6."""

from __future__ import annotations

from odradek.protocol.errors import ErrorCode
from wire import WireClient

TOPIC, BROKER = 2, 4
DYNAMIC_TOPIC, DYNAMIC_BROKER, DYNAMIC_DEFAULT, STATIC, DEFAULT = 1, 2, 3, 4, 5


def _create(c, topics, validate_only=False):
    return c.request(19, 7, {"topics": [{"num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": [], **t}
                                        for t in topics], "timeout": 5000, "validate_only": validate_only}).topics


def _describe(c, rtype, name, keys, synonyms=True):
    r = c.request(32, 4, {"resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": keys}],
                          "include_synonyms": synonyms, "include_documentation": False}).results[0]
    return r, {e.name: e for e in r.configs}


def _alter(c, rtype, name, ops):
    return c.request(44, 1, {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": k, "config_operation": op, "value": v} for k, op, v in ops]}], "validate_only": False}).responses[0]


def _synonyms(entry):
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def test_config_synonyms_and_sources(shared_broker):
    c = WireClient(shared_broker.port)
    assert _create(c, [{"name": "syn", "configs": [{"name": "retention.ms", "value": "5000"},
                                                   {"name": "max.message.bytes", "value": "20000"}]}])[0].error_code == 0
    _, e = _describe(c, TOPIC, "syn", ["retention.ms", "max.message.bytes", "segment.ms", "cleanup.policy"])
    # a derived default (log.retention.hours for retention.ms) is listed only under a value set for the key
    assert _synonyms(e["retention.ms"]) == [("retention.ms", "5000", DYNAMIC_TOPIC)]
    assert _synonyms(e["max.message.bytes"]) == [("max.message.bytes", "20000", DYNAMIC_TOPIC),
                                                 ("message.max.bytes", "1048588", DEFAULT)]
    assert _synonyms(e["segment.ms"]) == [] and e["segment.ms"].config_source == DEFAULT
    assert _synonyms(e["cleanup.policy"]) == [("log.cleanup.policy", "delete", DEFAULT)]
    _, e = _describe(c, TOPIC, "syn", ["file.delete.delay.ms", "compression.zstd.level"])
    # broker keys Odradek does not implement still show their default, as Kafka shows them
    assert _synonyms(e["file.delete.delay.ms"]) == [("log.segment.delete.delay.ms", "60000", DEFAULT)]
    assert _synonyms(e["compression.zstd.level"]) == [("compression.zstd.level", "3", DEFAULT)]
    _, e = _describe(c, TOPIC, "syn", ["retention.ms"], synonyms=False)
    assert e["retention.ms"].synonyms == () and e["retention.ms"].config_source == DYNAMIC_TOPIC
    # a cluster-wide dynamic default brings the derived default along
    assert _alter(c, BROKER, "", [("log.retention.ms", 0, "600000")]).error_code == 0
    try:
        _, e = _describe(c, TOPIC, "syn", ["segment.ms"])
        r, b = _describe(c, BROKER, "0", ["log.retention.ms", "log.retention.hours", "group.initial.rebalance.delay.ms"])
        assert _synonyms(b["log.retention.ms"]) == [("log.retention.ms", "600000", DYNAMIC_DEFAULT),
                                                    ("log.retention.hours", "168", DEFAULT)]
        assert _synonyms(b["log.retention.hours"]) == [("log.retention.hours", "168", DEFAULT)]
        assert _synonyms(b["group.initial.rebalance.delay.ms"]) == [("group.initial.rebalance.delay.ms", "0", STATIC),
                                                                    ("group.initial.rebalance.delay.ms", "3000", DEFAULT)]
        # the cluster-default resource lists what was set there
        r, d = _describe(c, BROKER, "", None)
        assert r.error_code == 0 and {k: (v.value, v.config_source) for k, v in d.items()} == {
            "log.retention.ms": ("600000", DYNAMIC_DEFAULT)}
    finally:
        assert _alter(c, BROKER, "", [("log.retention.ms", 1, None)]).error_code == 0
    c.close()


def test_what_may_change_at_run_time(shared_broker):
    c = WireClient(shared_broker.port)
    _, b = _describe(c, BROKER, "0", ["num.partitions", "auto.create.topics.enable", "log.retention.ms"], synonyms=False)
    assert (b["num.partitions"].read_only, b["auto.create.topics.enable"].read_only, b["log.retention.ms"].read_only) == (
        True, True, False)
    r = _alter(c, BROKER, "0", [("auto.create.topics.enable", 0, "false")])
    assert (r.error_code, r.error_message) == (ErrorCode.invalid_request,
                                               "Cannot update these configs dynamically: [auto.create.topics.enable]")
    assert _create(c, [{"name": "rt"}])[0].error_code == 0
    assert _alter(c, TOPIC, "rt", [("retention.ms", 0, "1"), ("retention.ms", 0, "2")]).error_code == ErrorCode.invalid_request
    assert _alter(c, TOPIC, "rt", [("retention.ms", 0, None)]).error_code == ErrorCode.invalid_request
    r = _alter(c, TOPIC, "rt", [("retention.ms", 2, "5")])
    assert (r.error_code, r.error_message) == (ErrorCode.invalid_config, "Can't APPEND to key retention.ms because its type is not LIST.")
    r = _alter(c, TOPIC, "rt", [("retention.ms", 0, "soon")])
    assert r.error_message == "Invalid value soon for configuration retention.ms: Not a number of type LONG"
    r = _alter(c, TOPIC, "rt-nosuch", [("retention.ms", 0, "5")])
    assert (r.error_code, r.error_message) == (ErrorCode.unknown_topic_or_partition, "The topic 'rt-nosuch' does not exist.")
    c.close()


def test_create_topics_and_partitions_limits_and_duplicates(shared_broker):
    c = WireClient(shared_broker.port)
    twice = _create(c, [{"name": "twice"}, {"name": "twice"}])
    assert [(t.name, t.error_code) for t in twice] == [("twice", ErrorCode.invalid_request)]
    meta = c.request(3, 12, {"topics": [{"name": "twice", "topic_id": None}], "allow_auto_topic_creation": False})
    assert meta.topics[0].error_code == ErrorCode.unknown_topic_or_partition  # neither was created
    c.request(10, 4, {"key_type": 0, "coordinator_keys": ["g"]})  # makes __consumer_offsets
    assert _create(c, [{"name": "__consumer_offsets"}])[0].error_code == ErrorCode.topic_already_exists
    big = _create(c, [{"name": "big", "num_partitions": 10001}], validate_only=True)[0]
    assert (big.error_code, big.error_message) == (ErrorCode.policy_violation, "Excessively large number of partitions per request.")
    bad = _create(c, [{"name": "bad name"}])[0]
    assert bad.error_message == ("Topic name is invalid: 'bad name' contains one or more characters other than ASCII "
                                 "alphanumerics, '.', '_' and '-'")
    assert _create(c, [{"name": "grow", "num_partitions": 2}])[0].error_code == 0

    def grow(count, validate_only=True, name="grow"):
        r = c.request(37, 3, {"topics": [{"name": name, "count": count, "assignments": None}], "timeout": 5000,
                              "validate_only": validate_only}).results[0]
        return r.error_code, r.error_message

    assert grow(10001) == (ErrorCode.none, None)  # the limit is on what one request adds
    assert grow(10003) == (ErrorCode.policy_violation, "Excessively large number of additional partitions per request.")
    assert grow(2) == (ErrorCode.invalid_partitions, "Topic already has 2 partition(s).")
    assert grow(1) == (ErrorCode.invalid_partitions, "The topic grow currently has 2 partition(s); 1 would not be an increase.")
    assert grow(3, name="nosuch") == (ErrorCode.unknown_topic_or_partition, None)
    c.close()


def test_describe_groups_v6_says_group_id_not_found(shared_broker):
    c = WireClient(shared_broker.port)
    v6 = c.request(15, 6, {"groups": ["no-such-group"], "include_authorized_operations": False}).groups[0]
    assert (v6.error_code, v6.error_message, v6.group_state) == (ErrorCode.group_id_not_found, "Group no-such-group not found.", "Dead")
    v5 = c.request(15, 5, {"groups": ["no-such-group"], "include_authorized_operations": False}).groups[0]
    assert (v5.error_code, v5.group_state) == (ErrorCode.none, "Dead")
    c.close()


def test_kafka_4_topic_configs_are_accepted(shared_broker):
    """Clients may set Kafka 4's newer topic configs; they are accepted (warned about: no effect here)."""
    c = WireClient(shared_broker.port)
    configs = [{"name": "compression.gzip.level", "value": "5"}, {"name": "remote.log.copy.disable", "value": "true"}]
    assert _create(c, [{"name": "k4-configs", "configs": configs}])[0].error_code == 0
    _, e = _describe(c, TOPIC, "k4-configs", ["compression.gzip.level", "compression.zstd.level", "max.decompressed.message.bytes"])
    assert {k: (v.value, v.config_source) for k, v in e.items()} == {
        "compression.gzip.level": ("5", DYNAMIC_TOPIC), "compression.zstd.level": ("3", DEFAULT),
        "max.decompressed.message.bytes": ("2147483639", DEFAULT)}
    bad = _create(c, [{"name": "k4-bad", "configs": [{"name": "compression.gzip.level", "value": "12"}]}])[0]
    assert bad.error_code == ErrorCode.invalid_config
    c.close()


def test_documentation_only_when_asked(shared_broker):
    c = WireClient(shared_broker.port)
    for asked in (False, True):
        r = c.request(32, 4, {"resources": [{"resource_type": BROKER, "resource_name": "0", "configuration_keys": ["num.partitions"]}],
                              "include_synonyms": False, "include_documentation": asked}).results[0]
        assert (r.configs[0].documentation is not None) == asked
    c.close()
