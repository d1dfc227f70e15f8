"""Transactions with Kafka's Java client 4.4 (a small program, tests/jvm/programs/TxnClient.java)
against a real broker process. Odradek does not finalize transaction.version 2, so the client
takes the classic flow (AddPartitionsToTxn v3, AddOffsetsToTxn, TxnOffsetCommit v4 with the
member's generation, EndTxn v4, Produce v11 inside transactions). One JVM runs commit and abort
across topics read back by the Java consumer at both isolation levels (endOffsets() is the last
stable offset for read_committed), a zombie fenced by a newer producer, and a
consume-transform-produce loop with ``sendOffsetsToTransaction(offsets, groupMetadata())``; a
second JVM is SIGKILLed inside its transaction."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import kafka_jvm
from interop_clients import uniq
import txn_support as txn

pytestmark = pytest.mark.interop

PROGRAM = Path(kafka_jvm.JVM_DIR) / "programs" / "TxnClient.java"


bs = txn.broker_fixture("txn-java")


@pytest.fixture(scope="module")
def classes():
    return kafka_jvm.compile_java([PROGRAM])


def test_java_client_transactions(bs, classes):
    tps = txn.across_topics(bs, "j")
    a, b = tps[0][0], tps[-1][0]
    fence = uniq("j-fence")
    txn.create_topics(bs, {fence: 1})
    inp, out, group, inputs = txn.ctp_input(bs, "j")
    cmd = kafka_jvm.java_command("TxnClient", ["scenario", bs, a, b, fence, inp, out, group, uniq("j"), str(len(inputs))],
                                 extra_cp=[classes], heap="256m")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"TxnClient failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    res = json.loads(proc.stdout.strip().splitlines()[-1])

    def expected(*names):  # as the program reports what it read: {"topic-partition": [values]}
        return {f"{t}-{p}": [v.decode() for v in vs] for (t, p), vs in txn.round_values(tps, *names).items()}

    basic = res["basic"]
    assert {k: v for k, v in basic["read_committed"].items() if k != "ends"} == expected("one", "three")
    assert {k: v for k, v in basic["read_uncommitted"].items() if k != "ends"} == expected("one", "two", "three")
    assert txn.values(txn.read(bs, tps, "read_committed")) == txn.round_values(tps, "one", "three")

    # The zombie's write is answered INVALID_PRODUCER_EPOCH, which the Java client treats as an
    # abortable error; its commit then fails, and its abort (EndTxn v4) gets PRODUCER_FENCED: fatal.
    f = res["fence"]
    assert f["send"]["class"] == "InvalidProducerEpochException", f
    assert f["commit"]["class"] == "InvalidProducerEpochException", f
    assert f["abort"]["class"] == "ProducerFencedException", f
    assert txn.values(txn.read(bs, [(fence, 0)], "read_committed"))[(fence, 0)] == [b"fresh-1"]
    assert txn.values(txn.read(bs, [(fence, 0)], "read_uncommitted"))[(fence, 0)] == [b"zombie-1", b"fresh-1"]

    # consume-transform-produce: the third transaction is aborted and read again from the group's offset
    log = res["ctp"]
    (i,) = [i for i, e in enumerate(log) if "aborted" in e]
    assert i == 2 and log[i]["committed_offset"] == log[1]["committed"] < log[i]["aborted"], log
    commits = [e["committed"] for e in log if "committed" in e and "aborted" not in e]
    assert commits == sorted(set(commits)) and commits[-1] == len(inputs), log
    txn.expect_ctp(bs, inp, out, group, inputs)


def test_sigkilled_java_producer_blocks_read_committed_until_its_timeout(bs, classes):
    topic, tid = txn.topic_and_id(bs, "j-kill")
    cmd = kafka_jvm.java_command("TxnClient", ["hang", bs, topic, tid, str(txn.KILL_TIMEOUT_MS), txn.HANG_VALUE], extra_cp=[classes], heap="128m")
    hanger = txn.Hanger(cmd)

    def consume() -> list[bytes]:
        # the reader is Odradek's client: the Java consumer's read_committed is checked above
        got = txn.read(bs, [(topic, 0)], "read_committed", timeout=60)
        vals = txn.values(got)[(topic, 0)]
        if b"after-the-kill" in vals:
            return vals
        from helpers import wait_for

        return wait_for(lambda: (v := txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)]) and b"after-the-kill" in v and v,
                        60, what="the record after the killed transaction")

    txn.check_killed_producer(bs, topic, tid, hanger, consume)
