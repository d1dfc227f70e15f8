"""Kafka's own command-line tools (4.4, from the Maven jars) against a three-broker Odradek cluster on
ZooKeeper: kafka-topics with replicas and the partition filters while a broker is down,
kafka-leader-election (preferred, for one partition and for all; unclean), kafka-reassign-partitions
(--generate, --execute, --verify with replicas that really move, --list, --cancel).

There is no Kafka reference here (the reference broker runs as a single KRaft node); what each tool
prints is checked against what the cluster must have done. One ToolShell JVM runs every command.
"""

from __future__ import annotations

import json
import re
import signal

import pytest

from helpers import wait_for
from kafka_tools import ToolShell, normalize
from zk_cluster import Cluster, ZooKeeper


@pytest.fixture(scope="module")
def zk(tmp_path_factory):
    z = ZooKeeper(tmp_path_factory.mktemp("tools-zk")).start()
    yield z
    z.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, zk):
    # leadership stays where failures put it until a tool moves it back
    c = Cluster(tmp_path_factory.mktemp("tools-cluster"), zk, 3, {"auto.leader.rebalance.enable": "false"}).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def sh():
    shell = ToolShell()
    yield shell
    print("tools: " + shell.timings())
    shell.close()


def describe(sh, cluster, *args, bootstrap: str | None = None) -> dict[int, dict]:
    """kafka-topics --describe of one topic: partition -> leader, replicas, isr."""
    r = sh.run("kafka-topics", "--bootstrap-server", bootstrap or cluster.bootstrap, "--describe", *args).ok()
    out = {}
    for line in normalize(r.out):
        m = re.match(r"Topic: \S+ Partition: (\d+) Leader: (-?\d+|none) Replicas: ([\d,]+) Isr: ([\d,]*)", line)
        if m:
            out[int(m.group(1))] = {"leader": -1 if m.group(2) == "none" else int(m.group(2)),
                                    "replicas": [int(x) for x in m.group(3).split(",")],
                                    "isr": sorted(int(x) for x in m.group(4).split(",") if x)}
    return out


def partitions_listed(sh, cluster, flag: str, topic_regex: str) -> set[tuple[str, int]]:
    r = sh.run("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--describe", "--topic", topic_regex, flag).ok()
    return {(m.group(1), int(m.group(2))) for m in re.finditer(r"Topic: (\S+)\tPartition: (\d+)", r.out)}


def in_sync(sh, cluster, topic: str) -> bool:
    return all(p["isr"] == sorted(p["replicas"]) for p in describe(sh, cluster, "--topic", topic).values())


def test_topics_with_replicas_and_a_broker_down(sh, cluster):
    bs = cluster.bootstrap
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-r3", "--partitions", "3",
           "--replication-factor", "3", "--config", "min.insync.replicas=2").ok()
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-ra",
           "--replica-assignment", "0:1,1:2,2:0").ok()
    parts = describe(sh, cluster, "--topic", "ct-ra")
    assert [parts[p]["replicas"] for p in range(3)] == [[0, 1], [1, 2], [2, 0]]
    assert [parts[p]["leader"] for p in range(3)] == [0, 1, 2]
    # more partitions, placed by hand: the tool sends only the new ones' assignments
    sh.run("kafka-topics", "--bootstrap-server", bs, "--alter", "--topic", "ct-ra", "--partitions", "5",
           "--replica-assignment", "0:1,1:2,2:0,1:0,2:1").ok()
    parts = describe(sh, cluster, "--topic", "ct-ra")
    assert [parts[p]["replicas"] for p in (3, 4)] == [[1, 0], [2, 1]]
    r = sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-rf4", "--replication-factor", "4")
    assert r.code == 1 and ("The target replication factor of 4 cannot be reached because only 3 broker(s) are "
                            "registered") in r.out
    wait_for(lambda: in_sync(sh, cluster, "ct-r3") and in_sync(sh, cluster, "ct-ra"), 30, what="ISRs full")
    for flag in ("--under-replicated-partitions", "--unavailable-partitions", "--under-min-isr-partitions",
                 "--at-min-isr-partitions"):
        assert partitions_listed(sh, cluster, flag, "ct-r3") == set(), flag

    victim = cluster.brokers[2]
    victim.kill()
    try:
        survivors = ",".join(b.bootstrap for b in cluster.brokers[:2])
        with_2 = {("ct-r3", p) for p in range(3)} | {("ct-ra", p) for p in (1, 2, 4)}
        wait_for(lambda: partitions_listed(sh, cluster, "--under-replicated-partitions", "ct-r.*") == with_2, 30,
                 what="partitions with a replica on broker 2 under-replicated")
        # ct-r3: 2 in sync of min.insync.replicas=2 -> at the minimum; ct-ra (min 1) with one left too
        assert partitions_listed(sh, cluster, "--at-min-isr-partitions", "ct-r.*") == with_2
        assert partitions_listed(sh, cluster, "--under-min-isr-partitions", "ct-r.*") == set()
        assert partitions_listed(sh, cluster, "--unavailable-partitions", "ct-r.*") == set()
        parts = describe(sh, cluster, "--topic", "ct-ra", bootstrap=survivors)
        assert all(2 not in p["isr"] and p["leader"] != 2 for p in parts.values())
    finally:
        victim.start()
    wait_for(lambda: partitions_listed(sh, cluster, "--under-replicated-partitions", "ct-r.*") == set(), 60,
             what="broker 2 back in every ISR")
    sh.run("kafka-topics", "--bootstrap-server", bs, "--delete", "--topic", "ct-ra").ok()
    wait_for(lambda: "ct-ra" not in sh.run("kafka-topics", "--bootstrap-server", bs, "--list").ok().lines, 30,
             what="ct-ra deleted")


