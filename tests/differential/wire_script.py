"""The wire-level script of the differential test: requests built with kio, sent to one broker,
answers made plain. The same script runs against Apache Kafka and against Odradek, in order (later
cases see what earlier ones did), and the results are compared case by case.

Every case is a function ``fn(target) -> result``; the result is plain JSON data. Topic names
start with ``w-`` so that the Java part of the test (prefix ``j-``) never meets them.
"""

from __future__ import annotations

import struct
import time
from typing import Callable

from helpers import wait_for
from kafka_diff import CLOSED, Target, sort_list
from odradek.protocol import messages
from odradek.protocol.record_codec import build_batch

CASES: list[tuple[str, Callable[[Target], object]]] = []

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN, HEARTBEAT, LEAVE, SYNC, DESCRIBE_GROUPS, LIST_GROUPS = 11, 12, 13, 14, 15, 16
API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS = 18, 19, 20, 21
DESCRIBE_CONFIGS, ALTER_CONFIGS, CREATE_PARTITIONS, DELETE_GROUPS = 32, 33, 37, 42
INCREMENTAL_ALTER, OFFSET_DELETE, DESCRIBE_CLUSTER = 44, 47, 60
TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
# Record timestamps of the script: an hour ago, the same for both brokers (fixed at import). Not
# older: both brokers check retention every second in this test and would delete them.
BASE_TS = (int(time.time()) - 3600) * 1000
GROUPS = ["w-group", "w-nogroup", "w-join-errors", "w-join-v3", "w-lifecycle", "w-simple", "w-nogroup-9", "w-nogroup-8",
          "w-nogroup-9b", "w-nogroup-2", "w-nogroup-fetch", "w-nogroup-x", "w-nogroup-y", ""]  # every group the script uses


def case(name: str):
    def deco(fn):
        CASES.append((name, fn))
        return fn

    return deco


def run(target: Target) -> dict[str, object]:
    setup(target)
    out: dict[str, object] = {}
    for name, fn in CASES:
        try:
            out[name] = fn(target)
        except Exception as e:  # noqa: BLE001 - a case that breaks is a result to compare too
            out[name] = {"script error": f"{type(e).__name__}: {e}"}
    return out


# --- request builders ---------------------------------------------------------------------------


def create_request(topics: list[dict], validate_only: bool = False) -> dict:
    full = []
    for t in topics:
        full.append({"num_partitions": 1, "replication_factor": 1, "assignments": [], **t,
                     "configs": [{"name": k, "value": v} for k, v in t.get("configs", {}).items()]})
    return {"topics": full, "timeout": 10000, "validate_only": validate_only}


def create(target: Target, name: str, partitions: int = 1, rf: int = 1, configs: dict | None = None,
           version: int = 7, validate_only: bool = False, **extra):
    resp = target.call(CREATE_TOPICS, version, create_request(
        [{"name": name, "num_partitions": partitions, "replication_factor": rf, "configs": configs or {}, **extra}],
        validate_only))
    return resp if resp == CLOSED else resp["topics"]


def produce_request(topic: str, records: bytes, partition: int = 0, acks: int = -1, txn: str | None = None) -> dict:
    return {"transactional_id": txn, "acks": acks, "timeout": 10000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}


def produce(target: Target, topic: str, records: bytes, *, partition: int = 0, acks: int = -1, version: int = 9,
            messages: bool = False):
    resp = target.call(PRODUCE, version, produce_request(topic, records, partition, acks), messages=messages)
    if resp == CLOSED:
        return resp
    return resp["responses"][0]["partition_responses"][0]


def batch(records, **kw) -> bytes:
    kw.setdefault("timestamps", [BASE_TS + i for i in range(len(records))])
    return build_batch(records, **kw)


def fetch_request(topic: str, offset: int, partition: int = 0, max_bytes: int = 1 << 20, partition_max: int = 1 << 20,
                  epoch: int = -1, isolation: int = 0, topic_id=None) -> dict:
    return {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": max_bytes, "isolation_level": isolation,
            "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": topic, "topic_id": topic_id, "partitions": [{
                "partition": partition, "current_leader_epoch": epoch, "fetch_offset": offset, "log_start_offset": -1,
                "partition_max_bytes": partition_max}]}],
            "forgotten_topics_data": [], "rack_id": ""}


def batches_in(records_hex: str) -> list[tuple[int, int]]:
    """(base offset, record count) of each whole batch in a fetched records field."""
    data = bytes.fromhex(records_hex)
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if pos + 12 + length > len(data):
            out.append(("partial batch", base))
            break
        out.append((base, struct.unpack_from(">i", data, pos + 57)[0]))
        pos += 12 + length
    if 0 < len(data) - pos < 61:
        out.append(("partial batch", None))
    return out


def fetch(target: Target, topic: str, offset: int, version: int = 12, **kw):
    resp = target.call(FETCH, version, fetch_request(topic, offset, **kw))
    if resp == CLOSED:
        return resp
    p = resp["responses"][0]["partitions"][0]
    p["records"] = batches_in(p["records"] or "")
    if not p.get("aborted_transactions"):
        p["aborted_transactions"] = None  # Kafka sends [] with errors and null without: no client tells
    return {"error_code": resp["error_code"], "partition": p}


