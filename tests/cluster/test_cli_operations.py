"""The odradek command operating a cluster: partitions with leader, replicas, ISR, HW and LEO;
reassignment; preferred leader election."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from confluent_kafka import Producer

from helpers import ROOT, wait_for
from test_replication import create, partitions


def odradek(cluster, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "odradek", *args, "--bootstrap-server", cluster.bootstrap],
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_shows_partitions_and_moves_them(cluster_factory):
    cluster = cluster_factory(3, auto_leader_rebalance_enable="false")
    topic = "cli-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 2, 2)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(50):
        p.produce(topic, value=b"v%d" % i, partition=i % 2)
    p.flush(20)

    brokers = odradek(cluster, "cluster", "brokers", "--format", "json")
    assert brokers.returncode == 0, brokers.stderr
    assert "controller" in brokers.stdout or json.loads(brokers.stdout)
    desc = odradek(cluster, "topic", "describe", topic, "--format", "json")
    assert desc.returncode == 0, desc.stderr
    parts = {p["partition"]: p for p in json.loads(desc.stdout)[0]["partitions"]}
    assert parts[0]["high_watermark"] == 25 and parts[0]["log_end_offset"] == 25
    assert len(parts[0]["isr"]) == 2 and parts[0]["leader"] in parts[0]["replicas"]
    table = odradek(cluster, "topic", "describe", topic)
    assert "log-end" in table.stdout.lower() or "LOG-END" in table.stdout

    current = parts[0]["replicas"]
    target = [b for b in (0, 1, 2) if b not in current] + [current[0]]
    moved = odradek(cluster, "cluster", "reassign", f"{topic}:0={','.join(map(str, target))}")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    wait_for(lambda: sorted(partitions(cluster, topic)[0].replicas) == sorted(target), 60, what="reassignment")
    wait_for(lambda: odradek(cluster, "cluster", "reassignments", "--format", "json").stdout.strip() in ("[]", ""), 30,
             what="no reassignment left")

    bad = odradek(cluster, "cluster", "reassign", f"{topic}:0=7,8")
    assert bad.returncode != 0 and "INVALID_REPLICA_ASSIGNMENT" in bad.stdout + bad.stderr

    # preferred election: kill the leader of partition 1, bring it back, elect
    preferred = partitions(cluster, topic)[1].replicas[0]
    by_id = {b.broker_id: b for b in cluster.brokers}
    by_id[preferred].kill()
    wait_for(lambda: partitions(cluster, topic)[1].leader not in (preferred, -1), 20, what="failover")
    by_id[preferred].start()
    wait_for(lambda: len(partitions(cluster, topic)[1].isrs) == 2, 30, what="back in sync")
    elect = odradek(cluster, "cluster", "elect-leaders", f"{topic}:1")
    assert elect.returncode == 0, elect.stdout + elect.stderr
    wait_for(lambda: partitions(cluster, topic)[1].leader == preferred, 20, what="preferred leader")