def test_preferred_leader_election(sh, cluster):
    bs = cluster.bootstrap
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-el",
           "--replica-assignment", "0:1:2,1:2:0,2:0:1").ok()
    wait_for(lambda: in_sync(sh, cluster, "ct-el"), 30, what="ct-el in sync")
    # broker 0 and then broker 2 restart: their partitions are led by the next replica afterwards
    for b in (cluster.brokers[0], cluster.brokers[2]):
        b.stop()
        b.start()
        wait_for(lambda: in_sync(sh, cluster, "ct-el"), 60, what="ct-el in sync again")
    parts = describe(sh, cluster, "--topic", "ct-el")
    assert [parts[p]["leader"] for p in range(3)] == [1, 1, 0]

    r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred", "--topic", "ct-el",
               "--partition", "0").ok()
    assert normalize(r.out) == ["Successfully completed leader election (PREFERRED) for partitions ct-el-0"]
    assert describe(sh, cluster, "--topic", "ct-el")[0]["leader"] == 0
    r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred", "--topic", "ct-el",
               "--partition", "1").ok()
    assert normalize(r.out) == ["Valid replica already elected for partitions ct-el-1"]
    # every partition: ct-el-2 (and whatever else the restarts moved, __consumer_offsets included)
    r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred",
               "--all-topic-partitions").ok()
    (line,) = normalize(r.out)
    assert line.startswith("Successfully completed leader election (PREFERRED) for partitions ") and "ct-el-2" in line
    assert "ct-el-0" not in line and "ct-el-1" not in line
    for topic_parts in (describe(sh, cluster, "--topic", "ct-el"), describe(sh, cluster)):
        assert all(p["leader"] == p["replicas"][0] for p in topic_parts.values())
    # nothing left to do: nothing printed
    r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred",
               "--all-topic-partitions").ok()
    assert r.out == ""
    r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred", "--topic", "ct-el",
               "--partition", "9")
    assert r.code == 1 and "UnknownTopicOrPartitionException: No such partition as ct-el-9" in r.out


