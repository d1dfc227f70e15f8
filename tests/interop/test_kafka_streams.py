"""Kafka Streams 4.4 against a single-node Odradek: processing.guarantee=at_least_once (the
scenario below) and exactly_once_v2 (the last test: an instance and the broker SIGKILLed while
input keeps arriving, every count exact). The application and what the tests share are in
streams_app.py.

The application (tests/interop/java/streams/StreamsWordCounts.java) splits lines into words,
re-keys them by word (the ``by-word`` repartition topic), counts per word in a key-value store
(``word-counts``, changelogged) and per word per 10-second tumbling window in a window store
(``windowed-counts``, changelogged). Input records carry explicit timestamps, so the expected
counts are computed here exactly.

Scenario: two instances (two JVMs, heap capped) join the group and split the eight tasks.
Phase 1 is fed; the test waits until the group's committed offsets reach the end of the input and
repartition topics and both outputs show the phase-1 counts, and until the broker's cleaner has
compacted the key-value store's changelog (the application asks for 100 ms segments and a dirty
ratio of 0.01 on it; the broker runs its cleaner every 100 ms). One instance is SIGKILLed; phase 2
(words old and new, timestamps in windows phase 1 already counted and in new ones) is fed; the
survivor must take every task over and end with exactly the counts of both phases. Finally the
survivor is stopped and Kafka's application reset tool (StreamsResetter) rewinds the input offsets
and deletes the internal topics.

What this proves: the internal topics Streams asks for are created with the configs it asks for
(repartition: delete, infinite retention; changelogs: compact, and compact+delete for windows);
the "stream" assignor's classic group rebalances over Odradek (join, sync, a member lost to its
session timeout); offsets committed by the dead instance are where the survivor resumes (nothing
of phase 1 is counted twice, which would show as a too-high count); the dead instance's stores
are rebuilt from their changelog topics on the survivor (a store that was not restored would
show phase-2-only counts, and the restore listener reports exactly the updates phase 1 made, or,
for the compacted changelog, fewer records but at least one per word), the Java restore consumer
reading across the offsets compaction removed;
DeleteRecords purges consumed repartition records; the reset tool's group checks, OffsetCommit and
DeleteTopics work, and deleting a topic drops the group's offsets on it.
What it does not prove: exactly-once (at_least_once may count a record twice when an instance
dies between processing and commit; the kill here falls after a commit on purpose, so the
expectation can be exact: the exactly_once_v2 test kills mid-stream); standby replicas; several
brokers (tests/cluster/test_streams_eos_cluster.py). The at_least_once test passes unchanged
against Apache Kafka 4.4 (kafka_jvm.KafkaBroker in place of the fixture's broker).
"""

from __future__ import annotations

import collections
import random
import time

import pytest

from helpers import BrokerProcess, wait_for
from interop_clients import od_read_to_end
from streams_app import (
    APP,
    CHANGELOG,
    COUNTS_OUT,
    IN,
    PARTITIONS,
    REPARTITION,
    VOCABULARY,
    WINDOW_CHANGELOG,
    WINDOW_MS,
    WINDOWED_OUT,
    Clock,
    Feeder,
    Instance,
    aborted_offsets,
    all_tasks,
    committed_updates,
    compile_app,
    kill_inside_transaction,
    make_lines,
    reference,
    run,
    stop_input_and_check_exact,
)

import kafka_jvm
from odradek.client import Admin, NewTopic, Producer, partition_for_key

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def classes():
    return compile_app()


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory):
    # the cleaner looks for work often, so the compacted changelog is cleaned within the test
    b = BrokerProcess(tmp_path_factory.mktemp("streams") / "data", overrides={"log.cleaner.backoff.ms": "100"}).start()
    yield b
    b.kill()


async def produce(bootstrap: str, lines: list[tuple[str, str, int]]) -> None:
    async with Producer(bootstrap) as p:
        futs = [await p.send(IN, line, key=key, timestamp=ts) for key, line, ts in lines]
        await p.flush()
        for f in futs:
            await f


