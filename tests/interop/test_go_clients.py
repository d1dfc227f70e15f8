"""The Go clients against a broker process: franz-go 1.22 (kgo, kadm 1.20) and IBM sarama 1.61, each
a small program from tests/interop/go (built once by go_clients.build, cached by source hash).

- produce with every codec and acks 0/1/all, with headers and timestamps, then read every partition
  back to its high watermark with the same client: keys, values, headers, offsets exactly; the
  stored batches carry the codec the client chose;
- keyed records: franz-go's default partitioner puts keys where Java's murmur2 does; sarama's
  default puts them where FNV-1a puts them (not Java's placement: docs/compatibility.md);
- consumer groups: franz-go with cooperative-sticky and sarama with range, three members, one
  leaves while records keep coming, its partitions move, and every record is consumed and
  committed exactly once (the new owner resumes at the committed offset);
- admin: kadm and sarama's ClusterAdmin through topics, partitions, configs, groups and offsets.

sarama runs configured for the newest Kafka version it knows (it then caps each request at what
the broker advertises); one test runs it at its own default version (2.8) and at 0.11.
"""

from __future__ import annotations

import time

import pytest

from go_clients import GoProcess, build, consume, produce, run
from helpers import wait_for
from interop_clients import (
    CODECS,
    Rec,
    check_consumed,
    make_records,
    stored_codecs,
    uniq,
    wait_total,
)
from murmur2 import partition_for
from test_groups_support import ck_admin, committed, create_topic, describe

pytestmark = pytest.mark.interop

CLIENTS = ["franz", "sarama"]
NP = 3


@pytest.fixture(scope="module", autouse=True)
def go_programs():
    """Built (or found in the cache) before the first test; no Go on the machine fails here, loudly."""
    return build()


def fnv1a_partition(key: bytes, n: int) -> int:
    """sarama's default (NewHashPartitioner): FNV-1a 32 of the key as a signed int32, % n, made positive."""
    h = 0x811C9DC5
    for b in key:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h & 0x80000000 else h
    return abs(signed) % n


def produce_rounds(client: str, bs: str, topic: str, codec: str, extra=()):
    """One producer per acks setting (0, 1, all), 24 records each, keyed and keyless, with headers
    and explicit timestamps; waits for each round to land so rounds cannot interleave."""
    ts_base = int(time.time() * 1000) - 3_600_000
    records: list[Rec] = []
    parts: list[int | None] = []
    for j, acks in enumerate(("0", "1", "all")):
        recs = make_records(f"{client}-{codec}-a{acks}", 24, ts_base=ts_base + j * 1000)
        out = produce(client, bs, topic, recs, codec=codec, acks=acks, extra=extra)
        records += recs
        # acks=0 reports no offsets; its partitions are the client's choice, still known
        parts += [o["partition"] for o in out]
        if acks != "0":
            assert all(o["offset"] >= 0 for o in out), out[:3]
        wait_total(bs, topic, NP, len(records))
    return records, parts


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", CLIENTS)
def test_produce_every_codec_and_acks_then_read_back_exactly(shared_broker, client, codec):
    bs = shared_broker.bootstrap
    topic = uniq(f"go-{client}-{codec}")
    create_topic(bs, topic, NP)
    records, parts = produce_rounds(client, bs, topic, codec)
    ends, got = consume(client, bs, topic, partitions=NP)
    assert sum(ends.values()) == len(records)
    # franz-go's default partitioner is Java's (murmur2) for keyed records
    check_consumed(records, parts, got, num_partitions=NP if client == "franz" else None)
    if client == "sarama":
        wrong = [(r.key, p) for r, p in zip(records, parts) if r.key is not None and p != fnv1a_partition(r.key, NP)]
        assert not wrong, f"sarama keyed records off their FNV-1a partition: {wrong[:5]}"
    assert stored_codecs(shared_broker.data_dir, topic, NP) == {codec}


