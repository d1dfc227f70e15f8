"""Transactions with KafkaJS 2.2.4 (node, through kafkajs/txn.js) against a real broker process:
its transaction API (``producer.transaction()``, ``send``, ``sendOffsets``, ``commit``,
``abort``; InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn at
v0-1), its consumer (read_committed by default, and ``readUncommitted``), consume-transform-produce
with offsets in the transaction, fencing, and a producer SIGKILLed inside its transaction.

KafkaJS does not retry CONCURRENT_TRANSACTIONS on AddOffsetsToTxn and EndTxn: back-to-back
transactions with sendOffsets (the consume-transform-produce loop) would surface it if the broker
answered EndTxn before the markers were written."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from helpers import BrokerProcess
from interop_clients import KAFKAJS_DIR, uniq
from txn_support import (
    HANG_VALUE,
    KILL_TIMEOUT_MS,
    Hanger,
    check_killed_producer,
    create_topics,
    expect_ctp,
    produce_plain,
    read,
    txn_broker_overrides,
    values,
)

pytestmark = pytest.mark.interop

TXN_JS = KAFKAJS_DIR / "txn.js"


@pytest.fixture(scope="module")
def bs(tmp_path_factory):
    assert shutil.which("node") is not None, "node is not installed (scripts/test installs it)"
    assert (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir(), "KafkaJS is not installed: run npm install in tests/interop/kafkajs"
    b = BrokerProcess(tmp_path_factory.mktemp("txn-kjs") / "data", overrides=txn_broker_overrides()).start()
    yield b.bootstrap
    b.kill()


def kjs(bs: str, op: str, timeout: float = 100.0, **args):
    proc = subprocess.run(["node", str(TXN_JS), json.dumps({"brokers": [bs], "op": op, **args})], capture_output=True, text=True,
                          timeout=timeout, cwd=str(KAFKAJS_DIR))
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"txn.js gave no JSON (rc {proc.returncode}): {proc.stdout[-2000:]!r} {proc.stderr[-3000:]!r}") from None
    assert doc["ok"], f"KafkaJS {op} failed: {doc['error']}\n{proc.stderr[-3000:]}"
    return doc["result"]


def kjs_read(bs: str, tps: list[tuple[str, int]], isolation: str) -> dict[tuple[str, int], list[bytes]]:
    """KafkaJS's group consumer from the beginning until the END sentinel of every partition."""
    got = kjs(bs, "read", topics=sorted({t for t, _ in tps}), until={f"{t}/{p}": "END" for t, p in tps}, isolation=isolation,
              groupId=uniq("kjs-read"))
    out: dict[tuple[str, int], list[bytes]] = {tp: [] for tp in tps}
    for m in sorted(got, key=lambda m: (m["topic"], m["partition"], m["offset"])):
        if m["value"] != "END":
            out[(m["topic"], m["partition"])].append(m["value"].encode())
    return out


def test_commit_and_abort_across_topics_and_partitions(bs):
    a, b = uniq("kjs-a"), uniq("kjs-b")
    create_topics(bs, {a: 3, b: 2})
    tps = [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1)]
    txns = [{"sends": [{"topic": t, "partition": p, "value": f"{name}-{p}-{i}"} for t, p in tps for i in range(2)], "end": end}
            for name, end in (("one", "commit"), ("two", "abort"), ("three", "commit"))]
    kjs(bs, "run", tid=uniq("kjs"), transactions=txns)
    for t, p in tps:  # a committed sentinel after the transactions tells the readers where the end is
        produce_plain(bs, t, [b"END"], partition=p)

    def expected(*names):
        return {(t, part): [f"{n}-{part}-{i}".encode() for n in names for i in range(2)] for t, part in tps}

    assert kjs_read(bs, tps, "read_committed") == expected("one", "three")
    assert kjs_read(bs, tps, "read_uncommitted") == expected("one", "two", "three")
    assert {tp: v[:-1] for tp, v in values(read(bs, tps, "read_committed")).items()} == expected("one", "three")


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group = uniq("kjs-in"), uniq("kjs-out"), uniq("kjs-g")
    create_topics(bs, {inp: 1, out: 1})
    inputs = [f"v{i}".encode() for i in range(24)]
    produce_plain(bs, inp, inputs)
    log = kjs(bs, "ctp", tid=uniq("kjs-ctp"), group=group, input=inp, output=out, count=len(inputs), chunk=4, abortAt=3)
    # transactions of at most 4 records; the third is aborted and its records done again, then the rest
    (i,) = [i for i, e in enumerate(log) if "aborted" in e]
    commits = [e["committed"] for e in log if "committed" in e]
    assert i == 2 and commits == sorted(set(commits)) and commits[-1] == len(inputs), log
    assert log[i + 1]["committed"] <= log[i]["aborted"], log
    expect_ctp(bs, inp, out, group, inputs)


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic = uniq("kjs-fence")
    create_topics(bs, {topic: 1})
    res = kjs(bs, "fence", tid=uniq("kjs-zombie"), topic=topic)
    # KafkaJS sends Produce v7 and EndTxn v1: both answered INVALID_PRODUCER_EPOCH (PRODUCER_FENCED
    # is newer than EndTxn v1), which KafkaJS throws as a non-retriable protocol error
    for step in ("send", "commit"):
        err = res[step]
        assert err is not None and (err["type"], err["code"], err["retriable"]) == ("INVALID_PRODUCER_EPOCH", 47, False), res
    assert values(read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert values(read(bs, [(topic, 0)], "read_uncommitted"))[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic = uniq("kjs-kill")
    create_topics(bs, {topic: 1})
    tid = uniq("kjs-kill")
    hanger = Hanger(["node", str(TXN_JS), json.dumps({"brokers": [bs], "op": "hang", "tid": tid, "topic": topic, "value": HANG_VALUE,
                                                      "timeoutMs": KILL_TIMEOUT_MS})], cwd=str(KAFKAJS_DIR))

    def consume() -> list[bytes]:
        got = kjs(bs, "read", topics=[topic], until={f"{topic}/0": "after-the-kill"}, isolation="read_committed", groupId=uniq("kjs-kill"),
                  timeoutMs=60000)
        return [m["value"].encode() for m in got]

    check_killed_producer(bs, topic, tid, hanger, consume)
