"""A randomized check in the manner of Jepsen's: transactional producers run many transactions that
span several partitions, abort some at random, while brokers are SIGKILLed and restarted. A
read_committed reader then sees every acknowledged commit whole, nothing of an abort, and no part
of any transaction (no aborted read, no torn transaction); transactions whose outcome the client
never learned are either whole or absent."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import wait_for

PARTITIONS = 4
PRODUCERS = 2
DURATION_S = 25.0


def _run_producer(bootstrap: str, topic: str, tid: str, rng: random.Random, stop: threading.Event,
                  outcomes: dict[tuple[str, int], tuple[str, int]]) -> None:
    """Transactions until ``stop``; records each one's outcome: committed, aborted, unknown."""
    seq = 0
    p = None
    while not stop.is_set():
        try:
            if p is None:
                p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 2,
                              "transaction.timeout.ms": 15000, "message.timeout.ms": 10000,
                              "socket.timeout.ms": 5000})
                p.init_transactions(30)
            n = rng.randint(1, 8)
            commit = rng.random() < 0.7
            key = (tid, seq)
            outcomes[key] = ("unknown", n)
            seq += 1
            p.begin_transaction()
            for i in range(n):
                value = json.dumps({"t": tid, "s": key[1], "i": i, "n": n}).encode()
                p.produce(topic, value=value, partition=rng.randrange(PARTITIONS))
            p.flush(15)
            if commit:
                p.commit_transaction(30)
                outcomes[key] = ("committed", n)
            else:
                p.abort_transaction(30)
                outcomes[key] = ("aborted", n)
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                try:
                    p.abort_transaction(30)
                    outcomes[key] = ("aborted", outcomes[key][1])
                    continue
                except KafkaException:
                    pass
            # fatal or retriable-but-stuck: a new producer (init_transactions fences the old one and
            # aborts whatever it had open, so that transaction's outcome stays "unknown")
            p = None
            time.sleep(0.2)  # back off before reconnecting to a cluster that is failing over


def _chaos(cluster, rng: random.Random, stop: threading.Event, log: list[str]) -> None:
    while not stop.is_set():
        stop.wait(rng.uniform(2.0, 4.0))
        if stop.is_set():
            break
        victim = rng.choice([b for b in cluster.brokers if b.alive()])
        log.append(f"kill {victim.broker_id}")
        victim.kill()
        stop.wait(rng.uniform(1.0, 3.0))
        victim.start()
        log.append(f"restart {victim.broker_id}")


def test_no_aborted_reads_and_no_torn_transactions(cluster_factory):
    cluster = cluster_factory(3, transaction_state_log_num_partitions="6", transaction_state_log_min_isr="2",
                              transaction_abort_timed_out_transaction_cleanup_interval_ms="1000")
    topic = f"jep-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    bootstrap = ",".join(b.bootstrap for b in cluster.brokers)
    rng = random.Random(20261205)
    stop = threading.Event()
    outcomes: dict[tuple[str, int], tuple[str, int]] = {}
    chaos_log: list[str] = []
    threads = [threading.Thread(target=_run_producer, args=(bootstrap, topic, f"jep-{i}", random.Random(i), stop, outcomes))
               for i in range(PRODUCERS)]
    threads.append(threading.Thread(target=_chaos, args=(cluster, rng, stop, chaos_log)))
    for t in threads:
        t.start()
    time.sleep(DURATION_S)  # the workload's duration, not a wait for state
    stop.set()
    for t in threads:
        t.join(120)
    for b in cluster.brokers:
        if not b.alive():
            b.start()
    cluster.wait_all_registered()
    # every transaction still open times out and is aborted; then the LSO reaches the HW
    seen: dict[tuple[str, int], list[int]] = {}
    n_of: dict[tuple[str, int], int] = {}
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"jr-{uuid.uuid4().hex[:6]}",
                  "isolation.level": "read_committed", "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    eof: set[int] = set()

    def settled() -> bool:
        for m in c.consume(500, 0.5):
            if m.error() is None:
                rec = json.loads(m.value())
                key = (rec["t"], rec["s"])
                seen.setdefault(key, []).append(rec["i"])
                n_of[key] = rec["n"]
                eof.discard(m.partition())
            elif m.error().code() == -191:
                eof.add(m.partition())
        if len(eof) < PARTITIONS:
            return False
        lows_highs = [c.get_watermark_offsets(TopicPartition(topic, p), 10) for p in range(PARTITIONS)]
        positions = c.position([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return all(pos.offset >= hw for pos, (_lo, hw) in zip(positions, lows_highs))

    try:
        wait_for(settled, 120, interval=0.1, what="read_committed reaching every high watermark")
    finally:
        c.close()
    committed = {k for k, (o, _n) in outcomes.items() if o == "committed"}
    aborted = {k for k, (o, _n) in outcomes.items() if o == "aborted"}
    assert committed and aborted, f"the workload should have both outcomes: {len(committed)} / {len(aborted)}"
    missing = committed - seen.keys()
    assert not missing, f"acknowledged commits not read: {sorted(missing)[:10]} (chaos: {chaos_log})"
    aborted_read = aborted & seen.keys()
    assert not aborted_read, f"aborted transactions read: {sorted(aborted_read)[:10]} (chaos: {chaos_log})"
    for key, idx in seen.items():
        assert sorted(idx) == list(range(n_of[key])), f"torn or duplicated transaction {key}: {sorted(idx)}"
    unknown = {k for k, (o, _n) in outcomes.items() if o == "unknown"}
    print(f"{len(committed)} committed, {len(aborted)} aborted, {len(unknown)} unknown "
          f"({len(unknown & seen.keys())} of them read whole); chaos: {chaos_log}")
