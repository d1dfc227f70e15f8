"""Operations on a cluster: partition reassignment and preferred leader election, through the
admin APIs real clients use (kafka-python's reassignments, confluent-kafka's elect_leaders)."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer
from confluent_kafka import ElectionType
from confluent_kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from helpers import wait_for
from test_replication import admin, create, partitions, read_all


def test_reassign_a_partition_to_other_brokers_keeps_its_data(cluster_factory):
    cluster = cluster_factory(4, auto_leader_rebalance_enable="false")
    topic = "move-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 1, 2)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(200):
        p.produce(topic, value=b"r%d" % i, partition=0)
    p.flush(20)
    current = partitions(cluster, topic)[0].replicas
    target = [b for b in (0, 1, 2, 3) if b not in current]
    kp = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        kp.alter_partition_reassignments({TopicPartition_kp(topic, 0): target})
        wait_for(lambda: sorted(partitions(cluster, topic)[0].replicas) == sorted(target), 60, what="reassignment")
        wait_for(lambda: not kp.list_partition_reassignments(), 30, what="reassignment finished")
    finally:
        kp.close()
    part = partitions(cluster, topic)[0]
    assert part.leader in target and sorted(part.isrs) == sorted(target)
    # the old replicas dropped their copies
    for b in cluster.brokers:
        wait_for(lambda b=b: (b.data_dir / f"{topic}-0").exists() == (b.broker_id in target), 20, what=f"copy on {b.broker_id}")
    got = read_all(cluster, topic, 1, 200)
    assert [got[0][o] for o in sorted(got[0])] == [b"r%d" % i for i in range(200)]


def TopicPartition_kp(topic, p):
    from kafka.structs import TopicPartition as KTP

    return KTP(topic, p)


def test_trigger_preferred_leader_election(cluster_factory):
    cluster = cluster_factory(3, auto_leader_rebalance_enable="false")
    topic = "elect-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 3, 3)
    preferred = {pid: p.replicas[0] for pid, p in partitions(cluster, topic).items()}
    victim = cluster.brokers[0]
    victim.kill()
    wait_for(lambda: all(p.leader != 0 for p in partitions(cluster, topic).values()), 20, what="failover")
    victim.start()
    wait_for(lambda: all(len(p.isrs) == 3 for p in partitions(cluster, topic).values()), 30, what="back in sync")
    moved = [pid for pid, p in partitions(cluster, topic).items() if p.leader != preferred[pid]]
    assert moved  # auto rebalance is off: leadership stays away until asked
    a = admin(cluster)
    result = a.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, pid) for pid in moved]).result(20)
    assert all(err is None for err in result.values()), result
    wait_for(lambda: {pid: p.leader for pid, p in partitions(cluster, topic).items()} == preferred, 20,
             what="preferred leaders")
