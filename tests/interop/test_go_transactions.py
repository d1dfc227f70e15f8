"""Transactions with the Go clients, franz-go 1.22 (kgo) and IBM sarama 1.61, against a broker
process (the ``txn`` and ``ctp`` subcommands of the programs in tests/interop/go).

- commit, abort, commit with one transactional id; then a second producer with the same id
  starts while the first has records written in an open transaction: the second one's
  InitProducerId fences the first (the coordinator aborts its transaction) and commits; the
  zombie's commit is refused (PRODUCER_FENCED). Once more with a third producer, and the
  zombie's next records are refused (INVALID_PRODUCER_EPOCH): the errors Apache Kafka 4.4 gives
  the same programs. Read back with the same client: read_committed sees exactly the committed
  transactions, read_uncommitted every record written (the aborted and fenced ones too);
- consume-transform-produce, exactly once: kgo's GroupTransactSession, and sarama's consumer
  group with a transactional producer (AddOffsetsToTxn with the session's generation and member
  id, TxnOffsetCommit v3+); every fourth transaction is aborted on purpose (its input is read
  again), the process is SIGKILLed in the middle of the input and started again with the same
  transactional id (which fences the dead one's open transaction); the output, read_committed,
  holds every input record exactly once, in the input's partition, and the group's committed
  offsets are the input's end.

sarama's partition consumer hides control records and gives no position, so it cannot tell it
has read a partition whose last offset is a transaction marker: before sarama reads a topic back
the test appends one plain record to each partition (and leaves it out of the comparison).
franz-go reads with control records kept (``KeepControlRecords``) and counts them as progress.
"""

from __future__ import annotations

import collections

import pytest

from go_clients import GoProcess, build, consume, run
from helpers import wait_for
from test_groups_support import ck_admin, committed, create_topic, produce, uniq

pytestmark = pytest.mark.interop

CLIENTS = ["franz", "sarama"]
NP = 3
SENTINEL = b"end-of-partition"


@pytest.fixture(scope="module", autouse=True)
def go_programs():
    return build()


def read_back(client: str, bs: str, topic: str, isolation: str) -> dict[int, list[bytes]]:
    """{partition: [values in offset order]} read with ``client`` to each partition's end."""
    _ends, got = consume(client, bs, topic, partitions=NP, extra=["--isolation", isolation])
    return {p: [g.value for g in gs if g.value != SENTINEL] for p, gs in got.items()}


def end_with_sentinels(client: str, bs: str, topic: str) -> None:
    if client == "sarama":
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": bs})
        for part in range(NP):
            p.produce(topic, value=SENTINEL, partition=part)
        assert p.flush(30) == 0


def values(tag: str) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = collections.defaultdict(list)
    for i in range(10):
        out[i % NP].append(f"{tag}-{i:02d}".encode())
    return out


def merge(*parts: dict[int, list[bytes]]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = collections.defaultdict(list)
    for d in parts:
        for p, vs in d.items():
            out[p] += vs
    return dict(out)


@pytest.mark.parametrize("client", CLIENTS)
def test_commit_abort_and_fencing(shared_broker, client):
    bs = shared_broker.bootstrap
    topic, tid = uniq(f"go-txn-{client}"), uniq(f"go-tid-{client}")
    create_topic(bs, topic, NP)
    steps = run(client, "txn", "--brokers", bs, "--topic", topic, "--id", tid, "--partitions", str(NP))["steps"]
    print(steps)
    for ok in ("c1", "a1", "c2", "z", "p2", "y", "p3"):
        assert steps[ok] is None, (ok, steps)
    # the zombie's EndTxn (old epoch) is refused by the coordinator with PRODUCER_FENCED (90), the
    # other zombie's records by the partition leaders with INVALID_PRODUCER_EPOCH (47): what
    # Apache Kafka 4.4 answers to the same programs
    assert steps["z_commit"] is not None and steps["z_commit"]["code"] == 90, steps
    assert steps["yy"] is not None and steps["yy"]["code"] == 47, steps
    if client == "sarama":
        assert (steps["z_status"], steps["y_status"]) == ("[fatal_error]", "[abortable_error]"), steps
    end_with_sentinels(client, bs, topic)
    assert read_back(client, bs, topic, "committed") == merge(*map(values, ("c1", "c2", "p2", "p3")))
    assert read_back(client, bs, topic, "uncommitted") == merge(*map(values, ("c1", "a1", "c2", "z", "p2", "y", "p3")))


def _txns(proc: GoProcess) -> list[dict]:
    return proc.where(lambda x: x.get("event") == "txn")


@pytest.mark.parametrize("client", CLIENTS)
def test_consume_transform_produce_exactly_once(shared_broker, client):
    bs = shared_broker.bootstrap
    src, dst = uniq(f"go-ctp-in-{client}"), uniq(f"go-ctp-out-{client}")
    group, tid = uniq(f"go-ctp-g-{client}"), uniq(f"go-ctp-tid-{client}")
    create_topic(bs, src, NP)
    create_topic(bs, dst, NP)
    inputs = produce(bs, src, 150, NP, tag="in")  # {partition: values}, 450 records
    total = sum(len(v) for v in inputs.values())
    args = ["--brokers", bs, "--topic", src, "--out", dst, "--group", group, "--id", tid, "--batch", "10",
            "--abort-every", "4", "--timeout", "120"]
    first = GoProcess(client, "ctp", *args)
    second = None
    try:
        # in the middle of the input: several transactions committed, one aborted on purpose
        wait_for(lambda: sum(len(t["records"]) for t in _txns(first) if t["committed"]) >= 60
                 and any(not t["wanted_commit"] for t in _txns(first)), 60, 0.05,
                 what=f"{client} ctp committing transactions")
        first.kill()
        done_first = sum(len(t["records"]) for t in _txns(first) if t["committed"])
        assert done_first < total, "the first process read everything before it was killed"
        second = GoProcess(client, "ctp", *args)
        ends = {p: len(v) for p, v in inputs.items()}
        admin = ck_admin(bs)
        wait_for(lambda: committed(admin, group, src, NP) == ends, 90, 0.3, what="the group's offsets at the input's end")
        lines = second.finish("stop")
    except BaseException:
        GoProcess.abandon(*[p for p in (first, second) if p is not None])
        raise
    txns = _txns(first) + [x for x in lines if x.get("event") == "txn"]
    errors = [t for t in txns if t["error"] and t["wanted_commit"]]
    print(f"{len(txns)} transactions, {sum(t['committed'] for t in txns)} committed; errors: {errors[:3]}")
    assert all(t["committed"] == t["wanted_commit"] for t in txns if not t["error"]), txns
    assert any(not t["committed"] for t in txns)
    end_with_sentinels(client, bs, dst)
    out = read_back(client, bs, dst, "committed")
    # every input record once, in its own partition (and, per partition, in input order)
    want = {p: [b"out:" + v for v in vs] for p, vs in inputs.items()}
    assert {p: len(v) for p, v in out.items()} == {p: len(v) for p, v in want.items()}
    assert out == want
    everything = read_back(client, bs, dst, "uncommitted")
    print(f"records of aborted transactions in the output: {sum(map(len, everything.values())) - total}")