def test_unclean_leader_election(sh, cluster):
    """A partition whose only in-sync replica is down stays offline (unclean elections are off),
    until kafka-leader-election --election-type unclean makes the live out-of-sync replica leader,
    losing what only the old leader had."""
    bs = cluster.bootstrap
    b1, b2 = cluster.brokers[1], cluster.brokers[2]
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-un", "--replica-assignment", "1:2").ok()
    wait_for(lambda: in_sync(sh, cluster, "ct-un"), 30, what="ct-un in sync")
    def produce(*values: str) -> None:
        sh.run("kafka-console-producer", "--bootstrap-server", cluster.bootstrap, "--topic", "ct-un",
               "--command-property", "acks=all", stdin="".join(v + "\n" for v in values)).ok()

    produce(*(f"both-{i}" for i in range(5)))
    b2.stop()
    wait_for(lambda: describe(sh, cluster, "--topic", "ct-un")[0]["isr"] == [1], 30, what="broker 2 out of the ISR")
    produce(*(f"only-1-{i}" for i in range(3)))
    b1.stop()
    try:
        b2.start()
        bs = cluster.bootstrap
        wait_for(lambda: partitions_listed(sh, cluster, "--unavailable-partitions", "ct-un") == {("ct-un", 0)}, 30,
                 what="ct-un offline")
        r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "preferred", "--topic",
                   "ct-un", "--partition", "0")
        assert r.code == 1 and "PreferredLeaderNotAvailableException" in r.out
        r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "unclean", "--topic",
                   "ct-un", "--partition", "0").ok()
        assert normalize(r.out) == ["Successfully completed leader election (UNCLEAN) for partitions ct-un-0"]
        part = describe(sh, cluster, "--topic", "ct-un")[0]
        assert (part["leader"], part["isr"]) == (2, [2])
        r = sh.run("kafka-leader-election", "--bootstrap-server", bs, "--election-type", "unclean", "--topic",
                   "ct-un", "--partition", "0").ok()
        assert normalize(r.out) == ["Valid replica already elected for partitions ct-un-0"]
    finally:
        if not b1.alive():
            b1.start()
    wait_for(lambda: in_sync(sh, cluster, "ct-un"), 60, what="broker 1 follows again")
    r = sh.run("kafka-console-consumer", "--bootstrap-server", cluster.bootstrap, "--topic", "ct-un",
               "--from-beginning", "--max-messages", "5", "--timeout-ms", "20000").ok()
    assert r.lines == [f"both-{i}" for i in range(5)]
    r = sh.run("kafka-get-offsets", "--bootstrap-server", cluster.bootstrap, "--topic", "ct-un").ok()
    assert r.lines == ["ct-un:0:5"]  # the 3 records only broker 1 had are gone, on broker 1 too


def _json_after(out: str, heading: str) -> dict:
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(heading))
    return json.loads(next(line for line in lines[i + 1:] if line.startswith("{")))


def test_reassign_partitions(sh, cluster, tmp_path):
    bs = cluster.bootstrap
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-mv", "--replica-assignment", "0:1,1:0").ok()
    sh.run("kafka-producer-perf-test", "--topic", "ct-mv", "--num-records", "400", "--record-size", "200",
           "--throughput", "-1", "--bootstrap-server", bs, "--command-property", "acks=all").ok()
    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"version": 1, "topics": [{"topic": "ct-mv"}]}))
    r = sh.run("kafka-reassign-partitions", "--bootstrap-server", bs, "--topics-to-move-json-file", str(topics),
               "--broker-list", "1,2", "--generate").ok()
    current = _json_after(r.out, "Current partition replica assignment")
    assert sorted((p["partition"], p["replicas"]) for p in current["partitions"]) == [(0, [0, 1]), (1, [1, 0])]
    proposed = _json_after(r.out, "Proposed partition reassignment configuration")
    assert sorted(p["partition"] for p in proposed["partitions"]) == [0, 1]
    assert all(sorted(p["replicas"]) == [1, 2] for p in proposed["partitions"])

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "ct-mv", "partition": 0, "replicas": [1, 2]},
                                                             {"topic": "ct-mv", "partition": 1, "replicas": [2, 1]}]}))
    # with a throttle: Odradek stores the throttle settings the tool writes (and warns that it does
    # not throttle replication); --verify clears them once the moves are done
    r = sh.run("kafka-reassign-partitions", "--bootstrap-server", bs, "--reassignment-json-file", str(plan),
               "--execute", "--throttle", "50000000").ok()
    assert "Successfully started partition reassignments for ct-mv-0,ct-mv-1" in r.out
    assert "The inter-broker throttle limit was set to 50000000 B/s" in r.out
    assert _json_after(r.out, "Current partition replica assignment")["partitions"] == current["partitions"]

    def verified() -> bool:
        out = sh.run("kafka-reassign-partitions", "--bootstrap-server", bs, "--reassignment-json-file", str(plan),
                     "--verify").ok().out
        return all(f"Reassignment of partition ct-mv-{p} is completed." in out for p in (0, 1))

    wait_for(verified, 60, what="reassignment completed")
    r = sh.run("kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type", "topics", "--entity-name",
               "ct-mv").ok()
    assert "throttled.replicas" not in r.out  # cleared by --verify
    parts = describe(sh, cluster, "--topic", "ct-mv")
    assert [parts[p]["replicas"] for p in (0, 1)] == [[1, 2], [2, 1]]
    assert all(p["isr"] == [1, 2] for p in parts.values())
    # the data moved: broker 0 dropped its copies, broker 2 holds what broker 1 holds
    wait_for(lambda: not any((cluster.brokers[0].data_dir / f"ct-mv-{p}").exists() for p in (0, 1)), 30,
             what="broker 0's copies deleted")
    r = sh.run("kafka-log-dirs", "--bootstrap-server", bs, "--describe", "--topic-list", "ct-mv").ok()
    sizes = {(b["broker"], p["partition"]): p["size"] for b in json.loads(r.lines[-1])["brokers"]
             for d in b["logDirs"] for p in d["partitions"]}
    assert set(sizes) == {(1, "ct-mv-0"), (2, "ct-mv-0"), (1, "ct-mv-1"), (2, "ct-mv-1")}
    assert sizes[(1, "ct-mv-0")] == sizes[(2, "ct-mv-0")] and sizes[(1, "ct-mv-1")] == sizes[(2, "ct-mv-1")]

    def total() -> int:
        r = sh.run("kafka-get-offsets", "--bootstrap-server", bs, "--topic", "ct-mv").ok()
        return sum(int(line.split(":")[2]) for line in r.lines)

    # the new leaders' high watermarks reach the end once their followers fetch again (as on Kafka,
    # a replica that becomes leader starts from the high watermark it knew as a follower)
    wait_for(lambda: total() == 400, 30, what="every record below the high watermarks")
    r = sh.run("kafka-reassign-partitions", "--bootstrap-server", bs, "--list").ok()
    assert "No partition reassignments found." in r.out