@pytest.mark.parametrize("version,codec", [("default", "zstd"), ("0.11.0.0", "lz4")])
def test_sarama_at_older_versions(shared_broker, version, codec):
    """sarama picks request versions from the Kafka version it is configured for: its default (2.8)
    and 0.11, the oldest that writes record batch v2 (older ones write message format v1, which
    Kafka 4 refuses too). Produce with each acks, read back, and run a group."""
    bs = shared_broker.bootstrap
    topic = uniq(f"go-sarama-{version}")
    create_topic(bs, topic, NP)
    v = ["--version", version]
    records, parts = produce_rounds("sarama", bs, topic, codec, extra=v)
    ends, got = consume("sarama", bs, topic, partitions=NP, extra=v)
    check_consumed(records, parts, got)
    group = uniq(f"go-sarama-{version}-g")
    m = GoProcess("sarama", "group", "--brokers", bs, "--topic", topic, "--group", group, "--name", "solo", *v)
    try:
        wait_for(lambda: _consumed(m) >= len(records), 45, what="the group member read everything")
    except BaseException:
        GoProcess.abandon(m)
        raise
    lines = m.finish("leave")
    seen = [tuple(r[:2]) for x in lines if x["event"] == "records" for r in x["records"]]
    assert sorted(seen) == sorted((p, g.offset) for p, gs in got.items() for g in gs)
    assert committed(ck_admin(bs), group, topic, NP) == ends


@pytest.mark.parametrize("client", CLIENTS)
def test_keyed_records_partitioning(shared_broker, client):
    """Keys over 7 partitions with the client's default partitioner: franz-go matches Java's murmur2,
    sarama its own FNV-1a hash (docs/compatibility.md says so)."""
    bs = shared_broker.bootstrap
    topic = uniq(f"go-keys-{client}")
    n = 7
    create_topic(bs, topic, n)
    keys = [f"user-{i}".encode() for i in range(150)] + [b"", b"\x00\xff", "ключ".encode()]
    recs = [Rec(k, b"v-" + k) for k in keys]
    out = produce(client, bs, topic, recs)
    placed = {k: o["partition"] for k, o in zip(keys, out)}
    expect = partition_for if client == "franz" else fnv1a_partition
    wrong = {k: (p, expect(k, n)) for k, p in placed.items() if p != expect(k, n)}
    assert not wrong, f"{client}: keys off the expected partition (got, want): {list(wrong.items())[:5]}"
    if client == "sarama":
        # and so, for many keys, not where the Java client would put them
        assert sum(placed[k] != partition_for(k, n) for k in keys) > len(keys) // 2
    _, got = consume(client, bs, topic, partitions=n)
    assert {g.key: p for p, gs in got.items() for g in gs} == placed


# --- consumer groups ----------------------------------------------------------------------------


def _consumed(m: GoProcess) -> int:
    return sum(len(x["records"]) for x in m.where(lambda x: x["event"] == "records"))


def _owned(m: GoProcess) -> set[int]:
    """What a member holds now, from its own assigned/revoked/lost events."""
    owned: set[int] = set()
    for x in m.snapshot():
        if x["event"] == "assigned":
            owned |= set(x["partitions"] or [])
        elif x["event"] in ("revoked", "lost"):
            owned -= set(x["partitions"] or [])
    return owned


def _produce_values(client: str, bs: str, topic: str, n: int, tag: str, partitions: int) -> list[Rec]:
    recs = [Rec(None, f"{tag}-{i}".encode(), partition=i % partitions) for i in range(n)]
    produce(client, bs, topic, recs, manual=True)
    return recs


GROUP_BALANCER = {"franz": "cooperative-sticky", "sarama": "range"}


