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

from interop_clients import KAFKAJS_DIR, uniq
import txn_support as txn

pytestmark = pytest.mark.interop

TXN_JS = KAFKAJS_DIR / "txn.js"


def _kafkajs_installed() -> None:
    assert shutil.which("node") is not None, "node is not installed (scripts/test installs it)"
    assert (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir(), "KafkaJS is not installed: run npm install in tests/interop/kafkajs"


bs = txn.broker_fixture("txn-kjs", check=_kafkajs_installed)


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
    tps = txn.across_topics(bs, "kjs")
    txns = [{"sends": [{"topic": t, "partition": p, "value": f"{name}-{p}-{i}"} for t, p in tps for i in range(2)],
             "end": "commit" if commit else "abort"} for name, commit in txn.ROUNDS]
    kjs(bs, "run", tid=uniq("kjs"), transactions=txns)
    for t, p in tps:  # a committed sentinel after the transactions tells the readers where the end is
        txn.produce_plain(bs, t, [b"END"], partition=p)

    assert kjs_read(bs, tps, "read_committed") == txn.round_values(tps, "one", "three")
    assert kjs_read(bs, tps, "read_uncommitted") == txn.round_values(tps, "one", "two", "three")
    assert {tp: v[:-1] for tp, v in txn.values(txn.read(bs, tps, "read_committed")).items()} == txn.round_values(tps, "one", "three")


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group, inputs = txn.ctp_input(bs, "kjs")
    log = kjs(bs, "ctp", tid=uniq("kjs-ctp"), group=group, input=inp, output=out, count=len(inputs), chunk=4, abortAt=3)
    # transactions of at most 4 records; the third is aborted and its records done again, then the rest
    (i,) = [i for i, e in enumerate(log) if "aborted" in e]
    commits = [e["committed"] for e in log if "committed" in e]
    assert i == 2 and commits == sorted(set(commits)) and commits[-1] == len(inputs), log
    assert log[i + 1]["committed"] <= log[i]["aborted"], log
    txn.expect_ctp(bs, inp, out, group, inputs)


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic, tid = txn.topic_and_id(bs, "kjs-fence")
    res = kjs(bs, "fence", tid=tid, topic=topic)
    # KafkaJS sends Produce v7 and EndTxn v1: both answered INVALID_PRODUCER_EPOCH (PRODUCER_FENCED
    # is newer than EndTxn v1), which KafkaJS throws as a non-retriable protocol error
    for step in ("send", "commit"):
        err = res[step]
        assert err is not None and (err["type"], err["code"], err["retriable"]) == ("INVALID_PRODUCER_EPOCH", 47, False), res
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert txn.values(txn.read(bs, [(topic, 0)], "read_uncommitted"))[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic, tid = txn.topic_and_id(bs, "kjs-kill")
    hanger = txn.Hanger(["node", str(TXN_JS), json.dumps({"brokers": [bs], "op": "hang", "tid": tid, "topic": topic, "value": txn.HANG_VALUE,
                                                      "timeoutMs": txn.KILL_TIMEOUT_MS})], cwd=str(KAFKAJS_DIR))

    def consume() -> list[bytes]:
        got = kjs(bs, "read", topics=[topic], until={f"{topic}/0": "after-the-kill"}, isolation="read_committed", groupId=uniq("kjs-kill"),
                  timeoutMs=60000)
        return [m["value"].encode() for m in got]

    txn.check_killed_producer(bs, topic, tid, hanger, consume)
