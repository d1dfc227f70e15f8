"""Kafka's own command-line tools (4.4, from the Maven jars) against a single Odradek broker, each
command run the same way against a real Apache Kafka 4.4 broker, outputs compared after
normalizing ids, hosts, ports, timestamps and column widths (kafka_tools.normalize).

One ToolShell JVM runs every tool command of the module (the verifiable producer and consumer,
which call System.exit, get JVMs of their own). Odradek runs as broker id 1, the id of the
reference Kafka node, so leader and replica columns compare as they are.

Differences that remain are asserted as such, with the reason, and listed in docs/compatibility.md.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

import kafka_jvm
from helpers import BrokerProcess, wait_for
from kafka_tools import Result, ToolShell, normalize, tool_process

pytestmark = pytest.mark.interop

BS = "{bootstrap}"  # replaced by each broker's address


@dataclass
class Env:
    odr: BrokerProcess
    kafka: kafka_jvm.KafkaBroker
    shell: ToolShell
    root: Path

    def run(self, target: str, script: str, *args: str, stdin: str | None = None, timeout: float = 90) -> Result:
        bs = self.odr.bootstrap if target == "odr" else self.kafka.bootstrap
        return self.shell.run(script, *(a.replace(BS, bs) for a in args), stdin=stdin, timeout=timeout)

    def both(self, script: str, *args: str, stdin: str | None = None) -> tuple[Result, Result]:
        return self.run("odr", script, *args, stdin=stdin), self.run("kafka", script, *args, stdin=stdin)

    def paths(self) -> dict[str, str]:
        return {str(self.odr.data_dir): "<log-dir>", str(self.kafka.data_dir): "<log-dir>"}

    def same(self, script: str, *args: str, stdin: str | None = None, sort: bool = False,
             err: bool = False, code: int | None = 0) -> tuple[Result, Result]:
        """Run against both; the exit codes (``code`` unless None) and the normalized outputs must
        be equal (``err``: stderr too)."""
        ro, rk = self.both(script, *args, stdin=stdin)
        if code is not None:
            assert ro.code == code, f"{script} {' '.join(args)}: exit {ro.code}\n{ro.out}\n{ro.err[-3000:]}"
        o, k = normalize(ro.out, paths=self.paths()), normalize(rk.out, paths=self.paths())
        if err:
            o += normalize(ro.err, paths=self.paths())
            k += normalize(rk.err, paths=self.paths())
        if sort:
            o, k = sorted(o), sorted(k)
        assert (ro.code, o) == (rk.code, k), (
            f"{script} {' '.join(args)}\n--- Odradek (exit {ro.code}):\n{ro.out}{ro.err[-2000:]}\n"
            f"--- Apache Kafka (exit {rk.code}):\n{rk.out}{rk.err[-2000:]}\n"
            f"--- Odradek's log ends:\n{self.odr.log_text()[-1500:]}"
        )
        return ro, rk


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    kafka = kafka_jvm.KafkaBroker(root / "kafka-data")
    failed: list[BaseException] = []

    def start_kafka():
        try:
            kafka.start()
        except BaseException as e:  # noqa: BLE001 - reported below
            failed.append(e)

    starter = threading.Thread(target=start_kafka)
    starter.start()
    odr = BrokerProcess(root / "odr-data", broker_id=1).start()
    shell = ToolShell()
    starter.join()
    e = Env(odr, kafka, shell, root)
    try:
        if failed:
            raise failed[0]
        # A KRaft controller with eligible leader replicas (Kafka 4's default) sets the cluster-wide
        # min.insync.replicas when it is not set, so every topic lists it: set the same on Odradek.
        e.run("odr", "kafka-configs", "--bootstrap-server", BS, "--alter", "--entity-type", "brokers",
              "--entity-default", "--add-config", "min.insync.replicas=1").ok()
        yield e
    finally:
        print("tools: " + shell.timings())
        shell.close()
        odr.kill()
        kafka.stop()


def produce_timed(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes, int, int]]) -> None:
    """(key, value, partition, timestamp ms) records, through librdkafka, acks=all."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False})
    errors = []
    for key, value, partition, ts in records:
        p.produce(topic, value=value, key=key, partition=partition, timestamp=ts,
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0 and not errors, errors


def iso(ms: int) -> str:
    """--to-datetime's format, in UTC (without a zone the tool reads the machine's local time)."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- kafka-topics -------------------------------------------------------------------------------


def _sorted_configs(lines: list[str]) -> list[str]:
    """TopicCommand prints a topic's overrides in the order the broker lists them (a Java hash
    order on Kafka, name order on Odradek): compare them as a set."""
    out = []
    for line in lines:
        m = re.match(r"(.*Configs: )(.*)$", line)
        if m and m.group(2):
            items = re.split(r",(?=[a-z][a-z0-9.]*=)", m.group(2))
            line = m.group(1) + ",".join(sorted(items))
        out.append(line)
    return out


def test_kafka_topics(env):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "tt-orders", "--partitions", "3",
             "--replication-factor", "1", "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact,delete")
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "tt-plain")
    env.same("kafka-topics", "--bootstrap-server", BS, "--list", "--topic", "tt-.*")
    ro, rk = env.both("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-orders")
    assert ro.code == rk.code == 0
    o, k = _sorted_configs(normalize(ro.out)), _sorted_configs(normalize(rk.out))
    assert o == k
    assert o[0] == ("Topic: tt-orders TopicId: <id> PartitionCount: 3 ReplicationFactor: 1 Configs: "
                    "cleanup.policy=compact,delete,min.insync.replicas=1,retention.ms=3600000")
    assert o[3] == "Topic: tt-orders Partition: 2 Leader: 1 Replicas: 1 Isr: 1 Elr: LastKnownElr:"

    env.same("kafka-topics", "--bootstrap-server", BS, "--alter", "--topic", "tt-orders", "--partitions", "5")
    ro, rk = env.both("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-.*", "--topics-with-overrides")
    assert _sorted_configs(normalize(ro.out)) == _sorted_configs(normalize(rk.out))
    assert "PartitionCount: 5" in ro.out
    env.same("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-orders", "--partition-size-limit-per-response", "2")
    for flag in ("--under-replicated-partitions", "--unavailable-partitions", "--under-min-isr-partitions"):
        ro, _ = env.same("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-.*", flag)
        assert ro.out == ""
    # one broker, min.insync.replicas=1: every partition is at its minimum ISR
    ro, _ = env.same("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-.*", "--at-min-isr-partitions")
    assert len(ro.lines) == 6

    # errors: the same message and exit code
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "tt-orders", code=1)
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--if-not-exists", "--topic", "tt-orders")
    env.same("kafka-topics", "--bootstrap-server", BS, "--describe", "--topic", "tt-missing", code=1)
    env.same("kafka-topics", "--bootstrap-server", BS, "--alter", "--topic", "tt-orders", "--partitions", "2", code=1)
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "tt-bad", "--config", "retention.ms=soon", code=1)
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "bad/name", code=1)

    env.same("kafka-topics", "--bootstrap-server", BS, "--delete", "--topic", "tt-plain")
    wait_for(lambda: "tt-plain" not in env.run("odr", "kafka-topics", "--bootstrap-server", BS, "--list").ok().lines, 15,
             what="tt-plain deleted")
    env.same("kafka-topics", "--bootstrap-server", BS, "--list", "--topic", "tt-.*")


def test_kafka_topics_replication_factor_above_brokers(env):
    """Worded as Kafka 4.4 (KRaft) words it."""
    ro, rk = env.both("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "tt-rf2", "--replication-factor", "2")
    assert ro.code == rk.code == 1
    expected = ("Unable to replicate the partition 2 time(s): The target replication factor of 2 cannot be reached "
                "because only 1 broker(s) are registered")
    assert expected in ro.out and expected in rk.out, (ro.out, rk.out)


# --- kafka-configs ------------------------------------------------------------------------------


def test_kafka_configs_topic(env):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "cfg-t", "--partitions", "1")
    cfg = ("kafka-configs", "--bootstrap-server", BS, "--entity-type", "topics", "--entity-name", "cfg-t")
    env.same(*cfg, "--describe")
    env.same(*cfg, "--alter", "--add-config", "cleanup.policy=[compact,delete],max.message.bytes=2000000")
    ro, _ = env.same(*cfg, "--describe", sort=True)
    assert "  max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, " \
           "DEFAULT_CONFIG:message.max.bytes=1048588}" in ro.out
    env.same(*cfg, "--alter", "--delete-config", "cleanup.policy")
    env.same(*cfg, "--describe")
    env.same(*cfg, "--alter", "--delete-config", "segment.ms")  # not set: nothing to delete, no error
    # refused changes: the same exit code and exception class; messages compared where Kafka's are stable
    for bad in ("foo.bar=1", "cleanup.policy=bogus", "retention.ms=abc", "unclean.leader.election.enable=maybe",
                "min.cleanable.dirty.ratio=2"):
        ro, rk = env.both(*cfg, "--alter", "--add-config", bad)
        assert ro.code == rk.code == 1
        assert _cause(ro.err) == _cause(rk.err), bad
    ro, rk = env.both("kafka-configs", "--bootstrap-server", BS, "--entity-type", "topics", "--entity-name", "cfg-none",
                      "--alter", "--add-config", "retention.ms=1")
    assert ro.code == rk.code == 1 and _cause(ro.err) == _cause(rk.err)
    env.same("kafka-configs", "--bootstrap-server", BS, "--entity-type", "topics", "--entity-name", "cfg-none", "--describe")

    # --all: every topic config with its value, source and synonyms; Odradek's set of names is its
    # own (Kafka 4.4 has tiered-storage and compression-level keys Odradek does not implement)
    ro, rk = env.both(*cfg, "--describe", "--all")
    assert ro.code == rk.code == 0
    o = {line.split("=")[0].strip(): line.strip() for line in ro.lines[1:]}
    k = {line.split("=")[0].strip(): line.strip() for line in rk.lines[1:]}
    common = sorted(set(o) & set(k) - KNOWN_TOPIC_SYNONYM_DIFFERENCES)
    assert len(common) >= 22
    assert [o[n] for n in common] == [k[n] for n in common]


# Topic configs Kafka 4.4 shows differently (docs/compatibility.md): message.timestamp.after.max.ms
# defaults to one hour since Kafka 4.0 (Odradek keeps 3.x's unlimited default and does not check it).
KNOWN_TOPIC_SYNONYM_DIFFERENCES = {"message.timestamp.after.max.ms"}


def _cause(err: str) -> str:
    """The exception class and message a tool reports as the cause."""
    causes = re.findall(r"Caused by: ([\w.]+Exception): (.*)", err)
    return causes[-1] if causes else err.strip().splitlines()[-1:]


def test_kafka_configs_broker(env):
    brokers = ("kafka-configs", "--bootstrap-server", BS, "--entity-type", "brokers")
    env.same(*brokers, "--entity-name", "1", "--describe")
    env.same(*brokers, "--describe")
    env.same(*brokers, "--entity-name", "1", "--alter", "--add-config", "log.retention.ms=7200000")
    env.same(*brokers, "--entity-default", "--alter", "--add-config", "log.cleaner.delete.retention.ms=3600000")
    ro, _ = env.same(*brokers, "--describe")
    assert "log.cleaner.delete.retention.ms=3600000" in ro.out
    # a topic without overrides takes the cluster default: described with its source
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "cfg-b")
    ro, rk = env.both("kafka-configs", "--bootstrap-server", BS, "--entity-type", "topics", "--entity-name", "cfg-b",
                      "--describe", "--all")
    line = "delete.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:" \
           "log.cleaner.delete.retention.ms=3600000, DEFAULT_CONFIG:log.cleaner.delete.retention.ms=86400000}"
    assert line in normalize(ro.out) and line in normalize(rk.out)
    env.same(*brokers, "--entity-name", "1", "--alter", "--delete-config", "log.retention.ms")
    env.same(*brokers, "--entity-default", "--alter", "--delete-config", "log.cleaner.delete.retention.ms")
    env.same(*brokers, "--describe")
    env.same(*brokers, "--entity-name", "7", "--describe")
    # a static-only key: refused alike (Odradek lets a few more keys change at run time than Kafka
    # does, e.g. num.partitions; docs/compatibility.md lists them)
    ro, rk = env.both(*brokers, "--entity-name", "1", "--alter", "--add-config", "offsets.topic.num.partitions=3")
    assert ro.code == rk.code == 1 and _cause(ro.err) == _cause(rk.err)


# --- console producer and consumer --------------------------------------------------------------


def test_console_producer_and_consumer(env):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "con-t", "--partitions", "2")
    env.same("kafka-console-producer", "--bootstrap-server", BS, "--topic", "con-t",
             "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
             stdin="alice:pizza\nbob:sushi\ncarol:tacos\n")
    env.same("kafka-console-producer", "--bootstrap-server", BS, "--topic", "con-t",
             "--reader-property", "parse.key=true", "--reader-property", "parse.headers=true",
             "--command-property", "acks=1", stdin="origin:web,trace:42\tdave\tramen\n")
    read = ("kafka-console-consumer", "--bootstrap-server", BS, "--topic", "con-t", "--timeout-ms", "20000")
    ro, _ = env.same(*read, "--from-beginning", "--max-messages", "4", "--formatter-property", "print.key=true",
                     "--formatter-property", "print.headers=true", "--formatter-property", "print.partition=true",
                     "--formatter-property", "print.offset=true", "--formatter-property", "print.timestamp=true",
                     "--formatter-property", "key.separator=|", sort=True)
    # keys land where the Java client's murmur2 puts them, on both; the separator goes between every field
    from odradek.client import partition_for_key

    rows = sorted(line.split("|") for line in normalize(ro.out))
    assert sorted((r[4], r[5]) for r in rows) == [("alice", "pizza"), ("bob", "sushi"), ("carol", "tacos"),
                                                  ("dave", "ramen")]
    placed = {r[4]: (int(r[1].split(":")[1]), int(r[2].split(":")[1]), r[3]) for r in rows}
    for key in ("alice", "bob", "carol", "dave"):
        headers = "origin:web,trace:42" if key == "dave" else "NO_HEADERS"
        assert placed[key][::2] == (partition_for_key(key.encode(), 2), headers), ro.out
    partition, offset, _ = placed["carol"]
    ro, _ = env.same(*read, "--partition", str(partition), "--offset", str(offset), "--max-messages", "1",
                     "--formatter-property", "print.key=true")
    assert normalize(ro.out) == ["carol tacos"]
    first_two = [v for _, v in sorted((placed[k][1], v) for k, v in
                                      [("alice", "pizza"), ("bob", "sushi"), ("carol", "tacos"), ("dave", "ramen")]
                                      if placed[k][0] == 0)][:2]
    ro, _ = env.same(*read, "--partition", "0", "--offset", "earliest", "--max-messages", "2")
    assert normalize(ro.out) == first_two
    # in a group: commits, so a second run from the committed offsets finds nothing new
    ro, _ = env.same(*read, "--group", "con-g", "--from-beginning", "--max-messages", "4", sort=True)
    assert sorted(normalize(ro.out)) == ["pizza", "ramen", "sushi", "tacos"]
    ro, rk = env.both("kafka-console-consumer", "--bootstrap-server", BS, "--topic", "con-t", "--group", "con-g",
                      "--timeout-ms", "2000")
    assert ro.out == rk.out == "" and "Processed a total of 0 messages" in ro.err and ro.code == rk.code
    env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", "con-g", sort=True)


# --- kafka-consumer-groups ----------------------------------------------------------------------

DAY = 86_400_000


@pytest.fixture(scope="module")
def timed_topic(env):
    """grp-t: partition 0 holds records 5, 4, 3, 2 and 1 days old (offsets 0-4), partition 1 two
    records an hour old; the same on both brokers, so offsets by time are known."""
    now = int(time.time() * 1000)
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "grp-t", "--partitions", "2")
    records = [(b"k%d" % i, b"v%d" % i, 0, now - (5 - i) * DAY) for i in range(5)]
    records += [(None, b"w%d" % i, 1, now - 3_600_000) for i in range(2)]
    for bootstrap in (env.odr.bootstrap, env.kafka.bootstrap):
        produce_timed(bootstrap, "grp-t", records)
    return now


def test_consumer_groups_reset_offsets_every_mode(env, timed_topic):
    now = timed_topic
    # a group with committed offsets at the end (consumed everything)
    ro, _ = env.same("kafka-console-consumer", "--bootstrap-server", BS, "--topic", "grp-t", "--group", "grp-a",
                     "--from-beginning", "--max-messages", "7", "--timeout-ms", "20000", sort=True)
    assert len(ro.lines) == 7
    reset = ("kafka-consumer-groups", "--bootstrap-server", BS, "--group", "grp-a", "--reset-offsets")

    def new_offsets(result: Result) -> dict[tuple[str, int], int]:
        rows = [line.split() for line in result.lines if line.startswith("grp-a ")]
        return {(r[1], int(r[2])): int(r[3]) for r in rows}

    cases = [
        (("--to-earliest",), {0: 0, 1: 0}),
        (("--to-latest",), {0: 5, 1: 2}),
        (("--to-offset", "3"), {0: 3, 1: 2}),  # beyond the end: the log end offset (with a warning)
        (("--shift-by", "-2"), {0: 3, 1: 0}),
        (("--shift-by", "-9"), {0: 0, 1: 0}),
        (("--to-datetime", iso(now - 3 * DAY - 60_000)), {0: 2, 1: 0}),
        (("--to-datetime", iso(now + DAY)), {0: 5, 1: 2}),  # nothing that late: the log end
        (("--by-duration", "P2DT12H"), {0: 3, 1: 0}),
        (("--by-duration", "PT30M"), {0: 5, 1: 2}),
        (("--to-current",), {0: 5, 1: 2}),
    ]
    for mode, expected in cases:
        for run in ("--dry-run", "--execute"):
            ro, rk = env.same(*reset, "--topic", "grp-t", *mode, run, sort=True)
            assert new_offsets(ro) == {("grp-t", p): o for p, o in expected.items()}, (mode, ro.out)
            if run == "--execute":
                # the next mode starts from here; --to-current keeps it
                env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", "grp-a",
                         "--offsets", sort=True)
        env.same(*reset, "--topic", "grp-t", "--to-latest", "--execute", sort=True)
    # partitions named, and the shift-by warnings the tool logs
    ro, rk = env.same(*reset, "--topic", "grp-t:1", "--shift-by", "5", "--dry-run")
    assert new_offsets(ro) == {("grp-t", 1): 2}
    assert "is higher than latest offset" in ro.err and "is higher than latest offset" in rk.err
    # --export, then --from-file
    ro, rk = env.same(*reset, "--all-topics", "--to-offset", "1", "--dry-run", "--export", sort=True)
    assert sorted(ro.lines) == ["grp-t,0,1", "grp-t,1,1"]
    plan = env.root / "reset.csv"
    plan.write_text("grp-t,0,4\ngrp-t,1,1\n")
    ro, _ = env.same(*reset, "--from-file", str(plan), "--execute", sort=True)
    assert new_offsets(ro) == {("grp-t", 0): 4, ("grp-t", 1): 1}
    ro, _ = env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", "grp-a", sort=True)
    assert sorted(normalize(ro.out))[-2:] == ["grp-a grp-t 0 4 5 1 - - -", "grp-a grp-t 1 1 2 1 - - -"]
    # without --dry-run or --execute: a dry run that says so
    ro, rk = env.same(*reset, "--topic", "grp-t", "--to-earliest", sort=True, err=True, code=None)


def test_consumer_groups_list_describe_delete(env, timed_topic):
    from confluent_kafka import Consumer

    group = "grp-live"
    consumers = []
    for target in (env.odr, env.kafka):
        c = Consumer({"bootstrap.servers": target.bootstrap, "group.id": group, "client.id": "grp-client",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "partition.assignment.strategy": "range"})
        c.subscribe(["grp-t"])
        consumers.append(c)
    stop = threading.Event()
    seen = [0, 0]

    def poll(i, c):
        from confluent_kafka import TopicPartition as CTP

        while not stop.is_set():
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                seen[i] += 1
                if seen[i] == 7:  # everything read: commit partition 0 at 3, nothing for partition 1
                    c.commit(offsets=[CTP("grp-t", 0, 3)], asynchronous=False)

    threads = [threading.Thread(target=poll, args=(i, c), daemon=True) for i, c in enumerate(consumers)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: seen[0] >= 7 and seen[1] >= 7, 60, what="both consumers read grp-t")
        wait_for(lambda: " 3 " in env.run("kafka", "kafka-consumer-groups", "--bootstrap-server", BS, "--describe",
                                          "--group", group).out, 30, what="the commit on Kafka")
        wait_for(lambda: "Stable" in env.run("odr", "kafka-consumer-groups", "--bootstrap-server", BS, "--describe",
                                             "--group", group, "--state").out, 30, what="grp-live stable")
        listing = ("kafka-consumer-groups", "--bootstrap-server", BS, "--list")
        for extra in ((), ("--state", "Stable"), ("--type",), ("--state", "Stable", "--type", "classic")):
            ro, rk = env.both(*listing, *extra)
            assert ro.code == rk.code == 0
            o = [line for line in normalize(ro.out) if line.startswith((group, "GROUP"))]
            k = [line for line in normalize(rk.out) if line.startswith((group, "GROUP"))]
            assert o == k and any(line.startswith(group) for line in o), (extra, ro.out, rk.out)
        describe = ("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", group)
        ro, _ = env.same(*describe, sort=True)
        lag = [line for line in normalize(ro.out) if line.startswith(group)]
        # partition 0 committed at 3 of 5, partition 1 not at all
        assert lag == [f"{group} grp-t 0 3 5 2 grp-client-<uuid> /127.0.0.1 grp-client",
                       f"{group} grp-t 1 - 2 - grp-client-<uuid> /127.0.0.1 grp-client"], ro.out
        env.same(*describe, "--members")
        env.same(*describe, "--members", "--verbose")
        env.same(*describe, "--state")
        env.same(*describe, "--state", "--verbose")
        env.same(*describe, "--offsets", "--verbose", sort=True)
        # not while it has members
        env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--group", group, "--reset-offsets", "--topic",
                 "grp-t", "--to-earliest", "--execute", err=True, code=None)
        env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--delete", "--group", group, err=True, code=None)
        env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--delete-offsets", "--group", group,
                 "--topic", "grp-t", err=True, code=None)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for c in consumers:
            c.close()
    # empty now: offsets of one partition can go, then the whole group
    wait_for(lambda: "Empty" in env.run("odr", "kafka-consumer-groups", "--bootstrap-server", BS, "--describe",
                                        "--group", group, "--state").out, 30, what="grp-live empty")
    env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--delete-offsets", "--group", group, "--topic", "grp-t:0")
    env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", group, "--offsets", sort=True)
    env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--delete", "--group", group)
    env.same("kafka-consumer-groups", "--bootstrap-server", BS, "--delete", "--group", group, err=True, code=None)
    ro, rk = env.both("kafka-consumer-groups", "--bootstrap-server", BS, "--describe", "--group", group)
    assert ro.code == rk.code and ro.out == rk.out and _cause(ro.err) == _cause(rk.err)
    assert "GroupIdNotFoundException: Group grp-live not found." in ro.out


# --- offsets and records --------------------------------------------------------------------------


def test_get_offsets(env, timed_topic):
    now = timed_topic
    get = ("kafka-get-offsets", "--bootstrap-server", BS)
    expected = {"-1": ["grp-t:0:5", "grp-t:1:2"], "-2": ["grp-t:0:0", "grp-t:1:0"],
                "-3": ["grp-t:0:4", "grp-t:1:0"], "-4": ["grp-t:0:0", "grp-t:1:0"], "-5": [],
                "latest": ["grp-t:0:5", "grp-t:1:2"], "earliest": ["grp-t:0:0", "grp-t:1:0"],
                str(now - 3 * DAY - 60_000): ["grp-t:0:2", "grp-t:1:0"], str(now + DAY): []}
    for when, lines in expected.items():
        ro, _ = env.same(*get, "--topic", "grp-t", "--time", when, sort=True)
        assert sorted(ro.lines) == lines, when
    ro, _ = env.same(*get, "--topic-partitions", "grp-.*:1", sort=True)
    assert ro.lines == ["grp-t:1:2"]
    env.same(*get, "--topic", "grp-t", "--partitions", "0,1", "--time", "-1", sort=True)
    env.same(*get, "--topic", "grp-none", err=True, code=1)


def test_delete_records(env, timed_topic):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "del-t", "--partitions", "2")
    for target in ("odr", "kafka"):
        env.run(target, "kafka-producer-perf-test", "--topic", "del-t", "--num-records", "40", "--record-size", "10",
                "--throughput", "-1", "--bootstrap-server", BS, "--command-property", "acks=all", "--command-property",
                "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner").ok()
    plan = env.root / "delete.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "del-t", "partition": 0, "offset": 7},
                                                             {"topic": "del-t", "partition": 1, "offset": -1}]}))
    ro, _ = env.same("kafka-delete-records", "--bootstrap-server", BS, "--offset-json-file", str(plan), sort=True)
    assert "partition: del-t-0 low_watermark: 7" in normalize(ro.out)
    ro, _ = env.same("kafka-get-offsets", "--bootstrap-server", BS, "--topic", "del-t", "--time", "-2", sort=True)
    assert sorted(ro.lines) == ["del-t:0:7", "del-t:1:20"]
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "del-t", "partition": 0, "offset": 999}]}))
    ro, rk = env.same("kafka-delete-records", "--bootstrap-server", BS, "--offset-json-file", str(plan), err=True, code=None)
    assert "OffsetOutOfRangeException" in ro.out


def test_log_dirs(env, timed_topic):
    ro, rk = env.both("kafka-log-dirs", "--bootstrap-server", BS, "--describe", "--topic-list", "grp-t")
    assert ro.code == rk.code == 0
    assert normalize(ro.out)[:2] == normalize(rk.out)[:2] == [
        "Querying brokers for log directories information", "Received log directory information from brokers 1"]
    o, k = json.loads(ro.lines[-1]), json.loads(rk.lines[-1])
    for doc in (o, k):
        (b,) = doc["brokers"]
        (d,) = b["logDirs"]
        d["logDir"] = "<log-dir>"
        d["partitions"].sort(key=lambda p: p["partition"])
    # the same records in the same batches: the same sizes
    assert o == k
    assert [p["partition"] for p in o["brokers"][0]["logDirs"][0]["partitions"]] == ["grp-t-0", "grp-t-1"]
    env.same("kafka-log-dirs", "--bootstrap-server", BS, "--describe", "--broker-list", "1,2", err=True, code=None)


# --- perf tools ------------------------------------------------------------------------------------


def test_perf_tools(env):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "perf-t", "--partitions", "3")
    r = env.run("odr", "kafka-producer-perf-test", "--topic", "perf-t", "--num-records", "3000", "--record-size", "100",
                "--throughput", "-1", "--bootstrap-server", BS, "--command-property", "acks=all").ok()
    assert re.search(r"^3000 records sent, [\d.]+ records/sec", r.lines[-1]), r.out
    r = env.run("odr", "kafka-consumer-perf-test", "--bootstrap-server", BS, "--topic", "perf-t", "--num-records", "3000",
                "--timeout", "30000", "--group", "perf-g").ok()
    header, row = r.lines[-2:]
    stats = dict(zip([h.strip() for h in header.split(",")], [v.strip() for v in row.split(",")]))
    assert stats["data.consumed.in.nMsg"] == "3000" and float(stats["data.consumed.in.MB"]) == pytest.approx(0.2861, abs=1e-3)
    r = env.run("odr", "kafka-get-offsets", "--bootstrap-server", BS, "--topic", "perf-t").ok()
    assert sum(int(line.split(":")[2]) for line in r.lines) == 3000


# --- what the broker supports ------------------------------------------------------------------


def test_broker_api_versions(env):
    """Every API Odradek advertises is usable by the 4.4 tools, in a range Kafka 4.4 also serves."""
    ro, rk = env.both("kafka-broker-api-versions", "--bootstrap-server", BS)
    assert ro.code == rk.code == 0

    def ranges(out: str) -> dict[str, tuple[int, int] | None]:
        found = {}
        for name, lo, hi in re.findall(r"^\t(\w+\(\d+\)): (?:(\d+)(?: to (\d+))? \[usable: \d+\]|UNSUPPORTED)", out, re.M):
            found[name] = (int(lo), int(hi or lo)) if lo else None
        return found

    o, k = ranges(ro.out), ranges(rk.out)
    assert set(o) == set(k) and len(o) > 60
    served = {name: r for name, r in o.items() if r is not None}
    assert "Produce(0)" in served and "DescribeTopicPartitions(75)" in served
    for name, (lo, hi) in served.items():
        assert k[name] is not None and k[name][0] <= lo and hi <= k[name][1], (name, (lo, hi), k[name])
    assert re.search(r"^<host:port> \(id: 1 rack: null isFenced: false\) -> \($", "\n".join(normalize(ro.out)), re.M)


def test_features(env):
    ro, rk = env.both("kafka-features", "--bootstrap-server", BS, "describe")
    assert ro.code == rk.code == 0
    # Odradek: the classic group protocol and no transactions yet, so level 0 of both, nothing finalized;
    # Kafka 4.4 (KRaft) finalizes metadata.version, group.version 1, transaction.version 2 and more
    assert normalize(ro.out) == [
        "Feature: group.version SupportedMinVersion: 0 SupportedMaxVersion: 0 FinalizedVersionLevel: 0 Epoch: 0",
        "Feature: transaction.version SupportedMinVersion: 0 SupportedMaxVersion: 0 FinalizedVersionLevel: 0 Epoch: 0",
    ]
    assert "Feature: metadata.version" in rk.out


def test_leader_election_single_node(env):
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "el-t", "--partitions", "2")
    ro, _ = env.same("kafka-leader-election", "--bootstrap-server", BS, "--election-type", "preferred",
                     "--all-topic-partitions")
    assert ro.out == ""
    ro, _ = env.same("kafka-leader-election", "--bootstrap-server", BS, "--election-type", "preferred",
                     "--topic", "el-t", "--partition", "1")
    assert normalize(ro.out) == ["Valid replica already elected for partitions el-t-1"]
    env.same("kafka-leader-election", "--bootstrap-server", BS, "--election-type", "unclean", "--topic", "el-t",
             "--partition", "0")
    ro, _ = env.same("kafka-leader-election", "--bootstrap-server", BS, "--election-type", "preferred",
                     "--topic", "el-none", "--partition", "0", err=True, code=None)
    assert ro.code == 1


# --- verifiable producer and consumer -------------------------------------------------------------


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_verifiable_producer_and_consumer(env):
    """Kafka's system-test clients: every record the producer saw acknowledged is consumed, once,
    at the offset the acknowledgement named (JSON events on stdout)."""
    env.same("kafka-topics", "--bootstrap-server", BS, "--create", "--topic", "ver-t", "--partitions", "3")
    n = 600
    consumer = tool_process("kafka-verifiable-consumer", "--bootstrap-server", env.odr.bootstrap, "--topic", "ver-t",
                            "--group-id", "ver-g", "--max-messages", str(n), "--reset-policy", "earliest", "--verbose")
    producer = tool_process("kafka-verifiable-producer", "--bootstrap-server", env.odr.bootstrap, "--topic", "ver-t",
                            "--max-messages", str(n), "--acks", "-1", "--repeating-keys", "20",
                            "--value-prefix", "7")
    try:
        pout, perr = producer.communicate(timeout=120)
        cout, cerr = consumer.communicate(timeout=120)
    finally:
        for proc in (producer, consumer):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert producer.returncode == 0, perr[-3000:]
    assert consumer.returncode == 0, cerr[-3000:]
    pev, cev = _events(pout), _events(cout)
    acked = {(e["partition"], e["offset"]): (e["key"], e["value"]) for e in pev if e["name"] == "producer_send_success"}
    assert not [e for e in pev if e["name"] == "producer_send_error"]
    (summary,) = [e for e in pev if e["name"] == "tool_data"]
    assert summary["sent"] == summary["acked"] == n and len(acked) == n
    consumed = [((e["partition"], e["offset"]), (e["key"], e["value"])) for e in cev if e["name"] == "record_data"]
    assert dict(consumed) == acked and len(consumed) == n
    assert {p for p, _ in acked} == {0, 1, 2}  # 20 keys spread over the 3 partitions
    commits = [e for e in cev if e["name"] == "offsets_committed"]
    assert commits and all(e["success"] for e in commits)
    last = {(o["topic"], o["partition"]): o["offset"] for e in commits for o in e["offsets"]}
    ends = {p: max(off for (q, off) in acked if q == p) + 1 for p in (0, 1, 2)}
    assert last == {("ver-t", p): ends[p] for p in (0, 1, 2)}
