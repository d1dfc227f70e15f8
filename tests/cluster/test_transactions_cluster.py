"""Transactions on a 3-broker ZooKeeper cluster: markers to partitions led by other brokers, the
transaction coordinator's broker killed before and after the decision, a data partition's leader
killed with a transaction open. read_committed readers see every committed transaction whole and
nothing of an aborted one."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))  # the confluent-kafka helpers
from interop_clients import ck_read_to_end  # noqa: E402

TXN = {"transaction_state_log_num_partitions": "6", "transaction_abort_timed_out_transaction_cleanup_interval_ms": "500"}


def _create(cluster, topic: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    wait_for(lambda: all(p.leader >= 0 for p in admin.list_topics(topic, timeout=5).topics[topic].partitions.values()),
             20, what="leaders")


def _coordinator(cluster, tid: str) -> int:
    # a tuple: node 0 is an answer
    return wait_for(lambda: (c,) if (c := cluster.transaction_coordinator(tid)) is not None else None, 30,
                    what=f"the coordinator of {tid}")[0]


def _producer(cluster, tid: str) -> Producer:
    p = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": tid, "linger.ms": 2,
                  "transaction.timeout.ms": 20000})
    p.init_transactions(30)
    return p


def _read_committed(cluster, topic: str, partitions: int = 3) -> list[bytes]:
    return [v for _p, _o, _k, v, _ts in ck_read_to_end(cluster.bootstrap, topic, "read_committed", partitions=partitions, timeout=60)]


def _send(p: Producer, topic: str, tag: str, n: int = 30, partitions: int = 3) -> None:
    for i in range(n):
        p.produce(topic, value=f"{tag}-{i}".encode(), partition=i % partitions)
    p.flush(30)


def test_markers_reach_partitions_led_elsewhere(cluster_factory):
    cluster = cluster_factory(3, **TXN)
    topic, tid = f"tm-{uuid.uuid4().hex[:6]}", f"tid-{uuid.uuid4().hex[:6]}"
    _create(cluster, topic)
    p = _producer(cluster, tid)
    for round_ in range(3):
        p.begin_transaction()
        _send(p, topic, f"c{round_}")
        p.commit_transaction(30)
        p.begin_transaction()
        _send(p, topic, f"a{round_}")
        p.abort_transaction(30)
    got = _read_committed(cluster, topic)
    assert sorted(got) == sorted(f"c{r}-{i}".encode() for r in range(3) for i in range(30))


@pytest.mark.parametrize("crash_at", [None, "txn-prepared"], ids=["before-the-decision", "after-the-decision"])
def test_coordinator_killed_mid_transaction(cluster_factory, crash_at):
    """Without a crash point the coordinator's broker is SIGKILLed with the transaction open: the
    new coordinator loads it as Ongoing and the producer's commit goes through it. With
    ``txn-prepared`` the coordinator kills itself once PrepareCommit is written: the new
    coordinator finds the decision in the log and writes the markers."""
    cluster = cluster_factory(3, **TXN)
    topic, tid = f"tk-{uuid.uuid4().hex[:6]}", f"tid-{uuid.uuid4().hex[:6]}"
    _create(cluster, topic)
    coordinator = _coordinator(cluster, tid)
    victim = next(b for b in cluster.brokers if b.broker_id == coordinator)
    if crash_at:
        victim.stop()
        victim.env = {"ODRADEK_CRASH_AT": crash_at}
        victim.start()
        cluster.wait_all_registered()
        wait_for(lambda: _coordinator(cluster, tid) == coordinator, 30, what="the coordinator back")
    p = _producer(cluster, tid)
    p.begin_transaction()
    _send(p, topic, "t")
    if crash_at:
        try:
            p.commit_transaction(60)
        except KafkaException:
            pass  # the client may give up on a dead coordinator; the decision is in the log
        wait_for(lambda: not victim.alive(), 30, what="the crash point")
    else:
        victim.kill()
        p.commit_transaction(60)
    wait_for(lambda: _coordinator(cluster, tid) != coordinator, 60, what="a new coordinator")
    got = _read_committed(cluster, topic)
    assert sorted(got) == sorted(f"t-{i}".encode() for i in range(30))


def test_data_leader_killed_with_a_transaction_open(cluster_factory):
    cluster = cluster_factory(3, **TXN)
    topic = f"td-{uuid.uuid4().hex[:6]}"
    _create(cluster, topic, 1)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    leader = admin.list_topics(topic, timeout=5).topics[topic].partitions[0].leader
    # a transactional id whose coordinator is another broker than the partition's leader
    tid = next(t for t in (f"tid-{uuid.uuid4().hex[:6]}" for _ in range(100)) if _coordinator(cluster, t) != leader)
    p = _producer(cluster, tid)
    p.begin_transaction()
    _send(p, topic, "before", 20, 1)
    next(b for b in cluster.brokers if b.broker_id == leader).kill()
    _send(p, topic, "after", 20, 1)
    p.commit_transaction(60)
    got = _read_committed(cluster, topic, 1)
    assert sorted(got) == sorted([f"before-{i}".encode() for i in range(20)] + [f"after-{i}".encode() for i in range(20)])
