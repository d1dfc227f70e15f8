"""Figures for the issue note (issue 3), with confluent-kafka consumers in this process:

- how long a group of three consumers takes from subscribe() to Stable with two partitions each
  (the fixture broker's group.initial.rebalance.delay.ms=0, and once with Kafka's default 3000);
- synchronous commit latency (Consumer.commit(asynchronous=False), one partition's offset at a
  time) over 200 commits: p50 and p99, and the same for kafka-python.

Only loose sanity bounds are asserted; run with ``-s`` to see the figures.
"""

from __future__ import annotations

import statistics
import time
import warnings

import pytest

from helpers import BrokerProcess
from test_groups_support import ck_admin, create_topic, describe, patch_kafka_python_join, uniq, wait_for_value

pytestmark = pytest.mark.interop
NP = 6
COMMITS = 200


def _ck_consumer(bs: str, group: str, name: str):
    from confluent_kafka import Consumer

    return Consumer({
        "bootstrap.servers": bs,
        "group.id": group,
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })


def _time_to_stable(bs: str) -> float:
    """subscribe() of three consumers -> each holds two partitions (and the broker says Stable)."""
    admin = ck_admin(bs)
    topic, group = uniq("gtime"), uniq("grp-time")
    create_topic(bs, topic, NP)
    cs = [_ck_consumer(bs, group, f"timing-{i}") for i in range(3)]
    try:
        t0 = time.perf_counter()
        for c in cs:
            c.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for c in cs:
                c.poll(0.005)
            if sorted(len(c.assignment()) for c in cs) == [2, 2, 2]:
                break
        elapsed = time.perf_counter() - t0
        assert sorted(len(c.assignment()) for c in cs) == [2, 2, 2], "the group never settled"
        owned = sorted((tp.topic, tp.partition) for c in cs for tp in c.assignment())
        assert owned == [(topic, p) for p in range(NP)]
        v = describe(admin, group)
        assert v.state == "STABLE" and len(v.members) == 3, v
        return elapsed
    finally:
        for c in cs:
            c.close()


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def test_time_for_three_consumers_to_become_stable(shared_broker, tmp_path):
    runs = [_time_to_stable(shared_broker.bootstrap) for _ in range(3)]
    delayed = BrokerProcess(tmp_path / "delayed", overrides={"group.initial.rebalance.delay.ms": "3000"}).start()
    try:
        with_delay = _time_to_stable(delayed.bootstrap)
    finally:
        delayed.kill()
    print(f"\n[groups timing] 3 confluent-kafka consumers, subscribe -> Stable 2/2/2: "
          f"{', '.join(f'{r * 1000:.0f}' for r in runs)} ms (median {statistics.median(runs) * 1000:.0f} ms) "
          f"with group.initial.rebalance.delay.ms=0; {with_delay * 1000:.0f} ms with the default 3000")
    assert statistics.median(runs) < 10.0
    assert 3.0 <= with_delay < 15.0, "the initial rebalance delay was not applied"


def test_sync_commit_latency(shared_broker):
    from confluent_kafka import TopicPartition

    bs = shared_broker.bootstrap
    topic, group = uniq("gcommit"), uniq("grp-commit")
    create_topic(bs, topic, NP)
    c = _ck_consumer(bs, group, "timing-commit")
    try:
        c.subscribe([topic])
        wait_for_value(lambda: c.poll(0.05) is None and len(c.assignment()) == NP, 20)
        lat = []
        for i in range(COMMITS):
            tp = TopicPartition(topic, i % NP, i + 1)
            t0 = time.perf_counter()
            res = c.commit(offsets=[tp], asynchronous=False)
            lat.append(time.perf_counter() - t0)
            assert res[0].error is None, res
        got = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(NP)], timeout=10)}
        assert got == {p: max(i + 1 for i in range(COMMITS) if i % NP == p) for p in range(NP)}
    finally:
        c.close()
    ck = (_percentile(lat, 0.5), _percentile(lat, 0.99), statistics.mean(lat))

    # the same with kafka-python
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    patch_kafka_python_join()
    group2 = uniq("grp-commit-kp")
    k = KafkaConsumer(bootstrap_servers=bs, group_id=group2, enable_auto_commit=False, session_timeout_ms=6000,
                      heartbeat_interval_ms=500, max_poll_interval_ms=20000)
    try:
        k.subscribe([topic])
        deadline = time.monotonic() + 20
        while len(k.assignment()) != NP and time.monotonic() < deadline:
            k.poll(timeout_ms=100)
        assert len(k.assignment()) == NP
        klat = []
        for i in range(COMMITS):
            t0 = time.perf_counter()
            k.commit({KTP(topic, i % NP): OffsetAndMetadata(i + 1, None, -1)})
            klat.append(time.perf_counter() - t0)
    finally:
        k.close()
    kp = (_percentile(klat, 0.5), _percentile(klat, 0.99), statistics.mean(klat))
    print(f"\n[groups timing] sync commit latency over {COMMITS} commits: confluent-kafka p50 {ck[0] * 1000:.2f} ms, "
          f"p99 {ck[1] * 1000:.2f} ms, mean {ck[2] * 1000:.2f} ms; kafka-python p50 {kp[0] * 1000:.2f} ms, "
          f"p99 {kp[1] * 1000:.2f} ms, mean {kp[2] * 1000:.2f} ms")
    assert ck[0] < 0.1 and ck[1] < 1.0
    assert kp[0] < 0.1 and kp[1] < 1.0