@pytest.mark.parametrize("client", CLIENTS)
def test_group_member_leaves_and_its_partitions_resume_at_the_commit(shared_broker, client):
    bs = shared_broker.bootstrap
    np_ = 6
    topic, group = uniq(f"go-grp-{client}"), uniq(f"go-g-{client}")
    create_topic(bs, topic, np_)
    admin = ck_admin(bs)
    members = [GoProcess(client, "group", "--brokers", bs, "--topic", topic, "--group", group, "--name", name,
                         "--timeout", "120") for name in ("a", "b", "c")]
    try:
        def spread():
            return sorted(len(_owned(m)) for m in members) == [2, 2, 2] and set().union(*map(_owned, members)) == set(range(np_))

        wait_for(spread, 60, what="three members with two partitions each")
        view = describe(admin, group)
        assert view.state == "STABLE" and view.assignor == GROUP_BALANCER[client]
        assert sorted(len(m.tps) for m in view.members) == [2, 2, 2]

        first = _produce_values(client, bs, topic, 300, "one", np_)
        wait_for(lambda: sum(map(_consumed, members)) >= 300, 45, what="the first 300 records consumed")
        before = {name: _owned(m) for name, m in zip("abc", members)}
        seen_before = {name: len(m.snapshot()) for name, m in zip("abc", members)}
        leaver = members[2]
        leaver.send("leave")
        # records keep coming while the group rebalances
        second = _produce_values(client, bs, topic, 300, "two", np_)
        wait_for(lambda: leaver.proc.poll() is not None, 60, what="the leaving member to exit")
        wait_for(lambda: set().union(*map(_owned, members[:2])) == set(range(np_)), 60,
                 what="the two members left holding every partition")
        # and after: the moved partitions must resume exactly at the leaver's commits
        third = _produce_values(client, bs, topic, 300, "three", np_)
        wait_for(lambda: sum(map(_consumed, members)) >= 900, 60, what="all 900 records consumed")
        if client == "franz":
            # cooperative-sticky: the stayers kept what they had and only gained
            for name, m in zip("ab", members):
                assert before[name] <= _owned(m), (name, before[name], _owned(m))
                revoked = [x for x in m.snapshot()[seen_before[name]:] if x["event"] == "revoked" and x["partitions"]]
                assert not revoked, f"member {name} had partitions revoked after the third left: {revoked}"
        ends = {p: 150 for p in range(np_)}
        wait_for(lambda: committed(admin, group, topic, np_) == ends, 30, what=f"commits at the ends {ends}")
    except BaseException:
        GoProcess.abandon(*members)
        raise
    lines = {name: m.finish("leave") for name, m in zip("abc", members)}

    errors = [x for ls in lines.values() for x in ls if x["event"].endswith("error") or x.get("commit_error")]
    assert not errors, errors[:5]
    # every record exactly once, and by partition in offset order
    seen: dict[tuple[int, int], str] = {}
    values: set[str] = set()
    dups = []
    by_member: dict[str, dict[int, list[int]]] = {}
    for name, ls in lines.items():
        for x in ls:
            if x["event"] != "records":
                continue
            for p, o, v in x["records"]:
                if (p, o) in seen:
                    dups.append((p, o, seen[(p, o)], name))
                seen[(p, o)] = name
                values.add(v)
                by_member.setdefault(name, {}).setdefault(p, []).append(o)
    assert not dups, f"records consumed twice (partition, offset, first, second): {dups[:10]}"
    assert sorted(seen) == [(p, o) for p in range(np_) for o in range(150)]
    # the leaver's partitions: the new owner started exactly after the leaver's last record
    assert before["c"]
    for p in before["c"]:
        last = max(by_member["c"][p])
        others = sorted(o for n in "ab" for o in by_member.get(n, {}).get(p, []))
        assert others and others[0] == last + 1, (p, last, others[:3])
    assert values == {r.value.decode() for r in first + second + third}


# --- admin --------------------------------------------------------------------------------------

ERR = {"UNKNOWN_TOPIC_OR_PARTITION": 3, "INVALID_TOPIC_EXCEPTION": 17, "TOPIC_ALREADY_EXISTS": 36,
       "INVALID_PARTITIONS": 37, "INVALID_REPLICATION_FACTOR": 38, "INVALID_CONFIG": 40, "ELECTION_NOT_NEEDED": 84}


def _code(step: dict) -> int | None:
    for key in ("error", "resource_error"):
        e = step.get(key)
        if e:
            return e["code"]
    for name, v in step.items():
        if isinstance(v, dict) and v.get("error"):
            return v["error"]["code"]
    return None


def _cfg(step: dict, name: str) -> tuple[str | None, str]:
    c = step["configs"][name]
    return c["value"], c["source"]


