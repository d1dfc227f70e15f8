"""The Java client (org.apache.kafka:kafka-clients 4.4.0 and 3.9.2, from Maven Central) against a
real broker process: producer (acks 0/1/all, idempotent by default, every codec, headers, murmur2),
consumer (every codec another client wrote, seeks, offsetsForTimes, pause/resume, sync/async/auto
commits resumed exactly), classic groups (range and cooperative-sticky members joining and leaving,
a static member restarting without a rebalance) and every Admin call Odradek serves, with the errors
Kafka 4.4 gives (checked against a real Kafka broker; the differences left are in
docs/compatibility.md).

Each scenario is one JVM per client version (tests/interop/java/client/*.java, printing JSON); the
two versions run side by side. What the Java producer wrote is read back with confluent-kafka and
compared byte for byte; what the Java consumer read was written by confluent-kafka and Odradek's
own client.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from interop_clients import (
    CODECS,
    advertised_apis,
    Got,
    Rec,
    check_consumed,
    ck_consume,
    ck_create_topic,
    ck_produce,
    make_records,
    stored_batches,
    uniq,
    wait_end_offsets,
)
from java_client import PROFILES, classes, records_file, run_all, unb64
from murmur2 import partition_for
from odradek.client.murmur2 import partition_for_key
from odradek.client.sync import SyncAdmin, SyncProducer

pytestmark = pytest.mark.interop

NP = 3
TS = 1_700_000_000_000


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Both client versions compile the same sources, side by side (cached by hash)."""
    with ThreadPoolExecutor(len(PROFILES)) as pool:
        return dict(zip(PROFILES, pool.map(classes, PROFILES)))


def _got(r: dict) -> Got:
    return Got(r["partition"], r["offset"], unb64(r["key"]), unb64(r["value"]),
               tuple((k, unb64(v)) for k, v in r["headers"]), r["timestamp"])


# --- producer ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def produced(shared_broker, tmp_path_factory):
    """Every codec x acks (default = all + idempotence, 1, 0), the same 24 records each time."""
    bs = shared_broker.bootstrap
    recs = make_records("jprod", 24, ts_base=TS)
    # a null header value and an empty one, which Java keeps apart
    recs[0] = Rec(recs[0].key, recs[0].value, recs[0].headers + (("nil", None), ("empty", b"")), recs[0].timestamp)
    recs[1] = Rec(recs[1].key, recs[1].value, recs[1].headers, None)  # stamped by the producer
    path = records_file(recs, tmp_path_factory.mktemp("jprod") / "records.txt")
    prefixes = {}
    for profile in PROFILES:
        prefixes[profile] = uniq("jprod")
        for codec in CODECS:
            ck_create_topic(bs, f"{prefixes[profile]}-{codec}", NP)
    out = run_all("ProducerScenario", {p: ["--bootstrap", bs, "--prefix", prefixes[p], "--records", str(path),
                                           "--partitions", str(NP), "--codecs", ",".join(CODECS),
                                           "--acks", "default,1,0"] for p in PROFILES})
    return recs, prefixes, out


@pytest.mark.parametrize("profile", PROFILES)
def test_producer_every_codec_and_acks_read_back_exactly(produced, shared_broker, profile):
    recs, prefixes, out = produced
    bs = shared_broker.bootstrap
    runs = out[profile]["runs"]
    assert [(r["codec"], r["acks"]) for r in runs] == [(c, a) for c in CODECS for a in ("default", "1", "0")]
    for codec in CODECS:
        topic = f"{prefixes[profile]}-{codec}"
        mine = [r for r in runs if r["codec"] == codec]
        parts: list[int] = []
        for run in mine:
            sent = run["sent"]
            assert all("error" not in s for s in sent), sent
            parts += [s["partition"] for s in sent]
            if run["acks"] == "0":
                assert all(s["offset"] == -1 for s in sent), "acks=0 has no offsets"
            else:
                for r, s in zip(recs, sent):
                    if r.timestamp is not None:
                        assert s["timestamp"] == r.timestamp
        # keyed records sit where Java's murmur2 (and Odradek's own partitioner) put them
        for r, p in zip(recs * 3, parts):
            if r.key is not None:
                assert p == partition_for(r.key, NP) == partition_for_key(r.key, NP), (r.key, p)
        counts = {p: parts.count(p) for p in range(NP)}
        wait_end_offsets(bs, topic, counts)  # acks=0: the broker has them once the end offsets say so
        got = ck_consume(bs, topic, counts)
        check_consumed(recs * 3, parts, got, num_partitions=NP)
        # the offsets the producer was told are where each record is
        at = {(g.partition, g.offset): g.value for gs in got.values() for g in gs}
        for run in mine:
            if run["acks"] != "0":
                assert [at[(s["partition"], s["offset"])] for s in run["sent"]] == [r.value for r in recs]
        # a record sent without a timestamp carries the one the producer stamped and reported
        reported = {(s["partition"], s["offset"]): s["timestamp"] for run in mine if run["acks"] != "0" for s in run["sent"]}
        stamped = [g for gs in got.values() for g in gs if g.value == recs[1].value]
        assert len(stamped) == 3 and all(g.timestamp > TS for g in stamped)
        assert all(g.timestamp == reported[(g.partition, g.offset)] for g in stamped if (g.partition, g.offset) in reported)
        # the batches are stored as Java compressed them
        codecs = {b["codec"] for p in range(NP) for b in stored_batches(shared_broker.data_dir, topic, p)}
        assert codecs == {codec}, codecs