def list_offsets(target: Target, topic: str, timestamp: int, *, partition: int = 0, version: int = 9, epoch: int = -1,
                 partitions: list[dict] | None = None):
    parts = partitions or [{"partition_index": partition, "current_leader_epoch": epoch, "timestamp": timestamp}]
    resp = target.call(LIST_OFFSETS, version, {"replica_id": -1, "isolation_level": 0, "timeout": 10000,
                                               "topics": [{"name": topic, "partitions": parts}]})
    return resp if resp == CLOSED else resp["topics"]


def describe_configs(target: Target, rtype: int, name: str, keys=None, synonyms=False, version: int = 4,
                     documentation: bool = False):
    resp = target.call(DESCRIBE_CONFIGS, version, {"resources": [{"resource_type": rtype, "resource_name": name,
                                                                  "configuration_keys": keys}],
                                                   "include_synonyms": synonyms, "include_documentation": documentation})
    if resp == CLOSED:
        return resp
    r = resp["results"][0]
    r["configs"] = {c.pop("name"): c for c in r["configs"]}
    return r


def incremental(target: Target, rtype: int, name: str, ops: list[tuple[str, int, str | None]], validate_only=False):
    resp = target.call(INCREMENTAL_ALTER, 1, {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": k, "config_operation": op, "value": v} for k, op, v in ops]}], "validate_only": validate_only})
    return resp if resp == CLOSED else resp["responses"]


def partitions_with_leaders(target: Target, topic: str) -> int:
    meta = target.call(METADATA, 12, {"topics": [{"name": topic, "topic_id": None}], "allow_auto_topic_creation": False})
    return sum(1 for p in meta["topics"][0]["partitions"] if p["leader_id"] >= 0)


def broker_name(target: Target) -> str:
    return "1"  # both brokers run as node 1


# --- setup: topics the cases use, a ready group coordinator --------------------------------------


def setup(target: Target) -> None:
    for name, parts, configs in [
        ("w-main", 1, {}), ("w-two", 2, {}), ("w-compact", 1, {"cleanup.policy": "compact"}),
        ("w-small", 1, {"max.message.bytes": "300"}), ("w-offsets", 1, {}), ("w-fetch", 1, {}),
        ("w-groups", 2, {}), ("w-configs", 1, {"retention.ms": "1000000", "max.message.bytes": "20000"}),
        ("w-delete-me", 1, {}), ("w-expire", 1, {"retention.ms": "60000"}),
    ]:
        result = create(target, name, parts, configs=configs)
        assert result[0]["error_code"] == "NONE", result
    for name, parts in [("w-main", 1), ("w-two", 2), ("w-compact", 1), ("w-small", 1), ("w-offsets", 1), ("w-fetch", 1),
                        ("w-groups", 2), ("w-configs", 1)]:
        # Kafka's brokers learn a new topic a moment after CreateTopics answers
        wait_for(lambda name=name, parts=parts: partitions_with_leaders(target, name) == parts, 30, interval=0.05,
                 what=f"{name} on {target.name}")
    for i, ts in enumerate([BASE_TS + 1000, BASE_TS + 5000, BASE_TS + 3000, BASE_TS + 2000]):
        assert produce(target, "w-offsets", batch([(b"k%d" % i, b"v")], timestamps=[ts]))["error_code"] == "NONE"
    for i in range(3):
        assert produce(target, "w-fetch", batch([(b"a", b"x" * 100), (b"b", b"y" * 100)]))["error_code"] == "NONE"

    def coordinators_ready():
        # Kafka makes __consumer_offsets on first use and loads its partitions a moment later
        resp = target.call(FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": GROUPS})
        if any(c["error_code"] != "NONE" for c in resp["coordinators"]):
            return False
        return all(target.call(OFFSET_FETCH, 5, {"group_id": g, "topics": None, "require_stable": False})["error_code"] == "NONE"
                   for g in GROUPS)

    wait_for(coordinators_ready, 60, interval=0.1, what=f"the group coordinators of {target.name}")


# --- unsupported versions ------------------------------------------------------------------------


def _frame(target: Target, api_key: int, version: int, flexible: bool, body: bytes) -> bytes:
    c = target.wire()
    head = c.header(api_key, version, flexible, client_id="diff")
    c.close()
    return head + body


@case("versions.api_versions_from_the_future")
def _(t):
    resp = t.raw(_frame(t, API_VERSIONS, 99, True, b"\x00"))
    if resp == CLOSED:
        return resp
    _corr, error, n = struct.unpack_from(">ihi", resp)
    ranges = [struct.unpack_from(">hhh", resp, 10 + 6 * i) for i in range(n)]
    return {"error": error, "ranges": ranges, "has_throttle_time": len(resp) > 10 + 6 * n}


@case("versions.api_versions_v3_ranges")
def _(t):
    resp = t.call(API_VERSIONS, 3, {"client_software_name": "diff", "client_software_version": "1"})
    # Compared: the error and, for every API Odradek serves, the floor; Odradek's maxima may be
    # lower than Kafka 4.4's (the API table of docs/compatibility.md lists them), never higher.
    return {"error_code": resp["error_code"],
            "ranges": {k["api_key"]: (k["min_version"], k["max_version"]) for k in resp["api_keys"]}}


@case("versions.metadata_v99")
def _(t):
    return t.raw(_frame(t, METADATA, 99, True, b"\x00" * 8)) == CLOSED


@case("versions.fetch_v3_below_floor")
def _(t):
    return t.raw(_frame(t, FETCH, 3, False, b"\x00" * 40)) == CLOSED


@case("versions.describe_configs_v0")
def _(t):
    return t.raw(_frame(t, DESCRIBE_CONFIGS, 0, False, b"\x00\x00\x00\x00")) == CLOSED


@case("versions.unknown_api_key")
def _(t):
    return t.raw(_frame(t, 200, 0, False, b"")) == CLOSED


@case("versions.produce_v3_oldest_record_batch_version")
def _(t):
    return produce(t, "w-main", batch([(b"k", b"v")]), version=3)


# --- create, delete topics and partitions --------------------------------------------------------


@case("create_topics.bad_names")
def _(t):
    out = {}
    for label, name in [("space", "bad name"), ("too_long", "x" * 250), ("dot", "."), ("dotdot", ".."),
                        ("slash", "a/b"), ("empty", "")]:
        out[label] = [(r["error_code"], r["error_message"]) for r in t.call(
            CREATE_TOPICS, 7, create_request([{"name": name}]), messages=True)["topics"]]
    return out


@case("create_topics.counts")
def _(t):
    out = {}
    for label, parts, rf in [("zero_partitions", 0, 1), ("negative_partitions", -5, 1), ("rf_3", 1, 3),
                             ("rf_0", 1, 0), ("rf_negative", 1, -3), ("both_default", -1, -1)]:
        r = create(t, f"w-counts-{label.replace('_', '-')}", parts, rf, validate_only=True)[0]
        out[label] = {k: r[k] for k in ("error_code", "num_partitions", "replication_factor")}
    return out


@case("create_topics.configs")
def _(t):
    out = {}
    for label, configs in [("bad_policy", {"cleanup.policy": "bogus"}), ("unknown", {"no.such.config": "1"}),
                           ("not_a_number", {"retention.ms": "abc"}), ("below_minimum", {"segment.bytes": "10"}),
                           ("bad_timestamp_type", {"message.timestamp.type": "Never"}),
                           ("ratio_above_one", {"min.cleanable.dirty.ratio": "1.5"}),
                           ("null_value", {"retention.ms": None}),
                           ("min_isr_zero", {"min.insync.replicas": "0"})]:
        r = create(t, f"w-cfg-{label.replace('_', '-')}", configs=configs, validate_only=True)[0]
        out[label] = r["error_code"]
    return out


@case("create_topics.validate_only_ok")
def _(t):
    r = create(t, "w-validate", 3, configs={"retention.ms": "5000"}, validate_only=True)[0]
    r["configs"] = {c["name"]: (c["value"], c["config_source"]) for c in r["configs"]
                    if c["name"] in ("retention.ms", "cleanup.policy", "max.message.bytes", "min.insync.replicas")}
    exists = t.call(METADATA, 12, {"topics": [{"name": "w-validate", "topic_id": None}], "allow_auto_topic_creation": False})
    return {"result": r, "exists_after": exists["topics"][0]["error_code"]}


@case("create_topics.validate_only_inherited_sources")
def _(t):
    r = create(t, "w-validate-2", 1, validate_only=True)[0]
    return {c["name"]: (c["value"], c["config_source"]) for c in r["configs"]
            if c["name"] in ("retention.ms", "segment.ms", "segment.bytes", "cleanup.policy")}


@case("create_topics.existing_and_duplicates")
def _(t):
    existing = create(t, "w-main")[0]["error_code"]
    twice = t.call(CREATE_TOPICS, 7, create_request([{"name": "w-twice"}, {"name": "w-twice"}]))["topics"]
    return {"existing": existing, "twice_in_one_request": [r["error_code"] for r in twice]}


@case("create_topics.assignments")
def _(t):
    out = {}
    for label, extra in [("unknown_broker", {"assignments": [{"partition_index": 0, "broker_ids": [42]}]}),
                         ("gap", {"assignments": [{"partition_index": 1, "broker_ids": [1]}]}),
                         ("with_counts", {"num_partitions": 2, "assignments": [{"partition_index": 0, "broker_ids": [1]}]}),
                         ("repeated_broker", {"assignments": [{"partition_index": 0, "broker_ids": [1, 1]}]})]:
        body = {"name": f"w-asg-{label.replace('_', '-')}", "num_partitions": -1, "replication_factor": -1, **extra}
        out[label] = t.call(CREATE_TOPICS, 7, create_request([body], validate_only=True))["topics"][0]["error_code"]
    return out


@case("create_topics.internal_topic")
def _(t):
    return create(t, "__consumer_offsets", 1)[0]["error_code"]


@case("create_topics.v4_response")
def _(t):
    r = create(t, "w-created-v4", 2, version=4)
    return r


@case("delete_topics.unknown")
def _(t):
    by_name = t.call(DELETE_TOPICS, 5, {"topic_names": ["w-nosuch"], "timeout": 10000})
    by_id = t.call(DELETE_TOPICS, 6, {"topics": [{"name": None, "topic_id": "12345678-1234-1234-1234-123456789012"}],
                                      "timeout": 10000})
    return {"by_name": by_name["responses"], "by_id": by_id["responses"]}


@case("delete_topics.ok")
def _(t):
    r = t.call(DELETE_TOPICS, 6, {"topics": [{"name": "w-delete-me", "topic_id": None}], "timeout": 10000})
    return r["responses"]


@case("create_partitions.errors")
def _(t):
    out = {}
    for label, name, count, assignments in [("decrease", "w-two", 1, None), ("same", "w-two", 2, None),
                                            ("unknown_topic", "w-nosuch", 3, None),
                                            ("assignment_count", "w-two", 4, [[1]]),
                                            ("unknown_broker", "w-two", 3, [[42]]),
                                            ("too_many", "w-two", 200_000, None)]:
        r = t.call(CREATE_PARTITIONS, 3, {"topics": [{"name": name, "count": count, "assignments": None if assignments is None else [
            {"broker_ids": b} for b in assignments]}], "timeout": 10000, "validate_only": True})
        out[label] = r["results"][0]["error_code"]
    return out


@case("create_partitions.increase")
def _(t):
    r = t.call(CREATE_PARTITIONS, 3, {"topics": [{"name": "w-two", "count": 3, "assignments": None}],
                                      "timeout": 10000, "validate_only": False})
    try:
        wait_for(lambda: partitions_with_leaders(t, "w-two") == 3, 15, interval=0.05, what="the new partition")
        grown = True
    except AssertionError:
        grown = False
    return {"result": r["results"], "three_partitions_with_leaders": grown}


# --- configs -------------------------------------------------------------------------------------

TOPIC_KEYS = ["retention.ms", "max.message.bytes", "cleanup.policy", "segment.bytes", "segment.ms", "min.insync.replicas",
              "message.timestamp.type", "retention.bytes", "compression.type", "delete.retention.ms"]
BROKER_KEYS = ["log.retention.hours", "log.retention.ms", "num.partitions", "message.max.bytes", "log.segment.bytes",
               "offsets.topic.num.partitions", "auto.create.topics.enable", "default.replication.factor",
               "group.initial.rebalance.delay.ms", "log.cleanup.policy", "log.roll.hours", "compression.type"]


@case("describe_configs.topic_all")
def _(t):
    return describe_configs(t, TOPIC, "w-configs")


@case("describe_configs.topic_keys_with_synonyms")
def _(t):
    return describe_configs(t, TOPIC, "w-configs", TOPIC_KEYS, synonyms=True)


@case("describe_configs.topic_keys_without_synonyms")
def _(t):
    return describe_configs(t, TOPIC, "w-configs", TOPIC_KEYS, synonyms=False)


@case("describe_configs.topic_no_overrides_with_synonyms")
def _(t):
    return describe_configs(t, TOPIC, "w-main", TOPIC_KEYS, synonyms=True)


@case("describe_configs.with_documentation")
def _(t):
    return describe_configs(t, TOPIC, "w-configs", ["retention.ms", "cleanup.policy"], documentation=True)


@case("describe_configs.topic_v1_without_synonyms")
def _(t):
    return describe_configs(t, TOPIC, "w-configs", ["retention.ms", "cleanup.policy"], synonyms=False, version=1)


@case("describe_configs.unknown_key_asked")
def _(t):
    return describe_configs(t, TOPIC, "w-configs", ["no.such.config", "retention.ms"])


@case("describe_configs.unknown_topic")
def _(t):
    return describe_configs(t, TOPIC, "w-nosuch")


@case("describe_configs.broker_keys")
def _(t):
    return describe_configs(t, BROKER, broker_name(t), BROKER_KEYS, synonyms=False)


@case("describe_configs.broker_keys_with_synonyms")
def _(t):
    return describe_configs(t, BROKER, broker_name(t), BROKER_KEYS, synonyms=True)


@case("describe_configs.other_broker")
def _(t):
    return describe_configs(t, BROKER, "77", ["num.partitions"])


@case("describe_configs.cluster_default_resource")
def _(t):
    return describe_configs(t, BROKER, "", ["num.partitions"])


@case("describe_configs.broker_logger")
def _(t):
    return describe_configs(t, BROKER_LOGGER, broker_name(t), ["no.such.logger"])["error_code"]


@case("describe_configs.unknown_resource_type")
def _(t):
    return describe_configs(t, 99, "x")


@case("alter_configs.legacy")
def _(t):
    def alter(rtype, name, configs):
        r = t.call(ALTER_CONFIGS, 2, {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
            {"name": k, "value": v} for k, v in configs.items()]}], "validate_only": True})
        return r["responses"][0]["error_code"]

    return {
        "topic_ok": alter(TOPIC, "w-configs", {"retention.ms": "5000"}),
        "topic_bad_value": alter(TOPIC, "w-configs", {"retention.ms": "soon"}),
        "topic_unknown_key": alter(TOPIC, "w-configs", {"no.such.config": "1"}),
        "topic_null_value": alter(TOPIC, "w-configs", {"retention.ms": None}),
        "unknown_topic": alter(TOPIC, "w-nosuch", {"retention.ms": "5000"}),
        "broker_read_only": alter(BROKER, broker_name(t), {"broker.id": "7"}),
        "broker_dynamic": alter(BROKER, broker_name(t), {"log.retention.ms": "5000"}),
        "other_broker": alter(BROKER, "77", {"log.retention.ms": "5000"}),
    }


