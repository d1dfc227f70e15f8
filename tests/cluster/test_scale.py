"""Cluster metadata at a CI-sized scale (issue 14): a thousand partitions created in one request,
a broker leading a third of them killed and brought back, another one stopped with a controlled
shutdown and brought back, then everything deleted in one request. Every step asserts outcomes
(every partition led by a live broker, every broker agreeing, ISRs full again, every acknowledged
record still there), never timings: bench/cluster_scale.py measures those.
"""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Producer
from kazoo.client import KazooClient

from helpers import wait_for
from test_replication import read_all
from wire import WireClient

TOPICS, PARTITIONS, RF = 50, 20, 3
WAIT = 90  # generous deadlines: the machine is shared, and the assertions are on outcomes


def metadata(broker) -> dict[tuple[str, int], tuple[int, list[int], list[int]]]:
    """(topic, partition) -> (leader, replicas, ISR) as ``broker`` answers Metadata for all topics."""
    c = WireClient(broker.port, timeout=30)
    try:
        md = c.request(3, 1, {"topics": None})
    finally:
        c.close()
    return {(t.name, p.partition_index): (p.leader_id, list(p.replica_nodes), list(p.isr_nodes))
            for t in md.topics for p in t.partitions if not t.name.startswith("__")}


def everywhere(cluster, check) -> bool:
    """``check(view)`` holds for the Metadata of every live broker."""
    return all(check(metadata(b)) for b in cluster.brokers if b.alive())


def led_by_live(cluster, names, expect: int, live: set[int], isr_size: int | None = None):
    def check(view) -> bool:
        mine = {k: v for k, v in view.items() if k[0] in names}
        return len(mine) == expect and all(
            leader in live and leader in isr and set(isr) <= live and (isr_size is None or len(isr) == isr_size)
            for leader, _replicas, isr in mine.values())
    return lambda: everywhere(cluster, check)


def survivors_of(b: int) -> set[int]:
    return {0, 1, 2} - {b}


def zk_states(cluster, names: list[str]) -> dict[tuple[str, int], dict]:
    """Every partition state as ZooKeeper holds it."""
    zk = KazooClient(hosts=cluster.zk.connect)
    zk.start(timeout=15)
    try:
        pending = {(n, p): zk.get_async(f"/brokers/topics/{n}/partitions/{p}/state")
                   for n in names for p in range(PARTITIONS)}
        return {k: json.loads(r.get(30)[0]) for k, r in pending.items()}
    finally:
        zk.stop()
        zk.close()


def produce_everywhere(cluster, names: list[str], per_partition: int, tag: str, acked: dict) -> None:
    """acks=all records to every partition; what was acknowledged goes into ``acked``."""
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 120000, "enable.idempotence": True})
    failed: list = []

    def cb(err, msg):
        if err is None:
            acked[(msg.topic(), msg.partition())][msg.offset()] = msg.value()
        else:
            failed.append(err)

    for name in names:
        for part in range(PARTITIONS):
            for i in range(per_partition):
                p.produce(name, value=f"{tag}-{name}-{part}-{i}".encode(), partition=part, callback=cb)
        p.poll(0)
    assert p.flush(150) == 0, "records still unacknowledged"
    assert not failed, failed[:5]


def test_a_thousand_partitions_created_failed_over_shut_down_and_deleted(cluster_factory):
    cluster = cluster_factory(3)
    by_id = {b.broker_id: b for b in cluster.brokers}
    prefix = "scale-" + uuid.uuid4().hex[:6]
    names = [f"{prefix}-{i:02d}" for i in range(TOPICS)]
    total = TOPICS * PARTITIONS

    # 1. one CreateTopics request: every topic created, every partition led on every broker
    c = WireClient(cluster.brokers[0].port, timeout=120)
    resp = c.request(19, 5, {"topics": [{"name": n, "num_partitions": PARTITIONS, "replication_factor": RF,
                                         "assignments": [], "configs": []} for n in names],
                             "timeout_ms": 60000, "validate_only": False})
    c.close()
    assert [(t.name, t.error_code) for t in resp.topics] == [(n, 0) for n in names]
    wait_for(led_by_live(cluster, set(names), total, {0, 1, 2}, isr_size=RF), WAIT, what="every partition led, ISR full")
    view = metadata(cluster.brokers[1])
    leads = {b: sum(1 for leader, _r, _i in view.values() if leader == b) for b in (0, 1, 2)}
    assert all(n > total // 6 for n in leads.values()), leads  # leaders spread over the brokers
    assert all(len(set(r)) == RF for _l, r, _i in view.values())

    acked: dict[tuple[str, int], dict[int, bytes]] = {(n, p): {} for n in names for p in range(PARTITIONS)}
    produce_everywhere(cluster, names, 3, "a", acked)

    # 2. SIGKILL of a broker (not the controller) leading a third: every partition led again by a
    # survivor, the dead broker out of every ISR
    c = WireClient(cluster.brokers[0].port)
    controller = c.request(3, 1, {"topics": []}).controller_id
    c.close()
    victim = next(b for b in (2, 1, 0) if b != controller)
    by_id[victim].kill()
    survivors = {0, 1, 2} - {victim}
    wait_for(led_by_live(cluster, set(names), total, survivors, isr_size=RF - 1), WAIT, what="every partition led by a survivor")
    produce_everywhere(cluster, names, 2, "b", acked)

    # 3. back again: it catches up and every ISR is full again
    by_id[victim].start()
    cluster.wait_all_registered(WAIT)
    wait_for(led_by_live(cluster, set(names), total, {0, 1, 2}, isr_size=RF), WAIT, what="ISR full after the restart")

    # 4. controlled shutdown of a broker leading partitions: leadership and ISR membership move
    # before it exits
    view = metadata(cluster.brokers[0])
    stopping = next(b for b in (1, 2, 0) if b != controller
                    and any(leader == b for leader, _r, _i in view.values()))
    assert by_id[stopping].stop() == 0
    states = zk_states(cluster, names)  # what ZooKeeper says the moment it has exited
    assert len(states) == total
    assert all(s["leader"] in survivors_of(stopping) and stopping not in s["isr"] for s in states.values())
    produce_everywhere(cluster, names, 2, "c", acked)
    by_id[stopping].start()
    cluster.wait_all_registered(WAIT)
    wait_for(led_by_live(cluster, set(names), total, {0, 1, 2}, isr_size=RF), WAIT, what="ISR full after the second restart")

    # 5. no acknowledged record lost: every one is at its offset
    for name in names:
        got = read_all(cluster, name, PARTITIONS, sum(len(acked[(name, p)]) for p in range(PARTITIONS)))
        for part in range(PARTITIONS):
            for offset, value in acked[(name, part)].items():
                assert got[part].get(offset) == value, (name, part, offset)

    # 6. one DeleteTopics request: gone from every broker's metadata and disk
    c = WireClient(cluster.brokers[1].port, timeout=120)
    resp = c.request(20, 4, {"topic_names": names, "timeout_ms": 60000})
    c.close()
    assert sorted((t.name, t.error_code) for t in resp.responses) == [(n, 0) for n in names]
    wait_for(lambda: everywhere(cluster, lambda v: not any(t in names for t, _p in v)), WAIT, what="topics gone")

    def logs_gone() -> bool:
        return not any(d.name.startswith(prefix) for b in cluster.brokers for d in b.data_dir.iterdir())
    wait_for(logs_gone, WAIT, what="partition directories removed")
