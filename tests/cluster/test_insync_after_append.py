"""acks=all when the ISR shrinks below min.insync.replicas while a produce waits:
NOT_ENOUGH_REPLICAS_AFTER_APPEND (the batch was written, not committed), as Kafka answers."""

from __future__ import annotations

import signal
import uuid

from helpers import FIXTURES, wait_for
from test_replication import create, leader_of, partitions
from wire import WireClient

NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20


def _produce(port: int, topic: str, records: bytes) -> int:
    c = WireClient(port, timeout=30)
    try:
        resp = c.produce(topic, records, timeout_ms=20000)
        return resp.responses[0].partition_responses[0].error_code
    finally:
        c.close()


def test_isr_shrinking_during_an_acks_all_wait(cluster_factory):
    cluster = cluster_factory(3)  # replica.lag.time.max.ms is 3 s in these clusters
    topic = "nea-" + uuid.uuid4().hex[:6]
    create(cluster, topic, 1, 3, min_insync_replicas="2")
    wait_for(lambda: len(partitions(cluster, topic)[0].isrs) == 3, 20, what="full ISR")
    batch = FIXTURES.joinpath("ck-default.bin").read_bytes()
    by_id = {b.broker_id: b for b in cluster.brokers}
    leader = by_id[leader_of(cluster, topic, 0)]
    assert _produce(leader.port, topic, batch) == 0

    followers = [b for b in cluster.brokers if b is not leader]
    for f in followers:
        f.proc.send_signal(signal.SIGSTOP)
    try:
        # appended with three in the ISR; the followers never fetch it, the leader drops them
        # after replica.lag.time.max.ms, and the waiting produce is told so
        assert _produce(leader.port, topic, batch) == NOT_ENOUGH_REPLICAS_AFTER_APPEND
        # with the ISR below min.insync.replicas, the next one is refused before it is written
        assert _produce(leader.port, topic, batch) == NOT_ENOUGH_REPLICAS
    finally:
        for f in followers:
            f.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: len(partitions(cluster, topic)[0].isrs) >= 2, 60, what="followers back in the ISR")
    wait_for(lambda: _produce(by_id[leader_of(cluster, topic, 0)].port, topic, batch) == 0, 60,
             what="acks=all produce accepted again")