@case("incremental_alter.errors")
def _(t):
    def one(rtype, name, ops):
        return incremental(t, rtype, name, ops, validate_only=True)[0]["error_code"]

    SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
    return {
        "bad_value": one(TOPIC, "w-configs", [("retention.ms", SET, "abc")]),
        "unknown_key": one(TOPIC, "w-configs", [("no.such.config", SET, "1")]),
        "unknown_operation": one(TOPIC, "w-configs", [("retention.ms", 9, "1")]),
        "append_to_number": one(TOPIC, "w-configs", [("retention.ms", APPEND, "1")]),
        "append_bad_item": one(TOPIC, "w-configs", [("cleanup.policy", APPEND, "bogus")]),
        "delete_unset_key": one(TOPIC, "w-configs", [("segment.ms", DELETE, None)]),
        "delete_unknown_key": one(TOPIC, "w-configs", [("no.such.config", DELETE, None)]),
        "same_key_twice": one(TOPIC, "w-configs", [("retention.ms", SET, "1"), ("retention.ms", SET, "2")]),
        "set_null": one(TOPIC, "w-configs", [("retention.ms", SET, None)]),
        "subtract_missing": one(TOPIC, "w-configs", [("cleanup.policy", SUBTRACT, "compact")]),
        "unknown_topic": one(TOPIC, "w-nosuch", [("retention.ms", SET, "1")]),
        "broker_read_only": one(BROKER, broker_name(t), [("broker.id", SET, "3")]),
        "broker_not_dynamic": one(BROKER, broker_name(t), [("num.partitions", SET, "3")]),
        "broker_bad_value": one(BROKER, broker_name(t), [("log.retention.ms", SET, "soon")]),
        "other_broker": one(BROKER, "77", [("log.retention.ms", SET, "1")]),
    }


