"""Replication on a real ZooKeeper with broker processes: ISR, min.insync.replicas, failover."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import wait_for


def admin(cluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": cluster.bootstrap})


def create(cluster, topic: str, partitions: int, rf: int, **configs: str) -> None:
    a = admin(cluster)
    fs = a.create_topics([NewTopic(topic, partitions, rf, config={k.replace("_", "."): v for k, v in configs.items()})])
    for f in fs.values():
        f.result(15)
    wait_for(lambda: all(p.leader >= 0 for p in a.list_topics(topic, timeout=5).topics[topic].partitions.values()),
             15, what="leaders")


def partitions(cluster, topic: str) -> dict:
    md = admin(cluster).list_topics(topic, timeout=5)
    return {p.id: p for p in md.topics[topic].partitions.values()}


def isrs_at_leaders(cluster, topic: str) -> dict[int, list[int]]:
    """Each partition's ISR as its leader itself reports it (Metadata sent to the leader). Another
    broker may learn an ISR change from ZooKeeper before the leader does; produce checks the
    leader's view."""
    from wire import WireClient

    out = {}
    for pid, p in partitions(cluster, topic).items():
        leader = next(b for b in cluster.brokers if b.broker_id == p.leader)
        c = WireClient(leader.port)
        try:
            md = c.request(3, 9, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                                  "include_topic_authorized_operations": False})
        finally:
            c.close()
        part = next(x for x in md.topics[0].partitions if x.partition_index == pid)
        out[pid] = list(part.isr_nodes)
    return out


