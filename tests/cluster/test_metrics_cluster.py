"""Metrics of a two-broker cluster on a real ZooKeeper: replication bytes on both sides, the
controller alone reporting cluster-wide series, a partition's series from its leader only, and an
ISR shrink and expansion as a follower stalls (SIGSTOP) and resumes."""

from __future__ import annotations

import signal

from confluent_kafka.admin import AdminClient, NewTopic

from helpers import free_port, port_open, wait_for
from metrics_scrape import scrape
from wire import WireClient
from zk_cluster import Cluster

from odradek.protocol.record_codec import build_batch


def test_cluster_metrics(tmp_path, zookeeper):
    # a stalled follower leaves the ISR after 1.5 s, long before its 15 s ZooKeeper session expires
    c = Cluster(tmp_path, zookeeper, 2, {"replica.lag.time.max.ms": "1500", "zookeeper.session.timeout.ms": "15000"})
    for b in c.brokers:
        b.mport = free_port()
        b.overrides["metrics.listener"] = f"http://127.0.0.1:{b.mport}"
    c.start()
    stopped = None
    try:
        for b in c.brokers:
            wait_for(lambda b=b: port_open(b.mport), 10, what="metrics port")
        topic = "mc-repl"
        admin = AdminClient({"bootstrap.servers": c.bootstrap})
        admin.create_topics([NewTopic(topic, 1, 2)])[topic].result(15)

        def leader_id():  # (id,): broker 0 must count as found
            p = admin.list_topics(topic, timeout=5).topics[topic].partitions[0]
            return (p.leader,) if p.leader >= 0 and len(p.isrs) == 2 else None

        (lid,) = wait_for(leader_id, 15, what="a leader with both in sync")
        leader = next(b for b in c.brokers if b.broker_id == lid)
        follower = next(b for b in c.brokers if b.broker_id != lid)
        batch = build_batch([(None, b"r" * 50)] * 5)
        w = WireClient(leader.port)
        try:
            resp = w.produce(topic, batch, acks=-1)
            assert resp.responses[0].partition_responses[0].error_code == 0
        finally:
            w.close()
        # the follower stores the batch as it came: replication bytes in = bytes the leader took in
        wait_for(lambda: scrape(follower.mport).value("kafka_server_brokertopicmetrics_replicationbytesin_total")
                 == len(batch), 15, what="the follower to copy the batch")
        ls, fs = scrape(leader.mport), scrape(follower.mport)
        P = {"topic": topic, "partition": 0}
        assert ls.value("kafka_server_brokertopicmetrics_bytesin_total", topic=topic) == len(batch)
        assert fs.get("kafka_server_brokertopicmetrics_bytesin_total", topic=topic) is None  # no client traffic there
        assert ls.value("kafka_server_brokertopicmetrics_replicationbytesout_total") == len(batch)
        assert ls.value("kafka_server_brokertopicmetrics_bytesout_total") == 0  # followers are not consumers
        assert ls.value("kafka_log_log_size", **P) == fs.value("kafka_log_log_size", **P) == len(batch)
        # one controller; cluster-wide series from it alone; a partition's from its leader alone
        both = (ls, fs)
        assert sum(s.value("kafka_controller_kafkacontroller_activecontrollercount") for s in both) == 1
        assert sum(s.sum("kafka_topic_partitions", topic=topic) for s in both) == 1
        assert sum(s.sum("kafka_brokers") for s in both) == 2
        assert ls.value("kafka_topic_partition_current_offset", **P) == 5
        assert fs.get("kafka_topic_partition_current_offset", **P) is None
        assert ls.value("kafka_server_replicamanager_leadercount") == 1
        assert fs.value("kafka_server_replicamanager_leadercount") == 0
        assert ls.value("kafka_server_replicamanager_partitioncount") >= 1
        assert fs.value("kafka_server_replicamanager_partitioncount") >= 1
        assert ls.value("kafka_cluster_partition_replicascount", **P) == 2
        assert fs.value("kafka_cluster_partition_replicascount", **P) == 0  # Kafka: leader only
        assert ls.value("kafka_server_replicamanager_underreplicatedpartitions") == 0
        shrinks = ls.value("kafka_server_replicamanager_isrshrinks_total")
        expands = ls.value("kafka_server_replicamanager_isrexpands_total")

        follower.proc.send_signal(signal.SIGSTOP)
        stopped = follower
        s = wait_for(lambda: (x := scrape(leader.mport)).value(
            "kafka_server_replicamanager_underreplicatedpartitions") >= 1 and x, 20, what="the ISR to shrink")
        assert s.value("kafka_server_replicamanager_isrshrinks_total") >= shrinks + 1
        assert s.value("kafka_cluster_partition_underreplicated", **P) == 1
        assert s.value("kafka_cluster_partition_insyncreplicascount", **P) == 1
        assert s.value("kafka_cluster_partition_atminisr", **P) == 1  # min.insync.replicas 1
        assert s.value("kafka_topic_partition_under_replicated_partition", **P) == 1
        assert s.value("kafka_topic_partition_in_sync_replica", **P) == 1

        follower.proc.send_signal(signal.SIGCONT)
        stopped = None
        s = wait_for(lambda: (x := scrape(leader.mport)).value(
            "kafka_server_replicamanager_underreplicatedpartitions") == 0 and x, 30, what="the ISR to expand")
        assert s.value("kafka_server_replicamanager_isrexpands_total") >= expands + 1
        assert s.value("kafka_cluster_partition_insyncreplicascount", **P) == 2
    finally:
        if stopped is not None and stopped.proc is not None:
            stopped.proc.send_signal(signal.SIGCONT)
        c.stop()
