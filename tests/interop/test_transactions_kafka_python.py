"""Transactions with kafka-python 3 against a real broker process: commit and abort across topics
and partitions read back by kafka-python's consumer (read_committed against read_uncommitted),
consume-transform-produce with ``send_offsets_to_transaction`` and ``group_metadata()``
(TxnOffsetCommit v3 with the member's generation), a zombie fenced by a newer producer with the
same transactional_id, and a producer SIGKILLed inside its transaction."""

from __future__ import annotations

import time

import pytest

from helpers import wait_for
from interop_clients import uniq
import txn_support as txn

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.errors import KafkaError, ProducerFencedError  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

pytestmark = pytest.mark.interop


bs = txn.broker_fixture("txn-kp")


def producer(bs: str, tid: str, **extra) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bs, transactional_id=tid, linger_ms=5, request_timeout_ms=15000, **extra)


def kp_read(bs: str, tps: list[tuple[str, int]], isolation: str, timeout: float = 30.0) -> dict[tuple[str, int], list[bytes]]:
    """kafka-python's consumer from the start of each partition until its position reaches the end
    for ``isolation`` (the LSO for read_committed: the position moves past markers and aborted batches)."""
    ends = txn.visible_ends(bs, tps, isolation)
    c = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                      isolation_level=isolation, fetch_max_wait_ms=100, request_timeout_ms=15000)
    try:
        parts = [TopicPartition(*tp) for tp in tps]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        out: dict[tuple[str, int], list[bytes]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while any(c.position(TopicPartition(*tp)) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"kafka-python ({isolation}) did not reach {ends}: {out}"
            for tp, msgs in c.poll(timeout_ms=200).items():
                out[(tp.topic, tp.partition)] += [m.value for m in msgs]
        return out
    finally:
        c.close()


def test_commit_and_abort_across_topics_and_partitions(bs):
    tps = txn.across_topics(bs, "kp")
    p = producer(bs, uniq("kp"))
    try:
        p.init_transactions()
        txn.run(txn.produce_rounds(tps, begin=p.begin_transaction, send=lambda t, part, v: p.send(t, v, partition=part),
                                   flush=p.flush, commit=p.commit_transaction, abort=p.abort_transaction))
    finally:
        p.close()
    txn.check_rounds(bs, tps, kp_read)


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group, inputs = txn.ctp_input(bs, "kp")
    c = KafkaConsumer(inp, bootstrap_servers=bs, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                      isolation_level="read_committed", fetch_max_wait_ms=100, max_poll_records=5, request_timeout_ms=15000)
    p = producer(bs, uniq("kp-ctp"))
    checks = []
    try:
        p.init_transactions()
        done, txns = 0, 0
        deadline = time.monotonic() + 60
        tp = TopicPartition(inp, 0)
        while done < len(inputs):
            assert time.monotonic() < deadline, f"only {done} of {len(inputs)} processed"
            msgs = c.poll(timeout_ms=1000).get(tp, [])
            if not msgs:
                continue
            p.begin_transaction()
            for m in msgs:
                p.send(out, txn.transform(m.value), partition=0)
            meta = c.group_metadata()
            assert meta.generation_id > 0 and meta.member_id  # TxnOffsetCommit v3 carries them
            p.send_offsets_to_transaction({tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1)}, meta)
            txns += 1
            if txns == 3:
                p.abort_transaction()
                c.seek(tp, c.committed(tp))
                checks.append(txn.offsets_not_ahead(bs, inp, out, group))
                continue
            p.commit_transaction()
            done = msgs[-1].offset + 1
    finally:
        p.close()
        c.close()
    txn.expect_ctp_one_abort(bs, inp, out, group, inputs, checks)


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic, tid = txn.topic_and_id(bs, "kp-fence")
    zombie = producer(bs, tid)
    fresh = producer(bs, tid)
    try:
        zombie.init_transactions()
        zombie.begin_transaction()
        zombie.send(topic, b"zombie-1", partition=0).get(30)
        fresh.init_transactions()  # aborts the zombie's transaction
        fresh.begin_transaction()
        fresh.send(topic, b"fresh-1", partition=0)
        # the zombie's commit (EndTxn v3) is answered PRODUCER_FENCED: fatal
        with pytest.raises(ProducerFencedError):
            zombie.commit_transaction()
        with pytest.raises(KafkaError, match="ProducerFencedError"):
            zombie.begin_transaction()
        fresh.commit_transaction()
    finally:
        zombie.close(timeout=5)
        fresh.close()
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert kp_read(bs, [(topic, 0)], "read_uncommitted")[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_zombie_write_bumps_the_epoch_and_fences_both(bs):
    """A zombie that *writes* gets INVALID_PRODUCER_EPOCH; kafka-python 3 answers that with a
    KIP-360 epoch bump in the background (InitProducerId v4 with its id and epoch). The coordinator
    sees its own producer id while the newer producer's transaction is open, so it aborts that
    transaction and bumps the epoch (fencing the newer producer too) before telling the zombie
    PRODUCER_FENCED. Apache Kafka 4.4 answers exactly so (run by hand with this scenario): nothing
    of either producer is committed, and a third producer with the id carries on."""
    topic, tid = txn.topic_and_id(bs, "kp-fence-w")
    zombie, fresh, third = producer(bs, tid), producer(bs, tid), producer(bs, tid)
    try:
        zombie.init_transactions()
        zombie.begin_transaction()
        zombie.send(topic, b"zombie-1", partition=0).get(30)
        fresh.init_transactions()
        fresh.begin_transaction()
        fresh.send(topic, b"fresh-1", partition=0).get(30)
        fut = zombie.send(topic, b"zombie-2", partition=0)
        with pytest.raises(KafkaError) as e:
            fut.get(30)
        assert type(e.value).__name__ == "InvalidProducerEpochError", repr(e.value)
        # (a commit while the bump is in flight fails with kafka-python's "invalid transition")
        wait_for(lambda: zombie._transaction_manager._current_state.name == "FATAL_ERROR", 30, what="kafka-python to learn it is fenced")
        assert isinstance(zombie._transaction_manager._last_error, ProducerFencedError)
        with pytest.raises(KafkaError, match="ProducerFencedError"):
            zombie.commit_transaction()
        with pytest.raises(ProducerFencedError):
            fresh.commit_transaction()
        third.init_transactions()
        third.begin_transaction()
        third.send(topic, b"third-1", partition=0)
        third.commit_transaction()
    finally:
        for p in (zombie, fresh, third):
            p.close(timeout=5)
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"third-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic, tid = txn.topic_and_id(bs, "kp-kill")
    hanger = txn.python_hanger("kafka-python", bs, topic, tid, txn.HANG_VALUE)

    def consume() -> list[bytes]:
        c = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                          isolation_level="read_committed", fetch_max_wait_ms=100, request_timeout_ms=15000)
        got: list[bytes] = []
        try:
            c.assign([TopicPartition(topic, 0)])
            deadline = time.monotonic() + 60
            while b"after-the-kill" not in got and time.monotonic() < deadline:
                for msgs in c.poll(timeout_ms=200).values():
                    got += [m.value for m in msgs]
        finally:
            c.close()
        return got

    txn.check_killed_producer(bs, topic, tid, hanger, consume)
