"""Leadership moves: controlled shutdown, preferred leaders coming back, controller failover, groups."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import wait_for
from test_replication import admin, create, partitions


def test_controlled_shutdown_moves_leadership_first(cluster_factory):
    cluster = cluster_factory(3)
    topic = "cs-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 6, 3)
    b0 = cluster.brokers[0]
    assert any(p.leader == 0 for p in partitions(cluster, topic).values())
    rc = b0.stop()  # SIGTERM
    assert rc == 0
    parts = partitions(cluster, topic)
    assert all(p.leader in (1, 2) for p in parts.values())
    assert all(0 not in p.isrs for p in parts.values())


def test_preferred_leaders_come_back(cluster_factory):
    cluster = cluster_factory(3)
    topic = "pref-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 6, 3)
    preferred = {pid: p.replicas[0] for pid, p in partitions(cluster, topic).items()}
    cluster.brokers[1].kill()
    wait_for(lambda: all(p.leader != 1 for p in partitions(cluster, topic).values()), 20, what="failover")
    cluster.brokers[1].start()
    wait_for(lambda: {pid: p.leader for pid, p in partitions(cluster, topic).items()} == preferred, 40,
             what="preferred leaders restored")


def test_controller_failover(cluster_factory):
    cluster = cluster_factory(3)
    topic = "ctl-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 3, 3)
    first = admin(cluster).list_topics(timeout=5).controller_id
    by_id = {b.broker_id: b for b in cluster.brokers}
    by_id[first].kill()
    wait_for(lambda: admin(cluster).list_topics(timeout=5).controller_id not in (first, -1), 20, what="new controller")
    # the new controller does its job: leaders of the dead broker's partitions move
    wait_for(lambda: all(p.leader not in (first, -1) for p in partitions(cluster, topic).values()), 20, what="new leaders")


def test_consumer_group_survives_its_coordinator_dying(cluster_factory):
    cluster = cluster_factory(3)
    topic = "grp-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 3, 3)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(300):
        p.produce(topic, value=b"m%d" % i, partition=i % 3)
    p.flush(20)
    seen: set[bytes] = set()
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "survivor", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000})
    c.subscribe([topic])

    def consume_until(n):
        def step():
            for m in c.consume(200, 0.5):
                if m.error() is None:
                    seen.add(m.value())
                    c.commit(m, asynchronous=False)
            return len(seen) >= n
        return step

    wait_for(consume_until(150), 40, what="first half")
    # find the coordinator: the leader of the group's __consumer_offsets partition
    from odradek.coordinator.coordinator import partition_for

    offsets_part = partition_for("survivor", 6)
    coord = partitions(cluster, "__consumer_offsets")[offsets_part].leader
    by_id = {b.broker_id: b for b in cluster.brokers}
    by_id[coord].kill()
    for i in range(300, 400):
        p.produce(topic, value=b"m%d" % i, partition=i % 3)
    p.flush(30)
    wait_for(consume_until(400), 60, what="all records after the coordinator died")
    committed = c.committed([TopicPartition(topic, i) for i in range(3)], 20)
    assert sum(tp.offset for tp in committed) == 400
    c.close()