@pytest.mark.parametrize("client", CLIENTS)
def test_admin_topics_configs_groups_offsets(shared_broker, client):
    bs = shared_broker.bootstrap
    topic, group = uniq(f"go-adm-{client}"), uniq(f"go-adm-g-{client}")
    s = run(client, "admin", "--brokers", bs, "--topic", topic, "--group", group, "--timeout", "60")["steps"]
    fails = {k: v for k, v in s.items() if k.endswith("error") or k.endswith("timeout")}
    assert not fails, fails

    # topics and partitions
    assert _code(s["create"]) is None, s["create"]
    assert _code(s["create_again"]) == ERR["TOPIC_ALREADY_EXISTS"]
    assert _code(s["create_rf3"]) == ERR["INVALID_REPLICATION_FACTOR"]
    assert _code(s["create_bad_name"]) == ERR["INVALID_TOPIC_EXCEPTION"]
    assert _code(s["create_partitions"]) is None
    assert _code(s["shrink_partitions"]) == ERR["INVALID_PARTITIONS"]
    described = s["metadata" if client == "franz" else "describe"]
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2, 3, 4]
    assert all(p["leader"] == 0 and p["replicas"] == [0] and p["isr"] == [0] for p in described["partitions"])
    assert s["cluster"]["brokers"] == [0] and s["cluster"]["controller"] == 0
    if client == "franz":
        assert s["create"][topic]["partitions"] == 3 and s["create"][topic]["rf"] == 1
        assert s["list"]["present"] and len(s["list"]["partitions"]) == 3
        assert s["list"]["id"] == s["metadata"]["id"] == s["create"][topic]["id"] != "AAAAAAAAAAAAAAAAAAAAAA=="
    else:
        assert _code(s["create_validate_only"]) is None and s["list"]["validate_only_present"] is False
        assert s["list"]["partitions"] == 3 and s["list"]["configs"] == {"retention.ms": "3600000"}

    # configs: create-time, incremental set and delete, unknown name, whole-set AlterConfigs
    dynamic = "DYNAMIC_TOPIC_CONFIG" if client == "franz" else "Topic"
    default = "DEFAULT_CONFIG" if client == "franz" else "Default"
    assert _cfg(s["describe_configs"], "retention.ms") == ("3600000", dynamic)
    assert _code(s["alter_configs"]) is None
    assert _cfg(s["describe_after_alter"], "retention.ms") == ("7200000", dynamic)
    assert _cfg(s["describe_after_alter"], "max.message.bytes") == ("500000", dynamic)
    assert _code(s["delete_config"]) is None
    assert _cfg(s["describe_after_delete"], "max.message.bytes") == ("1048588", default)
    assert _code(s["alter_unknown"]) == ERR["INVALID_CONFIG"]
    assert _code(s["alter_configs_state"]) is None
    # AlterConfigs replaces the whole set: retention.ms falls back to its default
    assert _cfg(s["describe_after_state"], "cleanup.policy") == ("compact,delete", dynamic)
    assert _cfg(s["describe_after_state"], "retention.ms") == ("604800000", default)
    assert _code(s["broker_configs"]) is None
    assert s["broker_configs"]["configs"]["log.retention.hours"]["value"] == "168"

    # a group with one member that consumed and committed everything
    assert s["group_consumed"] == 30
    ends = s["end_offsets"]["offsets"]
    assert sum(ends.values()) == 30 and len(ends) == 5
    # offsets by time, log dirs, elections, reassignments
    assert s["offsets_after_future"]["offsets"] == (ends if client == "franz" else {p: -1 for p in ends})
    if client == "franz":  # kadm answers the end offset when no record is that late
        assert all(0 <= s["max_timestamp_offsets"]["offsets"][p] < e for p, e in ends.items())
    sizes = s["log_dirs"]["sizes"]
    assert sorted(sizes) == sorted(ends) and all((sizes[p] > 0) == (ends[p] > 0) for p in ends), s["log_dirs"]
    assert _code(s["elect_preferred"]) == ERR["ELECTION_NOT_NEEDED"]
    assert _code(s["list_reassignments"]) is None and s["list_reassignments"]["count"] == 0
    listed = s["list_groups"]["groups"]
    assert group in listed
    active, empty = s["describe_group_active"], s["describe_group_empty"]
    assert active["state"] == "Stable" and active["protocol_type"] == "consumer"
    assert active["protocol"] == ("cooperative-sticky" if client == "franz" else "range")
    assert [m["assigned"] for m in active["members"]] == [[0, 1, 2, 3, 4]]
    assert active["members"][0]["client_id"] == f"odradek-{client}-admin"
    assert empty["state"] == "Empty" and not empty["members"]
    assert s["fetch_offsets"]["offsets"] == ends
    if client == "franz":
        assert listed[group]["state"] == "Stable" and s["lag"]["total"] == 0
    # offsets set by the admin, records deleted below an offset, a group offset deleted
    assert _code(s["commit_offsets"]) is None
    assert s["fetch_after_commit"]["offsets"] == {**ends, "0": 1}
    assert _code(s["delete_records"]) is None
    assert s["start_offsets"]["offsets"] == {"0": 1, "1": 0, "2": 0, "3": 0, "4": 0}
    assert _code(s["delete_group_offset"]) is None
    assert s["fetch_after_offset_delete"]["offsets"] == {p: o for p, o in {**ends, "0": 1}.items() if p != "1"}
    assert _code(s["delete_group"]) is None
    assert group not in s["list_groups_after_delete"]["groups"]
    assert _code(s["delete_topic"]) is None
    assert _code(s["delete_again"]) == ERR["UNKNOWN_TOPIC_OR_PARTITION"]
    assert topic not in ck_admin(bs).list_topics(timeout=10).topics
