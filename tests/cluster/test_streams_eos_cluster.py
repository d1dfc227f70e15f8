"""Kafka Streams 4.4 with processing.guarantee=exactly_once_v2 on a 3-broker ZooKeeper cluster:
every topic (input, outputs, Streams' repartition and changelog topics, ``__consumer_offsets``,
``__transaction_state``) with replication factor 3 and min.insync.replicas 2. The word-count
application of tests/interop/streams_app.py runs while input keeps arriving; the broker that is
the transaction coordinator of the application's transactional id is SIGKILLed mid-stream. The
coordinator moves to another broker, which loads the id's state from its replica of
``__transaction_state``; the application goes on, and read with read_committed every key's
updates are exactly 1..N, N computed from the input as stored (nothing lost, nothing twice)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from helpers import wait_for
from wire import ask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))  # the Streams application's helpers
from streams_app import (  # noqa: E402
    COUNTS_OUT,
    IN,
    PARTITIONS,
    WINDOW_MS,
    WINDOWED_OUT,
    Clock,
    Feeder,
    Instance,
    aborted_offsets,
    all_tasks,
    committed_updates,
    compile_app,
    stop_input_and_check_exact,
    transactions,
)

pytestmark = pytest.mark.interop

CLUSTER = {
    "default_replication_factor": "3",
    "min_insync_replicas": "2",
    "offsets_topic_replication_factor": "3",
    "transaction_state_log_replication_factor": "3",
    "transaction_state_log_min_isr": "2",
    "transaction_abort_timed_out_transaction_cleanup_interval_ms": "500",
}


def _leaders(cluster, topics: list[str]) -> dict[tuple[str, int], int]:
    for b in cluster.brokers:
        if b.alive():
            r = ask(b.port, 3, 1, {"topics": [{"name": t} for t in topics]})
            return {(t.name, p.partition_index): p.leader_id for t in r.topics for p in t.partitions}
    return {}


def _create_topics(cluster) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    new = [NewTopic(IN, PARTITIONS, 3), NewTopic(COUNTS_OUT, 1, 3), NewTopic(WINDOWED_OUT, 1, 3)]
    for f in admin.create_topics(new).values():
        f.result(30)
    wait_for(lambda: len(_leaders(cluster, [IN, COUNTS_OUT, WINDOWED_OUT])) == PARTITIONS + 2
             and all(v >= 0 for v in _leaders(cluster, [IN, COUNTS_OUT, WINDOWED_OUT]).values()), 30, 0.2,
             what="leaders of the new topics")


def check_replicas(cluster) -> None:
    """Every topic, Streams' own and the internal ones included, has three replicas."""
    port = next(b.port for b in cluster.brokers if b.alive())
    r = ask(port, 3, 1, {"topics": None})
    replicas = {t.name: {len(p.replica_nodes) for p in t.partitions} for t in r.topics}
    assert {"__consumer_offsets", "__transaction_state", "wordcounts-by-word-repartition",
            "wordcounts-word-counts-changelog", "wordcounts-windowed-counts-changelog", IN} <= set(replicas), replicas
    assert all(n == {3} for n in replicas.values()), replicas


def test_streams_exactly_once_v2_transaction_coordinator_killed(cluster_factory, tmp_path):
    classes = compile_app()
    cluster = cluster_factory(3, **CLUSTER)
    _create_topics(cluster)
    bs = cluster.bootstrap
    now = int(time.time() * 1000)
    base = now - now % WINDOW_MS - 20 * WINDOW_MS
    clock = Clock()
    app = Instance("a", classes, bs, tmp_path, "exactly_once_v2")
    feeder = None
    try:
        wait_for(lambda: sorted(app.active_tasks() or []) == all_tasks(), 120, 0.2, what="the Streams instance running every task")
        clock("instance running")
        feeder = Feeder(bs, rate=40, base_ts=base, span_ms=12 * WINDOW_MS).start()
        wait_for(lambda: committed_updates(bs) >= 100, 90, 0.3, what="committed output")
        check_replicas(cluster)
        tids = app.transactional_ids()
        assert len(tids) == 1, tids
        tid = tids[0]
        live_ports = [b.port for b in cluster.brokers if b.alive()]
        assert tid in transactions(live_ports), (tid, transactions(live_ports))
        coordinator = wait_for(lambda: (cluster.transaction_coordinator(tid),), 30, what=f"the coordinator of {tid}")[0]
        assert coordinator is not None
        victim = next(b for b in cluster.brokers if b.broker_id == coordinator)
        # killed while the application's transaction is open (as far as a poll can tell)
        state = wait_for(lambda: (s := transactions([victim.port])[tid][1]) == "Ongoing" and s, 30, 0.02,
                         what=f"{tid} in a transaction")
        victim.kill()
        clock(f"transaction coordinator {coordinator} killed ({tid} was {state}) with {feeder.delivered} lines in")
        feeder.wait_for_more(120, 60, what="more input after the kill")
        moved = wait_for(lambda: (c,) if (c := cluster.transaction_coordinator(tid)) not in (None, coordinator) else None,
                         60, 0.2, what=f"a new coordinator of {tid}")[0]
        # the application commits through the new coordinator: committed output keeps growing
        committed_then = committed_updates(bs)
        wait_for(lambda: app.check_alive() or committed_updates(bs) > committed_then + 50, 90, 0.5,
                 what="transactions committed through the new coordinator")
        clock(f"coordinator moved to {moved}, transactions committing")
        stop_input_and_check_exact(bs, feeder, app, clock)
        aborted = {t: len(aborted_offsets(bs, t)) for t in (COUNTS_OUT, WINDOWED_OUT)}
        print(f"records of aborted transactions in the outputs: {aborted}")
        assert app.proc.poll() is None
        clock("checked")
    except BaseException:
        print(app.diagnostics())
        for b in cluster.brokers:
            print(f"--- broker {b.broker_id}\n{b.log_text()}")
        raise
    finally:
        if feeder is not None:
            feeder.abandon()
        app.kill()
        app.stop()