async def latest_values(bootstrap: str, topic: str) -> dict[str, int]:
    """The last value per key in ``topic`` (read from the beginning up to its end offsets)."""
    records, _offsets = await od_read_to_end(bootstrap, topic)
    return {bytes(r.key).decode(): int.from_bytes(bytes(r.value), "big", signed=True) for r in records}


async def group_offsets(bootstrap: str) -> list:
    async with Admin(bootstrap) as admin:
        return await admin.group_lag(APP, [IN, REPARTITION])


def caught_up(bootstrap: str) -> bool:
    """Committed offsets of the group are at the end of every input and repartition partition
    (Streams commits nothing for a partition it never read from: an empty one counts as done)."""
    parts = run(group_offsets(bootstrap))
    return len(parts) == 2 * PARTITIONS and all((p.committed or 0) == p.log_end_offset for p in parts)


def outputs_match(bootstrap: str, counts: dict[str, int], windowed: dict[str, int], instances: list[Instance]) -> bool:
    for i in instances:
        i.check_alive()
    return run(latest_values(bootstrap, COUNTS_OUT)) == counts and run(latest_values(bootstrap, WINDOWED_OUT)) == windowed


# ------------------------------------------------------------------------------ the test


def test_streams_at_least_once_two_instances_one_killed(kbroker, classes, tmp_path):
    bs = kbroker.bootstrap

    async def setup():
        async with Admin(bs) as admin:
            await admin.create_topics([NewTopic(IN, partitions=PARTITIONS), NewTopic(COUNTS_OUT, partitions=1), NewTopic(WINDOWED_OUT, partitions=1)])

    run(setup())
    rng = random.Random(10)
    now = int(time.time() * 1000)
    base = now - now % WINDOW_MS - 20 * WINDOW_MS  # 20 windows back from the current one
    phase1 = make_lines(rng, 0, 300, base, 12 * WINDOW_MS, VOCABULARY[:8])
    # phase 2: windows phase 1 counted (restored state must be added to) and newer ones; new words
    phase2 = make_lines(rng, 300, 300, base + 6 * WINDOW_MS, 12 * WINDOW_MS, VOCABULARY)
    counts1, windowed1 = reference(phase1)
    counts2, windowed2 = reference(phase1 + phase2)
    assert counts1 != counts2 and set(windowed1) & set(windowed2) and set(windowed2) - set(windowed1)

    clock = Clock()
    a = Instance("a", classes, bs, tmp_path)
    b = Instance("b", classes, bs, tmp_path)
    instances = [a, b]
    try:
        # both instances own tasks: 4 input-side (0_x) and 4 stateful (1_x) tasks between them
        def split() -> bool:
            ta, tb = a.active_tasks(), b.active_tasks()
            return bool(ta and tb and sorted(ta + tb) == [f"{s}_{p}" for s in (0, 1) for p in range(PARTITIONS)])

        wait_for(split, 90, 0.2, what="two Streams instances sharing the 8 tasks")
        seen = {i.name: len(i.events()) for i in (a, b)}
        at_split = {i.name: i.active_tasks() for i in (a, b)}
        clock("two instances running")

        # Phase 1 in two halves, the second after the changelog's segment.ms (100 ms) has passed:
        # a segment rolls only when an append finds it older than that, and the cleaner never
        # touches the active segment, so on a quick machine a changelog partition written within
        # 100 ms would never be compacted (as on Kafka)
        half = len(phase1) // 2
        run(produce(bs, phase1[:half]))
        wait_for(lambda: caught_up(bs), 60, 0.3, what="committed offsets after the first half of phase 1")
        time.sleep(0.3)  # not waiting for state: the written segments must age past segment.ms
        run(produce(bs, phase1[half:]))
        wait_for(lambda: caught_up(bs), 60, 0.3, what="committed offsets at the end of input and repartition topics")
        wait_for(lambda: outputs_match(bs, counts1, windowed1, instances), 60, 0.5, what="phase-1 counts in both outputs")
        clock("phase 1 counted and committed")

        # the instance about to die must own stateful tasks, or the restore would not be tested
        wait_for(split, 60, 0.2, what="both instances running")
        victim = a if any(t.startswith("1_") for t in a.active_tasks()) else b
        survivor = b if victim is a else a
        victim_tasks = victim.active_tasks()
        victim_partitions = [int(t.split("_")[1]) for t in victim_tasks if t.startswith("1_")]
        assert victim_partitions, victim_tasks
        # the broker's cleaner compacts the key-value store's changelog (configured for it by the
        # application) before the survivor has to restore from it
        wait_for(lambda: compacted(bs, victim_partitions), 60, 0.5, what=f"{CHANGELOG} {victim_partitions} compacted")
        clock("changelog compacted")
        victim.kill()
        # the survivor's own history from the split to the kill: did it ever own a victim's store?
        before_kill = survivor.events()[seen[survivor.name]:]
        held = set(at_split[survivor.name]) | {t for e in before_kill if e["event"] == "tasks" for t in e["active"]}
        instances = [survivor]

        run(produce(bs, phase2))
        wait_for(lambda: len(survivor.active_tasks() or []) == 2 * PARTITIONS, 90, 0.3, what=f"{survivor.name} taking over {victim_tasks}")
        clock("takeover")
        wait_for(lambda: caught_up(bs), 60, 0.3, what="committed offsets at the end after the takeover")
        try:
            wait_for(lambda: outputs_match(bs, counts2, windowed2, instances), 60, 0.5, what="exact final counts")
        except AssertionError:
            got = run(latest_values(bs, COUNTS_OUT))
            wrong = {w: (got.get(w), n) for w, n in counts2.items() if got.get(w) != n}
            raise AssertionError(f"word counts (got, expected) that differ: {wrong}\n{survivor.diagnostics()}") from None

        check_restored(survivor.events()[len(before_kill) + seen[survivor.name]:], held, victim_partitions, phase1)

        check_internal_topics(bs)
        clock("final counts checked")

        # Kafka's application reset tool, once the application is stopped. Streams does not leave
        # the group on close (a restart should not rebalance), so its member stays until its
        # session times out; the tool refuses a group with members. (--force would race with
        # that expiry: the tool lists the members twice and fails if they are gone by then.)
        # Then input offsets go back to the start and the internal topics are deleted, and with
        # them the group's offsets on them.
        assert survivor.stop() in (0, 143)
        wait_for(lambda: run(_group_state(bs)) == "Empty", 30, 0.2, what="the stopped member's session to expire")
        clock("survivor stopped, group empty")
        reset = kafka_jvm.tool("org.apache.kafka.tools.StreamsResetter", "--bootstrap-server", bs,
                               "--application-id", APP, "--input-topics", IN, timeout=120)
        assert reset.returncode == 0, reset.stdout + reset.stderr
        check_reset(bs, reset.stdout)
        clock("application reset")
    except BaseException:
        for i in (a, b):
            print(i.diagnostics())
        print(kbroker.log_text())
        raise
    finally:
        for i in (a, b):
            i.kill()
            i.stop()