@pytest.mark.parametrize("profile", PROFILES)
def test_producer_is_idempotent_by_default(produced, shared_broker, profile):
    recs, prefixes, out = produced
    runs = out[profile]["runs"]
    described = {(d["topic"], d["partition"]): d["producers"] for d in out[profile]["describe_producers"]}
    for codec in CODECS:
        topic = f"{prefixes[profile]}-{codec}"
        default, acks1, acks0 = [r for r in runs if r["codec"] == codec]
        pid = default["producer_id"]
        # acks=all by default, with a producer id; acks 1 and 0 turn idempotence off
        assert isinstance(pid, int) and pid >= 0, default["producer_id"]
        assert acks1["producer_id"] == acks0["producer_id"] == -1
        per_partition = {p: [s["partition"] for s in default["sent"]].count(p) for p in range(NP)}
        for p in range(NP):
            batches = stored_batches(shared_broker.data_dir, topic, p)
            mine = [b for b in batches if b["producer_id"] == pid]
            others = [b for b in batches if b["producer_id"] != pid]
            # its batches carry sequence numbers from 0, one after the other
            seq = 0
            for b in mine:
                assert (b["producer_epoch"], b["base_sequence"]) == (0, seq), b
                seq += b["count"]
            assert seq == per_partition[p]
            assert all(b["producer_id"] == -1 and b["base_sequence"] == -1 for b in others), others
            # DescribeProducers (Admin) sees exactly that producer and its last sequence
            states = described[(topic, p)]
            if per_partition[p]:
                assert [(s["producer_id"], s["epoch"], s["last_sequence"]) for s in states] == [(pid, 0, per_partition[p] - 1)]
                assert states[0]["coordinator_epoch"] is None and states[0]["txn_start_offset"] is None
            else:
                assert states == []


# --- consumer ----------------------------------------------------------------------------------


def _consumer_records(tag: str) -> list[Rec]:
    """Six records per partition and round, keyless and null-valued ones included, timestamps
    increasing within each partition."""
    out = []
    for rnd in range(len(CODECS) + 1):
        for p in range(NP):
            for i in range(6):
                key = None if i == 5 else f"{tag}-{rnd}-{p}-{i}".encode()
                value = None if i == 4 else (f"{tag} round {rnd} p{p} #{i} " * 6).encode()
                hdrs = (("h", f"{rnd}.{i}".encode()), ("h", b"dup"), ("bin", bytes([i, 0, 255])))
                out.append(Rec(key, value, hdrs, TS + rnd * 1000 + i * 100 + p, p))
    return out