def test_reassignment_cancelled(sh, cluster, tmp_path):
    """A reassignment that cannot finish (its new replica's broker is frozen) is listed as under
    way, and --cancel puts the original replicas back. The frozen broker loses its ZooKeeper
    session meanwhile; thawed, it registers again and drops the copy it was to receive."""
    bs = cluster.bootstrap
    sh.run("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", "ct-cx", "--replica-assignment", "0:1").ok()
    wait_for(lambda: in_sync(sh, cluster, "ct-cx"), 30, what="ct-cx in sync")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "ct-cx", "partition": 0, "replicas": [0, 2]}]}))
    frozen = cluster.brokers[2]
    others = ",".join(b.bootstrap for b in cluster.brokers[:2])
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        r = sh.run("kafka-reassign-partitions", "--bootstrap-server", others, "--reassignment-json-file", str(plan),
                   "--execute").ok()
        assert "Successfully started partition reassignment for ct-cx-0" in r.out
        wait_for(lambda: describe(sh, cluster, "--topic", "ct-cx", bootstrap=others)[0]["replicas"] == [0, 2, 1],
                 30, what="broker 2 added")
        r = sh.run("kafka-reassign-partitions", "--bootstrap-server", others, "--reassignment-json-file", str(plan),
                   "--verify")
        assert "Reassignment of partition ct-cx-0 is still in progress." in r.out
        r = sh.run("kafka-topics", "--bootstrap-server", others, "--describe", "--topic", "ct-cx").ok()
        assert "Replicas: 0,2,1\tIsr: 0,1\tAdding Replicas: 2\tRemoving Replicas: 1\t" in r.out, r.out
        r = sh.run("kafka-reassign-partitions", "--bootstrap-server", others, "--list").ok()
        assert "Current partition reassignments:" in r.out
        assert "ct-cx-0: replicas: 0,2,1. adding: 2. removing: 1." in r.out
        # broker 2's session expires: the cluster goes on without it
        wait_for(lambda: "(id: 2 " not in sh.run("kafka-broker-api-versions", "--bootstrap-server", others).out, 30,
                 what="broker 2 gone from the cluster")
        # --preserve-throttles: clearing them would ask every broker, the frozen one too
        r = sh.run("kafka-reassign-partitions", "--bootstrap-server", others, "--reassignment-json-file", str(plan),
                   "--cancel", "--preserve-throttles").ok()
        assert "Successfully cancelled partition reassignment for: ct-cx-0" in r.out
        wait_for(lambda: describe(sh, cluster, "--topic", "ct-cx", bootstrap=others)[0]["replicas"] == [0, 1],
                 30, what="original replicas back")
        part = describe(sh, cluster, "--topic", "ct-cx", bootstrap=others)[0]
        assert (part["leader"], part["isr"]) == (0, [0, 1])
        r = sh.run("kafka-reassign-partitions", "--bootstrap-server", others, "--list").ok()
        assert "No partition reassignments found." in r.out
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: "(id: 2 " in sh.run("kafka-broker-api-versions", "--bootstrap-server", others).out, 60,
             what="broker 2 registered again")
    wait_for(lambda: not (frozen.data_dir / "ct-cx-0").exists(), 30, what="broker 2 dropped its copy of ct-cx-0")
    cluster.wait_all_registered()