def read_all(cluster, topic: str, nparts: int, expect: int, timeout: float = 60) -> dict[int, dict[int, bytes]]:
    """Every record up to each partition's high watermark (positions, not a count: the log may
    also hold records written but never acknowledged)."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    ends: dict[int, int] = {}

    def watermarks() -> bool:
        # a leader named in ZooKeeper may not have taken the partition over yet (NOT_LEADER, as
        # on Kafka until LeaderAndIsr arrives): ask again until each answers
        for p in range(nparts):
            if p not in ends:
                ends[p] = c.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
        return True

    wait_for(watermarks, timeout, what="every partition's high watermark")
    c.assign([TopicPartition(topic, p, 0) for p in range(nparts)])
    got: dict[int, dict[int, bytes]] = {p: {} for p in range(nparts)}
    position = {p: 0 for p in range(nparts)}

    def more():
        for m in c.consume(1000, 0.5):
            if m.error() is None:
                got[m.partition()][m.offset()] = m.value()
                position[m.partition()] = m.offset() + 1
        return all(position[p] >= ends[p] for p in range(nparts))

    try:
        wait_for(more, timeout, what=f"every partition read to its end {ends}")
    finally:
        c.close()
    assert sum(len(v) for v in got.values()) >= expect
    return got


def produce_one(cluster, topic: str, partition: int, value: bytes, timeout: float = 10) -> KafkaError | None:
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "retries": 0,
                  "message.timeout.ms": int(timeout * 1000), "enable.idempotence": False})
    result: list = []
    p.produce(topic, value=value, partition=partition, callback=lambda e, m: result.append(e))
    p.flush(timeout + 5)
    assert result, "no delivery report"
    return result[0]


def test_min_insync_replicas_3_refuses_then_recovers_when_the_broker_returns(cluster_factory):
    cluster = cluster_factory(4)
    topic = "seed-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 4, 3, min_insync_replicas="3")
    assert all(len(p.isrs) == 3 for p in partitions(cluster, topic).values())
    victim = cluster.brokers[1]
    victim.kill()
    # the controller drops the dead broker from every ISR it was in
    wait_for(lambda: all(1 not in isr for isr in isrs_at_leaders(cluster, topic).values()), 20, what="ISR shrink")
    parts = partitions(cluster, topic)
    hit = [pid for pid, p in parts.items() if 1 in p.replicas]
    untouched = [pid for pid, p in parts.items() if 1 not in p.replicas]
    assert hit
    for pid in hit:
        err = produce_one(cluster, topic, pid, b"refused")
        assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    for pid in untouched:
        assert produce_one(cluster, topic, pid, b"fine") is None
    victim.start()
    wait_for(lambda: all(len(p.isrs) == 3 for p in partitions(cluster, topic).values()), 30, what="ISR expand")
    for pid in hit:
        assert produce_one(cluster, topic, pid, b"accepted") is None


def test_min_insync_replicas_2_carries_on_and_loses_nothing(cluster_factory):
    cluster = cluster_factory(4)
    topic = "mis2-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 4, 3, min_insync_replicas="2")
    acked: dict[int, dict[int, bytes]] = {p: {} for p in range(4)}
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 5})

    def cb(err, msg):
        if err is None:
            acked[msg.partition()][msg.offset()] = msg.value()

    for i in range(500):
        p.produce(topic, value=b"a%d" % i, partition=i % 4, callback=cb)
    p.flush(20)
    cluster.brokers[2].kill()
    for i in range(500, 1000):
        p.produce(topic, value=b"a%d" % i, partition=i % 4, callback=cb)
    p.flush(30)
    assert sum(len(v) for v in acked.values()) == 1000
    cluster.brokers[2].start()
    wait_for(lambda: all(len(x.isrs) == 3 for x in partitions(cluster, topic).values()), 30, what="ISR expand")
    got = read_all(cluster, topic, 4, 1000)
    for part, recs in acked.items():
        for off, val in recs.items():
            assert got[part].get(off) == val


class Load:
    """Continuous acks=all production from confluent-kafka in a thread, tracking what was acknowledged."""

    def __init__(self, cluster, topic: str, nparts: int, idempotent: bool = True) -> None:
        self.acked: dict[int, dict[int, bytes]] = {p: {} for p in range(nparts)}
        # Acknowledged without an offset (offset() None, librdkafka's -1): the idempotent producer
        # reports that when a batch fails with a "possibly persisted" error (such as
        # NOT_ENOUGH_REPLICAS_AFTER_APPEND) while a later batch of the partition is in flight, and
        # that one succeeds: the broker took it in sequence, so the failed one is in the log too,
        # at an offset the client never learned (rd_kafka_dr_implicit_ack). Kafka answers alike:
        # a leader that stalled past replica.lag.time.max.ms (the paused broker leads a
        # partition) drops the followers that had not fetched its last appends as it resumes,
        # fails the acks=all appends waiting, and accepts the next once they are back in the ISR.
        # These records are checked by value.
        self.acked_unplaced: dict[int, list[bytes]] = {p: [] for p in range(nparts)}
        self.errors: list = []
        self.first_ok_after: dict[float, float] = {}
        self.producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 2,
                                  "enable.idempotence": idempotent, "message.timeout.ms": 30000,
                                  "topic.metadata.refresh.interval.ms": 1000})
        self.topic = topic
        self.nparts = nparts
        self.stop = threading.Event()
        self.seq = 0
        self.last_ok = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _cb(self, err, msg):
        if err is None:
            if msg.offset() is None:
                self.acked_unplaced[msg.partition()].append(msg.value())
            else:
                self.acked[msg.partition()][msg.offset()] = msg.value()
            self.last_ok = time.monotonic()
        else:
            self.errors.append(err)

    def _run(self):
        while not self.stop.is_set():
            try:
                self.producer.produce(self.topic, value=b"L%08d" % self.seq, partition=self.seq % self.nparts, callback=self._cb)
                self.seq += 1
            except BufferError:
                pass
            self.producer.poll(0.002)
        self.producer.flush(60)

    def count(self) -> int:
        return sum(len(v) for v in self.acked.values()) + sum(len(v) for v in self.acked_unplaced.values())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(90)


def leader_of(cluster, topic: str, partition: int) -> int:
    return partitions(cluster, topic)[partition].leader


@pytest.mark.parametrize("how", ["leader", "controller", "paused-follower"])
def test_failover_under_acks_all_load_loses_nothing(cluster_factory, how):
    cluster = cluster_factory(3)
    topic = "fo-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 3, 3, min_insync_replicas="2")
    by_id = {b.broker_id: b for b in cluster.brokers}
    failover_times = []
    with Load(cluster, topic, 3) as load:
        wait_for(lambda: load.count() > 300, 30, what="load running")
        for _round in range(2):
            if how == "leader":
                victim = by_id[leader_of(cluster, topic, 0)]
            elif how == "controller":
                victim = by_id[_controller(cluster)]
            else:
                leader = leader_of(cluster, topic, 0)
                victim = next(b for b in cluster.brokers if b.broker_id != leader)
            before = load.count()
            t0 = time.monotonic()
            if how == "paused-follower":
                victim.proc.send_signal(signal.SIGSTOP)
                wait_for(lambda: load.count() > before + 200, 40, what="progress with a paused follower")
                victim.proc.send_signal(signal.SIGCONT)
            else:
                victim.kill()
                wait_for(lambda: load.count() > before + 200, 40, what="progress after the kill")
                failover_times.append(time.monotonic() - t0)
                victim.start()
            wait_for(lambda: all(len(p.isrs) == 3 for p in partitions(cluster, topic).values()), 40, what="ISR back to 3")
    total = load.count()
    assert total > 600
    got = read_all(cluster, topic, 3, total)
    lost = [(p, o) for p, recs in load.acked.items() for o, v in recs.items() if got[p].get(o) != v]
    for p, vals in load.acked_unplaced.items():
        present = set(got[p].values())
        lost += [(p, v) for v in vals if v not in present]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:5]}"
    # idempotent producer: no value twice
    values = [v for recs in got.values() for v in recs.values()]
    assert len(values) == len(set(values))
    print(f"\n{how}: time from kill to progress: {[round(t, 2) for t in failover_times]} s")


def _controller(cluster) -> int:
    return admin(cluster).list_topics(timeout=5).controller_id


def test_whole_cluster_restart_keeps_topics_configs_offsets_and_records(cluster_factory):
    cluster = cluster_factory(3)
    topic = "keep-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 3, 2, retention_ms="86400000")
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(300):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    p.flush(20)
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "keeper", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    n = 0

    def consumed():
        nonlocal n
        n += len([m for m in c.consume(500, 0.5) if m.error() is None])
        return n >= 150

    wait_for(consumed, 30, what="first half")
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, i) for i in range(3)], 10)}
    c.close()
    for b in cluster.brokers:
        b.stop()
    for b in cluster.brokers:
        b.start()
    wait_for(lambda: all(x.leader >= 0 for x in partitions(cluster, topic).values()), 30, what="leaders after restart")
    a = admin(cluster)
    from confluent_kafka.admin import ConfigResource

    res = a.describe_configs([ConfigResource("topic", topic)])
    cfg = list(res.values())[0].result(10)
    assert cfg["retention.ms"].value == "86400000"
    got = read_all(cluster, topic, 3, 300)
    assert sorted(v for recs in got.values() for v in recs.values()) == sorted(b"v%d" % i for i in range(300))
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "keeper", "enable.auto.commit": False})
    again = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, i) for i in range(3)], 20)}
    c.close()
    assert again == committed