@pytest.fixture(scope="module")
def consumed(shared_broker):
    """A topic written by confluent-kafka (one round per codec) and Odradek's client (one round),
    then one ConsumerScenario per client version on its own copy."""
    bs = shared_broker.bootstrap
    recs = _consumer_records("jcons")
    topics, expected = {}, {}
    for profile in PROFILES:
        topic = topics[profile] = uniq("jcons")
        ck_create_topic(bs, topic, NP)
        for rnd, codec in enumerate(CODECS):
            ck_produce(bs, topic, [r for r in recs if (r.timestamp - TS) // 1000 == rnd], codec=codec)
        with SyncProducer(bs, compression="zstd") as prod:
            for r in recs:
                if (r.timestamp - TS) // 1000 == len(CODECS):
                    prod.send(topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers), timestamp=r.timestamp)
            prod.flush()
        expected = {p: [r for r in recs if r.partition == p] for p in range(NP)}
        wait_end_offsets(bs, topic, {p: len(v) for p, v in expected.items()})
    times = _time_queries()
    out = run_all("ConsumerScenario", {p: ["--bootstrap", bs, "--topic", topics[p], "--partitions", str(NP),
                                           "--group", uniq("jcons-g"), "--times", ",".join(f"{q}:{t}" for q, t in times),
                                           "--commit", "0:2,1:3,2:4"] for p in PROFILES})
    return recs, expected, topics, times, out


def _time_queries() -> list[tuple[int, int]]:
    return [
        (0, TS - 5000),          # before everything: the first record
        (1, TS + 1 + 200),       # exactly record 2 of round 0 in partition 1
        (2, TS + 2000 + 150),    # between two records: the next one
        (0, TS + 5000 + 500),    # inside the Odradek-written round
        (1, TS + 10_000_000),    # after everything: none
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_consumer_reads_every_codec_exactly(consumed, profile):
    recs, expected, topics, times, out = consumed
    res = out[profile]
    n = {p: len(v) for p, v in expected.items()}
    assert res["beginning_offsets"] == {str(p): 0 for p in range(NP)}
    assert res["end_offsets"] == {str(p): n[p] for p in range(NP)}
    assert res["partitions_for"] == NP
    got: dict[int, list[Got]] = {}
    for r in res["records"]:
        assert r["timestamp_type"] == "CreateTime" and r["leader_epoch"] == 0
        got.setdefault(r["partition"], []).append(_got(r))
    check_consumed(recs, [r.partition for r in recs], got)


@pytest.mark.parametrize("profile", PROFILES)
def test_consumer_seeks_and_offsets_for_times(consumed, profile):
    recs, expected, topics, times, out = consumed
    res = out[profile]
    for p in range(NP):
        mid = len(expected[p]) // 2
        assert res["seeks"][str(p)] == {"seek": mid, "first": mid}
        assert res["position_after_seek_to_end"][str(p)] == len(expected[p])
        assert res["position_after_seek_to_beginning"][str(p)] == 0
    for (p, ts), got in zip(times, res["offsets_for_times"]):
        want = next(((i, r.timestamp) for i, r in enumerate(expected[p]) if r.timestamp >= ts), None)
        assert (got["partition"], got["timestamp"]) == (p, ts)
        assert (None if got["offset"] is None else (got["offset"], got["found_timestamp"])) == want, (p, ts, got)


@pytest.mark.parametrize("profile", PROFILES)
def test_consumer_pause_and_resume(consumed, profile):
    recs, expected, topics, times, out = consumed
    pause = out[profile]["pause"]
    n = {p: len(v) for p, v in expected.items()}
    assert pause["paused"] == [0]
    assert pause["produced_end"] == {str(p): n[p] + 5 for p in range(NP)}
    assert sorted((r["partition"], r["offset"]) for r in pause["while_paused"]) == [
        (p, o) for p in (1, 2) for o in range(n[p], n[p] + 5)]
    assert [(r["partition"], r["offset"]) for r in pause["after_resume"]] == [(0, o) for o in range(n[0], n[0] + 5)]


@pytest.mark.parametrize("profile", PROFILES)
def test_consumer_commits_are_resumed_exactly(consumed, shared_broker, profile):
    recs, expected, topics, times, out = consumed
    res = out[profile]
    commits = res["commits"]
    end = {p: len(expected[p]) + 5 for p in range(NP)}  # after the pause test's records
    chosen = {0: 2, 1: 3, 2: 4}
    assert commits["async_callback"] == "ok"
    assert commits["committed"] == {str(p): {"offset": o, "metadata": f"meta-{p}", "leader_epoch": None} for p, o in chosen.items()}
    # a new member of the group starts exactly where the commits say
    assert commits["resumed_first_offsets"] == {str(p): o for p, o in chosen.items()}
    assert commits["resumed_counts"] == {str(p): end[p] - chosen[p] for p in range(NP)}
    # commitSync() with no arguments commits the positions, with the leader epoch
    assert commits["committed_after_sync"] == {str(p): {"offset": end[p], "metadata": "", "leader_epoch": 0} for p in range(NP)}
    assert res["auto_commit"]["committed"] == {str(p): {"offset": end[p], "metadata": "", "leader_epoch": 0} for p in range(NP)}
    # what another client sees the group committed
    with SyncAdmin(shared_broker.bootstrap) as admin:
        group = res["auto_commit"]["group"]
        seen = admin.list_group_offsets(group)
    assert {tp.partition: om.offset for tp, om in seen.items() if tp.topic == topics[profile]} == end


# --- groups ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def groups(shared_broker):
    bs = shared_broker.bootstrap
    return run_all("GroupScenario", {p: ["--bootstrap", bs, "--prefix", uniq("jgrp")] for p in PROFILES})


def _members(phase: dict) -> dict[str, list[int]]:
    return {m: v["partitions"] for m, v in phase["members"].items()}


def _generations(phase: dict) -> set[int]:
    return {v["generation"] for v in phase["members"].values()}


def _before_closing(res: dict) -> list[dict]:
    """The callbacks before the scenario closed its members: a member closing while the group
    rebalances after another one left gets onPartitionsLost, not onPartitionsRevoked (Java's rule)."""
    assert res["closing_t"] > res["phases"][-1]["t"]
    return [e for e in res["events"] if e["t"] < res["closing_t"]]


def _exactly_once(res: dict) -> None:
    seen = [(p, o) for _, p, o in res["consumed"]]
    assert len(seen) == res["produced"] == len(set(seen)), "every record consumed exactly once"
    # a commit may meet a rebalance under way (the revocation callback commits again); nothing else fails
    assert all(e[1] in ("commit after poll", "commit on close") and e[2] == "RebalanceInProgressException"
               for e in res["errors"]), res["errors"]


@pytest.mark.parametrize("profile", PROFILES)
def test_range_members_join_and_leave(groups, profile):
    res = groups[profile]["range"]
    phases = [_members(ph) for ph in res["phases"]]
    assert [ph["phase"] for ph in res["phases"]] == ["join m1", "join m2", "join m3", "m3 left"]
    assert phases[0] == {"m1": [0, 1, 2, 3, 4, 5]}
    # range hands out contiguous blocks, in member id order
    for ph, n in zip(res["phases"][1:], (2, 3, 2)):
        by_id = sorted(ph["members"].values(), key=lambda v: v["member_id"])
        blocks = [v["partitions"] for v in by_id]
        assert sum(blocks, []) == list(range(6)) and len(blocks) == n, blocks
    gens = [_generations(ph) for ph in res["phases"]]
    assert all(len(g) == 1 for g in gens) and [min(g) for g in gens] == sorted({min(g) for g in gens})
    # eager: every rebalance first revokes everything a member owned
    owned: dict[str, list[int]] = {}
    for e in _before_closing(res):
        if e["type"] == "revoked":
            assert e["partitions"] == owned.get(e["member"], []), e
            owned[e["member"]] = []
        elif e["type"] == "assigned":
            owned[e["member"]] = e["partitions"]
        else:
            raise AssertionError(f"partitions lost: {e}")
    _exactly_once(res)


@pytest.mark.parametrize("profile", PROFILES)
def test_cooperative_sticky_members_keep_their_partitions(groups, profile):
    res = groups[profile]["cooperative"]
    phases = [_members(ph) for ph in res["phases"]]
    assert phases[0] == {"m1": [0, 1, 2, 3, 4, 5]}
    assert sorted(len(v) for v in phases[1].values()) == [3, 3]
    assert sorted(len(v) for v in phases[2].values()) == [2, 2, 2]
    assert sorted(len(v) for v in phases[3].values()) == [3, 3]
    # sticky: a member keeps what it had, and only gives up what moves
    for before, after in zip(phases, phases[1:]):
        for m in set(before) & set(after):
            kept = set(before[m]) & set(after[m])
            assert kept == (set(after[m]) if len(after[m]) <= len(before[m]) else set(before[m])), (m, before, after)
    # incremental: assignments only add, revocations only name what then moves to another member
    owned: dict[str, set[int]] = {}
    for e in _before_closing(res):
        ps = set(e["partitions"])
        if e["type"] == "assigned":
            assert not ps & owned.get(e["member"], set()), e
            owned.setdefault(e["member"], set()).update(ps)
        elif e["type"] == "revoked":
            assert ps <= owned[e["member"]], e
            owned[e["member"]] -= ps
        else:
            raise AssertionError(f"partitions lost: {e}")
    # when m3 leaves, the members that stay revoke nothing
    t3, t4 = res["phases"][2]["t"], res["phases"][3]["t"]
    moved = [e for e in res["events"] if t3 < e["t"] <= t4 and e["member"] != "m3" and e["type"] == "revoked" and e["partitions"]]
    assert moved == [], moved
    _exactly_once(res)


@pytest.mark.parametrize("profile", PROFILES)
def test_static_member_restarts_without_rebalance(groups, profile):
    res = groups[profile]["static"]
    both, restarted, during = res["phases"]
    assert sorted(sum(_members(both).values(), [])) == [0, 1, 2, 3]
    # the restarted instance gets its partitions back in the same generation
    assert _members(restarted)["s2-restarted"] == _members(both)["s2"]
    assert _members(restarted)["s1"] == _members(both)["s1"]
    assert _generations(both) == _generations(restarted) and len(_generations(both)) == 1
    # the only callbacks meanwhile: the closing member's own revocation and the new one's assignment
    assert [(e["member"], e["type"]) for e in during["events_while_restarting"]] == [
        ("s2", "revoked"), ("s2-restarted", "assigned")]
    assert _members(both)["s2"] != _members(restarted)["s1"]
    # the member that closed did not leave: the group still holds two members by instance id
    d = res["described"]
    assert d["state"] == "Stable" and d["assignor"] == "range"
    assert sorted(m["instance_id"] for m in d["members"]) == ["instance-1", "instance-2"]
    assert {m["instance_id"]: m["partitions"] for m in d["members"]} == {
        "instance-1": _members(both)["s1"], "instance-2": _members(both)["s2"]}
    _exactly_once(res)


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(shared_broker):
    bs = shared_broker.bootstrap
    prefixes = {p: uniq("jadm") for p in PROFILES}
    log_dir = os.path.realpath(shared_broker.data_dir)
    out = run_all("AdminScenario", {p: ["--bootstrap", bs, "--prefix", prefixes[p], "--broker-id", "0",
                                        "--log-dir", log_dir] for p in PROFILES})
    return prefixes, log_dir, out


def _entry(value, source: str, default: bool = False, read_only: bool = False) -> dict:
    return {"value": value, "source": source, "default": default, "read_only": read_only, "sensitive": False}


def _topic_default(value) -> dict:
    return _entry(value, "DEFAULT_CONFIG", default=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_topics(admin, profile):
    prefixes, _, out = admin
    res, P = out[profile], prefixes[profile]
    a, b, c = f"{P}-a", f"{P}-b", f"{P}-c"
    created = res["create"]
    assert {t: (v["partitions"], v["replication_factor"]) for t, v in created.items()} == {a: (3, 1), b: (1, 1), c: (2, 1)}
    assert created[a]["retention.ms"] == _entry("123456789", "DYNAMIC_TOPIC_CONFIG")
    assert created[a]["cleanup.policy"] == _entry("compact", "DYNAMIC_TOPIC_CONFIG")
    assert created[b]["cleanup.policy"] == _topic_default("delete")
    assert created[b]["segment.bytes"] == _topic_default("1073741824")
    assert res["create_errors"] == {
        "exists": "TopicExistsException",
        "bad_config_value": "InvalidConfigurationException",
        "unknown_config": "InvalidConfigurationException",
        "replication_factor_too_big": "InvalidReplicationFactorException",
        "bad_name": "InvalidTopicException",
        "zero_partitions": "InvalidPartitionsException",
        "validate_only": {"partitions": 2, "listed": False},
    }
    assert {a, b, c} <= set(res["list_topics"]) and f"{P}-v" not in res["list_topics"]
    assert res["create_partitions"] == {
        "grow_a_to_5": None, "same_count": "InvalidPartitionsException", "fewer": "InvalidPartitionsException",
        "unknown_topic": "UnknownTopicOrPartitionException", "with_assignment": None, "validate_only": None}
    described = res["describe_topics"]
    assert {t: len(d["partitions"]) for t, d in described.items()} == {a: 5, b: 1, c: 3}
    assert all(p == {"partition": i, "leader": 0, "replicas": [0], "isr": [0]}
               for d in described.values() for i, p in enumerate(d["partitions"]))
    assert {t: d["topic_id"] for t, d in described.items()} == {t: created[t]["topic_id"] for t in (a, b, c)}
    assert not any(d["internal"] for d in described.values())
    # DescribeTopicPartitions paged two partitions at a time (4.x), Metadata (3.x): the same answer
    assert res["describe_topics_paged"] == {a: 5, b: 1, c: 3}
    assert res["describe_topics_unknown"]["error"] == "UnknownTopicOrPartitionException"
    assert res["describe_topics_mixed"] == {a: None, f"{P}-nope": "UnknownTopicOrPartitionException"}
    assert res["describe_topics_by_id"] == {created[a]["topic_id"]: {"name": a, "partitions": 5}}
    assert res["describe_topics_unknown_id"]["error"] == "UnknownTopicIdException"
    assert res["describe_topics_authorized"] == sorted(
        ["READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"])
    assert res["delete_topics"] == {
        "by_name": None, "by_id": None, "unknown_name": "UnknownTopicOrPartitionException",
        "unknown_id": "UnknownTopicIdException", "listed_after": {a: True, b: False, c: False}}


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_configs(admin, shared_broker, profile):
    prefixes, log_dir, out = admin
    res = out[profile]
    topic = res["describe_topic_configs"]
    assert topic["cleanup.policy"] == _entry("compact", "DYNAMIC_TOPIC_CONFIG")
    assert topic["max.message.bytes"] == _entry("200000", "DYNAMIC_TOPIC_CONFIG")
    assert topic["segment.bytes"] == _topic_default("1073741824")
    assert topic["min.insync.replicas"] == _topic_default("1")
    assert len(topic) >= 25
    syn = res["describe_topic_synonyms"]
    assert syn["synonyms"][0] == {"name": "retention.ms", "value": "123456789", "source": "DYNAMIC_TOPIC_CONFIG"}
    assert syn["type"] == "LONG" and syn["has_documentation"]
    brk = res["describe_broker_configs"]
    assert brk["broker.id"]["value"] == "0" and brk["broker.id"]["read_only"]
    assert brk["log.dirs"] == _entry(str(shared_broker.data_dir), "STATIC_BROKER_CONFIG", read_only=True)
    assert brk["message.max.bytes"] == _topic_default("1048588")
    assert res["describe_configs_unknown_topic"]["error"] == "UnknownTopicOrPartitionException"
    inc = res["incremental_alter_configs"]
    assert inc["set_delete_append"] == inc["subtract"] == inc["validate_only"] == "ok"
    after = inc["after_set_delete_append"]
    assert after["retention.ms"] == _entry("2000000", "DYNAMIC_TOPIC_CONFIG")
    assert after["max.message.bytes"] == _topic_default("1048588")  # DELETE: back to the default
    assert after["cleanup.policy"] == _entry("compact,delete", "DYNAMIC_TOPIC_CONFIG")
    assert inc["after_subtract"]["cleanup.policy"] == _entry("delete", "DYNAMIC_TOPIC_CONFIG")
    assert inc["after_validate_only"]["retention.ms"]["value"] == "2000000"
    assert (inc["unknown_key"], inc["bad_value"], inc["append_to_non_list"], inc["unknown_topic"]) == (
        "InvalidConfigurationException", "InvalidConfigurationException", "InvalidConfigurationException",
        "UnknownTopicOrPartitionException")
    # broker configs: per broker and cluster-wide, seen by topics without their own value
    assert inc["broker_set"] == inc["cluster_default_set"] == inc["broker_delete"] == inc["cluster_default_delete"] == "ok"
    assert inc["after_broker_set"] == {
        "log.retention.bytes": _entry("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG"),
        "log.retention.ms": _entry("7200000", "DYNAMIC_BROKER_CONFIG")}
    assert inc["topic_sees_broker_values"] == {
        "retention.bytes": _entry("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG"),
        "retention.ms": _entry("7200000", "DYNAMIC_BROKER_CONFIG")}
    assert inc["broker_read_only"] == "InvalidRequestException"
    assert inc["after_broker_delete"] == {
        "log.retention.bytes": _topic_default("-1"), "log.retention.ms": _topic_default(None)}
    b = f"{prefixes[profile]}-b"
    if profile == "kafka-3":
        # the legacy AlterConfigs replaces the topic's whole set of overrides (gone from the 4.x Admin)
        assert res["alter_configs_legacy"] == "ok"
        assert res["after_alter_configs_legacy"] == {
            "retention.ms": _entry("3000000", "DYNAMIC_TOPIC_CONFIG"), "segment.bytes": _entry("1048576", "DYNAMIC_TOPIC_CONFIG")}
    else:
        assert res["alter_configs_legacy"] == "absent in 4.x"
        assert res["after_alter_configs_legacy"]["segment.bytes"] == _topic_default("1073741824"), b


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_cluster_and_features(admin, shared_broker, profile):
    res = admin[2][profile]
    cl = res["describe_cluster"]
    assert cl["controller"] == 0 and len(cl["cluster_id"]) == 22
    assert cl["nodes"] == [{"id": 0, "host": "127.0.0.1", "port": shared_broker.port, "rack": None}]
    assert cl["authorized_operations"] == sorted(
        ["CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"])
    assert res["describe_features"] == {"supported": {"group.version": [0, 0], "transaction.version": [0, 0]},
                                        "finalized": {}, "epoch": 0}


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_offsets_records_log_dirs(admin, profile):
    prefixes, log_dir, out = admin
    res, a0 = out[profile], f"{prefixes[profile]}-a-0"
    base = 1_600_000_000_000

    def found(offset, ts=-1, epoch=0):
        return {"offset": offset, "timestamp": ts, "leader_epoch": epoch}

    want = {
        "earliest": found(0), "latest": found(10), "for_timestamp_exact": found(3, base + 30),
        "for_timestamp_between": found(4, base + 40), "for_timestamp_after_all": found(-1, -1, None),
        "max_timestamp": found(6, base + 5000), "earliest_local": found(0), "latest_tiered": found(-1, -1, None),
    }
    if profile == "kafka-4":
        want["earliest_pending_upload"] = found(-1, -1, None)
    assert res["list_offsets"] == want
    assert res["list_offsets_read_committed"] == {"latest": found(10)}
    (prod,) = res["describe_producers"]
    assert (prod["epoch"], prod["last_sequence"], prod["last_timestamp"]) == (0, 9, base + 90)
    assert res["delete_records"] == {
        "before_3": 3, "earliest_after": {"earliest": found(3)}, "for_deleted_timestamp": {"ts": found(3, base + 30)},
        "beyond_end": {"error": "OffsetOutOfRangeException",
                       "message": "The requested offset is not within the range of offsets maintained by the server."}}
    (dir_name, d), = res["describe_log_dirs"].items()
    assert os.path.realpath(dir_name) == log_dir and d["error"] is None and d["total_bytes"] >= d["usable_bytes"] > 0
    assert sorted(d["replicas"]) == sorted([f"{prefixes[profile]}-a-{p}" for p in range(5)] + [f"{prefixes[profile]}-b-0"]
                                            + [f"{prefixes[profile]}-c-{p}" for p in range(3)])
    assert d["replicas"][a0]["size"] > 0 and all(r["offset_lag"] == 0 and not r["future"] for r in d["replicas"].values())
    assert res["describe_replica_log_dirs"] == {"current": dir_name, "lag": 0, "future": None, "future_lag": -1}
    assert res["alter_replica_log_dirs_same"] == "ok"
    assert res["alter_replica_log_dirs_unknown_dir"] == "LogDirNotFoundException"
    # one broker leads everything: nothing to elect, nothing being reassigned
    assert res["elect_preferred"] == res["elect_unclean"] == {a0: "ElectionNotNeededException"}
    assert res["list_reassignments"] == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_groups(admin, profile):
    prefixes, _, out = admin
    res, P = out[profile], prefixes[profile]
    g1, g2, g3 = f"{P}-g1", f"{P}-g2", f"{P}-g3"
    active, empty = res["groups_active"], res["groups_empty"]
    assert res["group_member_errors"] == [] and res["list_topics_internal"] is True

    def listed(section: dict, key: str) -> dict:
        return {x["group_id"]: (x["state"], x["type"], x["simple"]) for x in section["list"][key]}

    for key in ("all", "stable", "classic") + (("consumer",) if profile == "kafka-4" else ()):
        assert listed(active, key) == {g1: ("Stable", "Classic", False), g2: ("Stable", "Classic", False)}, key
    assert listed(active, "empty") == {} and listed(active, "consumer_type") == {}
    d = active["describe"]
    assert (d["state"], d["assignor"], d["simple"], d["type"], d["coordinator"]) == ("Stable", "range", False, "Classic", 0)
    (m,) = d["members"]
    assert (m["client_id"], m["host"], m["instance_id"]) == ("admin-m1", "/127.0.0.1", None)
    assert m["partitions"] == [f"{P}-a-{p}" for p in range(5)]
    assert d["authorized_operations"] == ["DELETE", "DESCRIBE", "READ"]  # Kafka 4 adds the group config ones
    if profile == "kafka-4":
        assert active["describe_classic"] == {"protocol": "consumer", "protocol_data": "range", "state": "Stable",
                                              "simple": False, "coordinator": 0,
                                              "members": [{"member_id": m["member_id"], "client_id": "admin-m1", "partitions": 5}]}
        # ConsumerGroupDescribe is not offered: the Admin falls back on DescribeGroups v6
        assert active["describe_unknown"] == {"error": "GroupIdNotFoundException", "message": f"Group {P}-nope not found."}
    else:
        assert active["describe_unknown"]["state"] == "Dead" and active["describe_unknown"]["members"] == []
    assert active["offsets"] == {f"{P}-a-{p}": {"offset": 10 if p == 0 else 0, "metadata": ""} for p in range(5)}
    assert active["offsets_of_partitions"] == {f"{P}-a-0": 10, f"{P}-b-0": None}
    assert (active["alter_offsets"], active["delete_offsets"], active["delete_group"]) == (
        "UnknownMemberIdException", "GroupSubscribedToTopicException", "GroupNotEmptyException")
    static = active["describe_static"]
    assert [(x["instance_id"], x["partitions"]) for x in static["members"]] == [("static-1", [f"{P}-b-0"])]
    assert (active["remove_static_member"], active["remove_unknown_member"]) == (None, "UnknownMemberIdException")
    assert (active["describe_static_after_remove"]["state"], active["describe_static_after_remove"]["members"]) == ("Empty", [])

    assert (empty["describe"]["state"], empty["describe"]["members"]) == ("Empty", [])
    assert listed(empty, "empty") == {g1: ("Empty", "Classic", False), g2: ("Empty", "Classic", False)}
    assert empty["alter_offsets"] is None and empty["delete_offsets"] is None
    assert empty["offsets_after_alter"] == {f"{P}-a-0": {"offset": 4, "metadata": "set-by-admin"},
                                            **{f"{P}-a-{p}": {"offset": 0, "metadata": ""} for p in range(1, 5)}}
    assert empty["offsets_after_delete"] == {k: v for k, v in empty["offsets_after_alter"].items() if k != f"{P}-a-1"}
    assert empty["alter_offsets_new_group"] is None
    assert (empty["describe_new_group"]["state"], empty["describe_new_group"]["simple"]) == ("Empty", True)
    assert empty["delete_groups"] == {g1: None, g3: None, f"{P}-nope": "GroupIdNotFoundException"}
    assert all(v == [] for v in empty["list_after_delete"].values())
    assert empty["offsets_after_delete_group"] == {}


# Admin calls of APIs Odradek may not offer, with their API keys
OPTIONAL_CALLS = {"describe_acls": 29, "describe_client_quotas": 48, "list_transactions": 66,
                  "describe_user_scram_credentials": 50, "describe_delegation_token": 41}


@pytest.mark.parametrize("profile", PROFILES)
def test_admin_calls_odradek_does_not_offer_fail_fast(admin, shared_broker, profile):
    """An API the broker does not advertise fails at once with UnsupportedVersionException (no
    retries until a timeout); one it advertises answers (DescribeAcls without an authorizer with
    SecurityDisabledException, as Kafka)."""
    res = admin[2][profile]["unsupported"]
    advertised = advertised_apis(shared_broker.bootstrap)
    assert set(res) == set(OPTIONAL_CALLS)
    for call, key in OPTIONAL_CALLS.items():
        if key == 29 and key in advertised:
            # ACL APIs without an authorizer: Kafka's answer, SECURITY_DISABLED
            assert res[call]["error"] == "SecurityDisabledException", (call, res[call])
        elif key in advertised:
            assert isinstance(res[call], int), (call, res[call])
        else:
            assert res[call]["error"] == "UnsupportedVersionException", (call, res[call])