def updates_per_partition(lines) -> tuple[collections.Counter[int], dict[int, set[str]]]:
    """Per store partition: how many updates the words make (one changelog record each, as there
    is no record cache) and which words (keys) they update."""
    updates: collections.Counter[int] = collections.Counter()
    words: dict[int, set[str]] = collections.defaultdict(set)
    for _key, line, _ts in lines:
        for w in line.split():
            p = partition_for_key(w.encode(), PARTITIONS)
            updates[p] += 1
            words[p].add(w)
    return updates, words


async def count_records(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    """(records present, offsets spanned) of one partition: fewer records than offsets once
    compaction has removed some."""
    records, offsets = await od_read_to_end(bootstrap, topic, [partition])
    start, end = offsets[partition]
    return len([r for r in records if r.offset < end]), end - start


def compacted(bootstrap: str, partitions: list[int]) -> bool:
    return all(n < span for n, span in (run(count_records(bootstrap, CHANGELOG, p)) for p in partitions))


def check_restored(after_kill: list[dict], held: set[str], victim_partitions: list[int], phase1) -> None:
    """After the kill the survivor rebuilt the victim's stores from their changelogs: the window
    store's (not compacted) from every update phase 1 made, the key-value store's from what
    compaction left, fewer records but at least the latest of every word.

    Exact only if the survivor never held those stores while phase 1 ran: should load on the
    machine make the group rebalance then (a missed heartbeat), the survivor may keep a local copy
    of a store it gave away and restore only what it lacks. The final counts are exact either way."""
    updates, words = updates_per_partition(phase1)
    restored: collections.Counter[tuple[str, int]] = collections.Counter()
    for e in after_kill:
        if e["event"] == "restored":
            restored[(e["topic"], e["partition"])] += e["records"]
    for p in victim_partitions:
        assert updates[p] > 0 and restored[(WINDOW_CHANGELOG, p)] > 0 and restored[(CHANGELOG, p)] > 0, restored
        if f"1_{p}" in held:
            print(f"the survivor held task 1_{p} during phase 1 (a rebalance): restore counts not checked exactly")
            continue
        assert restored[(WINDOW_CHANGELOG, p)] == updates[p], (p, restored, updates)
        assert len(words[p]) <= restored[(CHANGELOG, p)] < updates[p], (p, restored, updates, words)


async def _group_state(bs: str) -> str:
    async with Admin(bs) as admin:
        return (await admin.describe_groups([APP]))[APP].state


def check_reset(bs: str, output: str) -> None:
    print(output)

    async def go():
        async with Admin(bs) as admin:
            return await admin.list_topics(), await admin.list_group_offsets(APP)

    assert "Deleting inferred internal topics" in output
    topics, _ = run(go())
    assert not [t for t in topics if t.startswith(APP + "-")], topics
    # the group's offsets on the deleted repartition topic go with it (Kafka drops them soon
    # after the deletion, not within the DeleteTopics call)
    expected = {(IN, p): 0 for p in range(PARTITIONS)}
    t0 = time.monotonic()
    wait_for(lambda: {(tp.topic, tp.partition): om.offset for tp, om in run(go())[1].items()} == expected,
             30, 0.2, what=f"the group's committed offsets to be only {expected}")
    print(f"offsets of deleted topics gone after {time.monotonic() - t0:.2f} s")


def check_internal_topics(bs: str) -> None:
    """The topics Streams created, through Odradek's admin: names, partitions, configs, purging."""

    async def go():
        async with Admin(bs) as admin:
            names = {t for t in await admin.list_topics() if t.startswith(APP + "-")}
            assert names == {REPARTITION, CHANGELOG, WINDOW_CHANGELOG}, names
            infos = await admin.describe_topics(sorted(names))
            configs = {n: {k: e.value for k, e in (await admin.describe_configs("topic", n)).items()} for n in names}
            offsets = await admin.topic_offsets(REPARTITION)
            return infos, configs, offsets

    infos, configs, offsets = run(go())
    for name, info in infos.items():
        assert len(info.partitions) == PARTITIONS, (name, info)
    rep, cl, wcl = configs[REPARTITION], configs[CHANGELOG], configs[WINDOW_CHANGELOG]
    assert (rep["cleanup.policy"], rep["retention.ms"], rep["segment.bytes"]) == ("delete", "-1", "52428800"), rep
    assert (cl["cleanup.policy"], cl["segment.ms"], cl["min.cleanable.dirty.ratio"]) == ("compact", "100", "0.01"), cl
    # window store: compact+delete, retention = window size + grace + one day of extra retention
    assert wcl["cleanup.policy"] == "compact,delete", wcl
    assert wcl["retention.ms"] == str(WINDOW_MS + 86_400_000 + 86_400_000), wcl
    for c in (rep, cl, wcl):
        assert c["message.timestamp.type"] == "CreateTime", c
    # Streams deletes repartition records it has committed (DeleteRecords): the log start moved
    assert sum(start for start, _end in offsets.values()) > 0, offsets


# ------------------------------------------------------------------------------ exactly_once_v2


@pytest.fixture
def eos_broker(tmp_path):
    """A broker of its own: the test SIGKILLs and restarts it. Timed-out transactions (the killed
    instance's) are looked for every half second instead of every ten."""
    b = BrokerProcess(tmp_path / "data", overrides={
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}).start()
    yield b
    b.kill()


def test_streams_exactly_once_v2_instance_and_broker_killed_mid_stream(eos_broker, classes, tmp_path):
    """processing.guarantee=exactly_once_v2: two instances share the tasks while input keeps
    arriving; one is SIGKILLed (its open transaction, with output, changelog and offsets in it, is
    aborted when it times out), then the broker is SIGKILLed and restarted; input never stops.
    Read with read_committed, every key's updates are exactly 1..N, N computed from the input."""
    bs = eos_broker.bootstrap
    run(_create_topics(bs))
    now = int(time.time() * 1000)
    base = now - now % WINDOW_MS - 20 * WINDOW_MS
    clock = Clock()
    a = Instance("a", classes, bs, tmp_path, "exactly_once_v2")
    b = Instance("b", classes, bs, tmp_path, "exactly_once_v2")
    feeder = None
    try:
        def split() -> bool:
            ta, tb = a.active_tasks(), b.active_tasks()
            return bool(ta and tb and sorted(ta + tb) == all_tasks())

        wait_for(split, 90, 0.2, what="two Streams instances sharing the 8 tasks")
        clock("two instances running")
        feeder = Feeder(bs, rate=40, base_ts=base, span_ms=12 * WINDOW_MS).start()
        # mid-stream: transactions have committed output, and input keeps coming
        wait_for(lambda: committed_updates(bs) >= 100, 60, 0.3, what="committed output")
        victim = a if any(t.startswith("1_") for t in a.active_tasks()) else b
        survivor = b if victim is a else a
        inside = kill_inside_transaction(victim, [eos_broker.port], lambda _topic: eos_broker.port)
        clock(f"{victim.name} killed with {feeder.delivered} lines in, inside its transaction {inside}")
        feeder.wait_for_more(80, 30, what="more input after the kill")
        eos_broker.kill()
        clock(f"broker killed with {feeder.delivered} lines in")
        eos_broker.start()
        feeder.wait_for_more(80, 60, what="input accepted by the restarted broker")
        clock("broker restarted, input flowing")
        wait_for(lambda: sorted(survivor.active_tasks() or []) == all_tasks(), 90, 0.3,
                 what=f"{survivor.name} taking over every task")
        clock("takeover")
        stop_input_and_check_exact(bs, feeder, survivor, clock)
        aborted = {t: aborted_offsets(bs, t) for t in (COUNTS_OUT, WINDOWED_OUT)}
        print(f"records of aborted transactions in the outputs: { {t: len(o) for t, o in aborted.items()} }; "
              f"the victim's open transaction aborted: { {t: inside[t] in aborted[t] for t in aborted if t in inside} }")
        clock("checked")
    except BaseException:
        for i in (a, b):
            print(i.diagnostics())
        print(eos_broker.log_text())
        raise
    finally:
        if feeder is not None:
            feeder.abandon()
        for i in (a, b):
            i.kill()
            i.stop()


async def _create_topics(bs: str) -> None:
    async with Admin(bs) as admin:
        await admin.create_topics([NewTopic(IN, partitions=PARTITIONS), NewTopic(COUNTS_OUT, partitions=1),
                                   NewTopic(WINDOWED_OUT, partitions=1)])