@case("incremental_alter.topic_then_describe")
def _(t):
    SET, DELETE = 0, 1
    results = incremental(t, TOPIC, "w-configs", [("retention.ms", SET, "7777"), ("max.message.bytes", DELETE, None)])

    def described_now():
        d = describe_configs(t, TOPIC, "w-configs", ["retention.ms", "max.message.bytes"], synonyms=True)
        return d if d["configs"]["retention.ms"]["value"] == "7777" else None

    try:
        described = wait_for(described_now, 15, interval=0.05, what="the change")  # Kafka applies it a moment later
    except AssertionError:
        described = describe_configs(t, TOPIC, "w-configs", ["retention.ms", "max.message.bytes"], synonyms=True)
    return {"results": results, "described": described}


@case("describe_cluster")
def _(t):
    r = t.call(DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": False, "endpoint_type": 1})
    return r


@case("metadata.unknown_and_bad_topics")
def _(t):
    r = t.call(METADATA, 12, {"topics": [{"name": n, "topic_id": None} for n in ("w-nosuch", "bad name", "w-main")],
                              "allow_auto_topic_creation": False})
    return {"topics": sort_list([{k: v[k] for k in ("name", "error_code", "is_internal")} for v in r["topics"]], "name"),
            "brokers": r["brokers"], "controller_id": r["controller_id"]}


# --- produce -------------------------------------------------------------------------------------


@case("produce.ok")
def _(t):
    return produce(t, "w-main", batch([(b"k", b"v")]))


@case("produce.acks")
def _(t):
    return {acks: produce(t, "w-main", batch([(b"k", b"v")]), acks=acks) for acks in (1, 2, -2)}


@case("produce.acks_0_to_unknown_topic")
def _(t):
    c = t.wire()
    try:
        payload = messages.encode_request(PRODUCE, 9, produce_request("w-nosuch", batch([(b"k", b"v")]), acks=0))
        c.send_frame(c.header(PRODUCE, 9, True) + payload)
        resp = c.request(API_VERSIONS, 3, {"client_software_name": "diff", "client_software_version": "1"})
        return "answered the next request" if resp.error_code == 0 else "error"
    except (ConnectionError, OSError):
        return CLOSED
    finally:
        c.close()


@case("produce.unknown_topic_and_partition")
def _(t):
    return {"topic": produce(t, "w-nosuch", batch([(b"k", b"v")])),
            "partition": produce(t, "w-main", batch([(b"k", b"v")]), partition=5)}


@case("produce.too_large")
def _(t):
    return produce(t, "w-small", batch([(b"k", b"x" * 500)]))


@case("produce.corrupt_crc")
def _(t):
    b = bytearray(batch([(b"k", b"v" * 20)]))
    b[-1] ^= 1
    return produce(t, "w-main", bytes(b))


@case("produce.magic_1")
def _(t):
    b = bytearray(batch([(b"k", b"v")]))
    b[16] = 1
    return produce(t, "w-main", bytes(b))


@case("produce.empty_records")
def _(t):
    return produce(t, "w-main", b"")


@case("produce.batch_without_records")
def _(t):
    return produce(t, "w-main", build_batch([], base_timestamp=BASE_TS))


@case("produce.truncated_batch")
def _(t):
    return produce(t, "w-main", batch([(b"k", b"v" * 100)])[:-10])


@case("produce.two_batches")
def _(t):
    return produce(t, "w-main", batch([(b"k", b"v")]) + batch([(b"k", b"w")]))


@case("produce.keyless_to_compacted")
def _(t):
    return produce(t, "w-compact", batch([(b"k0", b"0"), (None, b"1"), (b"k2", b"2"), (None, b"3")]), messages=True)


@case("produce.all_keyless_to_compacted")
def _(t):
    return produce(t, "w-compact", batch([(None, b"0")]), messages=True)


@case("produce.keyed_to_compacted")
def _(t):
    return produce(t, "w-compact", batch([(b"k0", b"0"), (b"k1", None)]))


@case("produce.timestamp_two_hours_ahead")
def _(t):
    now = int(time.time() * 1000)
    r = produce(t, "w-main", build_batch([(b"k", b"v")], timestamps=[now + 2 * 3600 * 1000]))
    for e in r.get("record_errors") or []:
        e.pop("batch_index_error_message", None)  # it names the broker's clock
    return r


@case("produce.transactional_batch_without_transactional_id")
def _(t):
    return produce(t, "w-main", batch([(b"k", b"v")], producer_id=5000, producer_epoch=0, base_sequence=0,
                                      is_transactional=True))


@case("produce.idempotent_sequences")
def _(t):
    pid = 424242
    return {
        "unknown_producer_sequence_5": produce(t, "w-main", batch([(b"k", b"v")], producer_id=pid, producer_epoch=0,
                                                                  base_sequence=5))["error_code"],
        "fresh_producer_sequence_0": produce(t, "w-main", batch([(b"k", b"v")], producer_id=pid + 1, producer_epoch=0,
                                                                base_sequence=0))["error_code"],
        "gap": produce(t, "w-main", batch([(b"k", b"v")], producer_id=pid + 1, producer_epoch=0, base_sequence=3)),
        "duplicate": produce(t, "w-main", batch([(b"k", b"v")], producer_id=pid + 1, producer_epoch=0,
                                                base_sequence=0))["error_code"],
        "old_epoch": produce(t, "w-main", batch([(b"k", b"v")], producer_id=pid + 1, producer_epoch=0,
                                                base_sequence=1))["error_code"],
    }


# --- fetch ---------------------------------------------------------------------------------------


@case("fetch.ok")
def _(t):
    return fetch(t, "w-fetch", 0)


@case("fetch.offset_above_end")
def _(t):
    return fetch(t, "w-fetch", 100)


@case("fetch.offset_at_end")
def _(t):
    return fetch(t, "w-fetch", 6)


@case("fetch.offset_inside_a_batch")
def _(t):
    return fetch(t, "w-fetch", 3)


@case("fetch.unknown_topic_and_partition")
def _(t):
    return {"topic": fetch(t, "w-nosuch", 0), "partition": fetch(t, "w-fetch", 0, partition=4)}


@case("fetch.unknown_topic_id")
def _(t):
    return fetch(t, "", 0, version=13, topic_id="12345678-1234-1234-1234-123456789012")


@case("fetch.max_bytes_smaller_than_a_batch")
def _(t):
    return {"request_max": fetch(t, "w-fetch", 2, max_bytes=10, partition_max=1 << 20),
            "partition_max": fetch(t, "w-fetch", 2, max_bytes=1 << 20, partition_max=10)}


@case("fetch.leader_epoch")
def _(t):
    return {"newer": fetch(t, "w-fetch", 0, epoch=7)["partition"]["error_code"],
            "current": fetch(t, "w-fetch", 0, epoch=0)["partition"]["error_code"]}


@case("fetch.read_committed")
def _(t):
    return fetch(t, "w-fetch", 0, isolation=1)


@case("fetch.offset_below_start")
def _(t):
    r = t.call(DELETE_RECORDS, 2, {"topics": [{"name": "w-fetch", "partitions": [{"partition_index": 0, "offset": 2}]}],
                                   "timeout": 10000})
    return {"delete": r["topics"], "fetch": fetch(t, "w-fetch", 0)}


@case("retention.expired_records_go")
def _(t):
    # ten minutes old with retention.ms one minute: the whole log goes, the active segment too
    r = produce(t, "w-expire", build_batch([(b"k", b"v"), (b"k", b"w")], timestamps=[BASE_TS + 3000_000] * 2))
    try:
        wait_for(lambda: list_offsets(t, "w-expire", -2)[0]["partitions"][0]["offset"] == 2, 30, interval=0.1,
                 what="retention")
    except AssertionError:
        pass
    return {"produce": r["error_code"], "earliest": list_offsets(t, "w-expire", -2), "latest": list_offsets(t, "w-expire", -1),
            "fetch_from_0": fetch(t, "w-expire", 0)["partition"]["error_code"]}


# --- list offsets and delete records --------------------------------------------------------------


@case("list_offsets.special_and_times")
def _(t):
    out = {}
    for label, ts in [("earliest", -2), ("latest", -1), ("max_timestamp", -3), ("earliest_local", -4),
                      ("latest_tiered", -5), ("earliest_pending_upload", -6), ("between", BASE_TS + 2500),
                      ("before_all", BASE_TS), ("after_all", BASE_TS + 99000), ("exact", BASE_TS + 3000)]:
        out[label] = list_offsets(t, "w-offsets", ts, version=11 if ts == -6 else 9)
    return out


@case("list_offsets.special_timestamps_by_version")
def _(t):
    out = {}
    for ts, versions in [(-3, (6, 7)), (-4, (7, 8)), (-5, (8, 9)), (-6, (9, 10, 11)), (-7, (1, 9, 11))]:
        for v in versions:
            p = list_offsets(t, "w-offsets", ts, version=v)[0]["partitions"][0]
            out[f"{ts}@v{v}"] = p["error_code"]
    return out


@case("list_offsets.errors")
def _(t):
    return {"unknown_topic": list_offsets(t, "w-nosuch", -1), "unknown_partition": list_offsets(t, "w-offsets", -1, partition=5),
            "newer_epoch": list_offsets(t, "w-offsets", -1, epoch=5), "current_epoch": list_offsets(t, "w-offsets", -1, epoch=0),
            "same_partition_twice": list_offsets(t, "w-offsets", 0, partitions=[
                {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1},
                {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -2}])}


@case("list_offsets.v1")
def _(t):
    return list_offsets(t, "w-offsets", -1, version=1)


@case("delete_records")
def _(t):
    def one(topic, offset, partition=0):
        r = t.call(DELETE_RECORDS, 2, {"topics": [{"name": topic, "partitions": [{"partition_index": partition, "offset": offset}]}],
                                       "timeout": 10000})
        return r["topics"][0]["partitions"][0]

    return {"past_high_watermark": one("w-offsets", 99), "negative": one("w-offsets", -5), "ok": one("w-offsets", 1),
            "below_start": one("w-offsets", 0), "to_high_watermark": one("w-offsets", -1),
            "unknown_topic": one("w-nosuch", 1), "unknown_partition": one("w-offsets", 1, partition=3),
            "after": list_offsets(t, "w-offsets", -2)}


# --- groups --------------------------------------------------------------------------------------


def join(t, group, member="", protocols=("range",), protocol_type="consumer", session=10000, version=7):
    return t.call(JOIN, version, {"group_id": group, "session_timeout": session, "rebalance_timeout": 10000,
                                  "member_id": member, "group_instance_id": None, "protocol_type": protocol_type,
                                  "protocols": [{"name": p, "metadata": b""} for p in protocols], "reason": None})


def sync(t, group, member, generation, assignments=()):
    return t.call(SYNC, 5, {"group_id": group, "generation_id": generation, "member_id": member, "group_instance_id": None,
                            "protocol_type": "consumer", "protocol_name": "range",
                            "assignments": [{"member_id": m, "assignment": a} for m, a in assignments]})


def heartbeat(t, group, member, generation):
    return t.call(HEARTBEAT, 4, {"group_id": group, "generation_id": generation, "member_id": member,
                                 "group_instance_id": None})["error_code"]


def commit(t, group, generation=-1, member="", topic="w-groups", partition=0, version=9, metadata=""):
    r = t.call(OFFSET_COMMIT, version, {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member,
                                        "group_instance_id": None, "retention_time": -1, "topics": [{"name": topic, "partitions": [{
                                            "partition_index": partition, "committed_offset": 3, "committed_leader_epoch": -1,
                                            "committed_metadata": metadata}]}]})
    return r["topics"][0]["partitions"][0]["error_code"]


def member_ids(resp: dict, member: str) -> dict:
    """Member ids are generated by each broker: keep only whether they are set."""
    resp = dict(resp)
    for key in ("member_id", "leader"):
        if resp.get(key):
            resp[key] = "<own id>" if resp[key] == member else "<generated>"
    resp["members"] = len(resp.get("members") or [])
    return resp


@case("groups.coordinator")
def _(t):
    r = t.call(FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": ["w-group", ""]})
    v0 = t.call(FIND_COORDINATOR, 0, {"key": "w-group"})
    return {"v4": r["coordinators"], "v0": v0}


@case("groups.coordinator_for_a_transaction")
def _(t):
    """As a client sees it: Kafka answers COORDINATOR_NOT_AVAILABLE (retriable) until it has made
    __transaction_state, Odradek makes it before it answers; both then name a coordinator."""
    deadline = time.monotonic() + 30
    while True:
        code = t.call(FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": ["w-txn"]})["coordinators"][0]["error_code"]
        if code != "COORDINATOR_NOT_AVAILABLE" or time.monotonic() > deadline:
            return code
        time.sleep(0.1)


@case("groups.unknown_group")
def _(t):
    return {
        "heartbeat": heartbeat(t, "w-nogroup", "m", 1),
        "sync": sync(t, "w-nogroup", "m", 1)["error_code"],
        "leave_v5": t.call(LEAVE, 5, {"group_id": "w-nogroup", "members": [{"member_id": "m", "group_instance_id": None}]}),
        "leave_v1": t.call(LEAVE, 1, {"group_id": "w-nogroup", "member_id": "m"}),
        "join_unknown_member": member_ids(join(t, "w-nogroup", member="bogus"), "bogus"),
    }


@case("groups.empty_group_id")
def _(t):
    return {
        "heartbeat": heartbeat(t, "", "m", 1),
        "sync": sync(t, "", "m", 1)["error_code"],
        "leave_v5": t.call(LEAVE, 5, {"group_id": "", "members": [{"member_id": "m", "group_instance_id": None}]}),
        "leave_v1": t.call(LEAVE, 1, {"group_id": "", "member_id": "m"}),
        "join": join(t, "")["error_code"],
        "offset_fetch_v5": t.call(OFFSET_FETCH, 5, {"group_id": "", "topics": None, "require_stable": False}),
        "offset_delete": t.call(OFFSET_DELETE, 0, {"group_id": "", "topics": []}),
    }


@case("groups.join_errors")
def _(t):
    return {
        "session_too_small": join(t, "w-join-errors", session=10)["error_code"],
        "session_too_large": join(t, "w-join-errors", session=10_000_000)["error_code"],
        "no_protocols": join(t, "w-join-errors", protocols=())["error_code"],
        "empty_protocol_type": join(t, "w-join-errors", protocol_type="")["error_code"],
        "empty_group_id": join(t, "")["error_code"],
        "v3_without_member_id": member_ids(join(t, "w-join-v3", version=3), ""),
    }


@case("groups.one_member_lifecycle")
def _(t):
    g = "w-lifecycle"
    out = {}
    first = join(t, g)
    member = first["member_id"]
    out["first_join"] = member_ids(first, member)
    joined = join(t, g, member=member)
    gen = joined["generation_id"]
    out["second_join"] = member_ids(joined, member)
    out["sync_wrong_generation"] = sync(t, g, member, gen + 1)["error_code"]
    out["sync_unknown_member"] = sync(t, g, "bogus", gen)["error_code"]
    out["sync"] = sync(t, g, member, gen, [(member, b"\x00\x01")])
    out["heartbeat"] = heartbeat(t, g, member, gen)
    out["heartbeat_wrong_generation"] = heartbeat(t, g, member, gen + 1)
    out["heartbeat_unknown_member"] = heartbeat(t, g, "bogus", gen)
    out["heartbeat_empty_group_id"] = heartbeat(t, "", member, gen)
    out["commit"] = commit(t, g, gen, member)
    out["commit_wrong_generation"] = commit(t, g, gen + 1, member)
    out["commit_unknown_member"] = commit(t, g, gen, "bogus")
    out["commit_simple_to_active_group"] = commit(t, g)
    out["commit_unknown_topic"] = commit(t, g, gen, member, topic="w-nosuch")
    out["commit_unknown_partition"] = commit(t, g, gen, member, partition=9)
    out["commit_metadata_too_large"] = commit(t, g, gen, member, metadata="x" * 5000)
    d = t.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})["groups"][0]
    d["members"] = [{"client_id": m["client_id"], "assignment": m["member_assignment"]} for m in d["members"]]
    out["describe_stable"] = d
    out["delete_active"] = t.call(DELETE_GROUPS, 2, {"groups_names": [g]})["results"]
    out["join_other_protocol_type"] = join(t, g, protocol_type="connect")["error_code"]
    out["leave"] = t.call(LEAVE, 5, {"group_id": g, "members": [{"member_id": member, "group_instance_id": None},
                                                               {"member_id": "bogus", "group_instance_id": None}]})
    for m in out["leave"]["members"]:
        m["member_id"] = "<own id>" if m["member_id"] == member else m["member_id"]
    out["heartbeat_after_leave"] = heartbeat(t, g, member, gen)
    out["commit_after_leave"] = commit(t, g, gen, member)
    out["describe_empty"] = t.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})["groups"]
    return out


