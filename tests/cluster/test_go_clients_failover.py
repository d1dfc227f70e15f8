"""The Go clients on a 3-broker ZooKeeper cluster: a topic with replication factor 3 and
min.insync.replicas 2, steady acks=all load from franz-go (idempotent, its default) or sarama
(idempotent), a partition leader SIGKILLed under that load (the one that is also the group
coordinator of a reader of the same client), brought back; afterwards every acknowledged record
is read back by the same client (each partition to its high watermark): nothing acknowledged is
lost, with idempotence nothing is written twice, and the reader saw everything without a gap.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from helpers import wait_for
from test_replication import create, leader_of, partitions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))  # the Go clients' helper lives there
from go_clients import GoProcess, consume  # noqa: E402
from interop_clients import end_offsets  # noqa: E402

pytestmark = pytest.mark.interop

NP = 3
LOAD_ARGS = {"franz": [], "sarama": ["--idempotent"]}


def _acked(load: GoProcess) -> list[dict]:
    return load.where(lambda x: "o" in x)


def _read_to(reader: GoProcess) -> dict[int, int]:
    """Per partition, one past the highest offset the group member has read."""
    out: dict[int, int] = {}
    for x in reader.where(lambda x: x["event"] == "records"):
        for p, o, _v in x["records"]:
            out[p] = max(out.get(p, 0), o + 1)
    return out


def _coordinator(cluster, group: str) -> int:
    from confluent_kafka.admin import AdminClient

    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    return a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15).coordinator.id


def partitions_end(cluster, topic: str) -> dict[int, int]:
    return end_offsets(cluster.bootstrap, topic, range(NP))


@pytest.mark.parametrize("client", ["franz", "sarama"])
def test_leader_killed_under_acks_all_load_loses_nothing(cluster_factory, client):
    cluster = cluster_factory(3)
    topic = f"go-fo-{client}-" + uuid.uuid4().hex[:6]
    create(cluster, topic, NP, 3, min_insync_replicas="2")
    by_id = {b.broker_id: b for b in cluster.brokers}
    group = f"go-fo-g-{client}-" + uuid.uuid4().hex[:6]
    # a group member of the same client reads while the leader dies
    reader = GoProcess(client, "group", "--brokers", cluster.bootstrap, "--topic", topic, "--group", group,
                       "--name", "reader", "--timeout", "200")
    load = None
    try:
        wait_for(lambda: set().union(*[set(x["partitions"] or []) for x in reader.where(lambda x: x["event"] == "assigned")])
                 == set(range(NP)), 40, what="the reader assigned every partition")
        load = GoProcess(client, "load", "--brokers", cluster.bootstrap, "--topic", topic, "--partitions", str(NP),
                         "--rate", "300", "--timeout", "150", *LOAD_ARGS[client])
        wait_for(lambda: len(_acked(load)) > 300, 40, what="load running")
        # the victim leads a partition and, if it leads any, is the reader's group coordinator too
        coordinator = _coordinator(cluster, group)
        leaders = {p: x.leader for p, x in partitions(cluster, topic).items()}
        victim_id = coordinator if coordinator in leaders.values() else leaders[0]
        led = min(p for p, leader in leaders.items() if leader == victim_id)
        victim = by_id[victim_id]
        before = len(_acked(load))
        victim.kill()
        wait_for(lambda: leader_of(cluster, topic, led) not in (-1, victim.broker_id), 30,
                 what=f"a new leader for partition {led}")
        # progress on every partition, the victim's included, after the kill
        wait_for(lambda: {x["p"] for x in _acked(load)[before:]} == set(range(NP)) and len(_acked(load)) > before + 300,
                 60, what="acknowledged records on every partition after the kill")
        victim.start()
        wait_for(lambda: all(len(p.isrs) == 3 for p in partitions(cluster, topic).values()), 60, what="ISR back to 3")
        lines = load.finish("stop", timeout=120)
        ends = {int(p): e for p, e in partitions_end(cluster, topic).items()}
        wait_for(lambda: _read_to(reader) == ends, 60, what=f"the reader at the ends {ends}")
        read = reader.finish("leave")
    except BaseException:
        GoProcess.abandon(*[p for p in (load, reader) if p is not None])
        raise
    done = lines[-1]
    assert done.get("done"), f"the load did not finish cleanly: {lines[-3:]}\n{load.stderr_text()}"
    acked = {(x["p"], x["o"]): x["v"] for x in lines if "o" in x}
    assert len(acked) == done["acked"] > 600, done

    ends, got = consume(client, cluster.bootstrap, topic, partitions=NP, timeout=60)
    stored = {(p, g.offset): g.value.decode() for p, gs in got.items() for g in gs}
    lost = [(k, v) for k, v in acked.items() if stored.get(k) != v]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged records lost or changed, e.g. {lost[:5]} ({done})"
    values = list(stored.values())
    assert len(values) == len(set(values)), "an idempotent producer's record was written twice"
    print(f"\n{client}: killed broker {victim_id} (coordinator {coordinator}), sent {done['sent']}, acknowledged {done['acked']}, failed {done['failed']} {done['errors']}, "
          f"stored {len(stored)}")
    # the reader saw every stored record, in order per partition (a re-read after a failed commit
    # would start again at the last commit, so duplicates are allowed, gaps are not)
    firsts: dict[tuple[int, int], str] = {}
    rereads = 0
    for x in read:
        if x["event"] == "records":
            for p, o, v in x["records"]:
                rereads += (p, o) in firsts
                firsts.setdefault((p, o), v)
    assert firsts == stored, f"the reader missed {len(set(stored) - set(firsts))} records"
    commit_errors = [x.get("commit_error") or x.get("error") for x in read
                     if x.get("commit_error") or x["event"].endswith("error")]
    print(f"{client} reader: {len(firsts)} records, {rereads} read again, {len(commit_errors)} errors (commits, group) "
          f"{commit_errors[:2]}")
    # what was stored but never acknowledged is only what was still in flight at the end or failed
    assert len(stored) - len(acked) <= done["sent"] - done["acked"]