@case("groups.commits_without_membership")
def _(t):
    return {
        "simple_new_group": commit(t, "w-simple"),
        "generation_5_unknown_group_v9": commit(t, "w-nogroup-9", 5, "m"),
        "generation_5_unknown_group_v8": commit(t, "w-nogroup-8", 5, "m", version=8),
        "generation_5_unknown_group_no_member_v9": commit(t, "w-nogroup-9b", 5, ""),
        "generation_5_unknown_group_no_member_v2": commit(t, "w-nogroup-2", 5, "", version=2),
        "empty_group_id": commit(t, ""),
        "unknown_topic": commit(t, "w-simple", topic="w-nosuch"),
    }


@case("groups.offset_fetch")
def _(t):
    v9 = t.call(OFFSET_FETCH, 9, {"groups": [
        {"group_id": "w-simple", "member_id": None, "member_epoch": -1, "topics": None},
        {"group_id": "w-nogroup-fetch", "member_id": None, "member_epoch": -1, "topics": [{"name": "w-groups", "partition_indexes": [0]}]},
        {"group_id": "w-simple", "member_id": None, "member_epoch": -1, "topics": [{"name": "w-nosuch", "partition_indexes": [0]}]},
    ], "require_stable": False})
    v5 = t.call(OFFSET_FETCH, 5, {"group_id": "w-simple", "topics": [{"name": "w-groups", "partition_indexes": [0, 7]}],
                                  "require_stable": False})
    return {"v9": v9["groups"], "v5": v5}


@case("groups.list_describe_delete")
def _(t):
    listed = t.call(LIST_GROUPS, 4, {"states_filter": []})
    listed = sort_list([g for g in listed["groups"] if g["group_id"].startswith("w-")], "group_id")
    described = t.call(DESCRIBE_GROUPS, 5, {"groups": ["w-simple", "w-nogroup-x"], "include_authorized_operations": False})
    deleted = t.call(DELETE_GROUPS, 2, {"groups_names": ["w-nogroup-x", "w-simple", "w-simple"]})
    offset_delete = t.call(OFFSET_DELETE, 0, {"group_id": "w-nogroup-y", "topics": [{"name": "w-groups", "partitions": [
        {"partition_index": 0}]}]})
    return {"list": listed, "describe": sort_list(described["groups"], "group_id"),
            "delete": sort_list(deleted["results"], "group_id"), "offset_delete_unknown_group": offset_delete}
