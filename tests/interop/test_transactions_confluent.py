"""Transactions with confluent-kafka (librdkafka) against a real broker process: commit and abort
across topics and partitions read back by librdkafka's own consumer (read_committed, its
default, against read_uncommitted, both to the end of the partition), consume-transform-produce
with ``send_offsets_to_transaction`` and ``consumer_group_metadata()``, a zombie fenced by a newer
producer with the same transactional.id, and a producer SIGKILLed inside its transaction."""

from __future__ import annotations

import time

import pytest

from interop_clients import ck_config, uniq
import txn_support as txn

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402

pytestmark = pytest.mark.interop


bs = txn.broker_fixture("txn-ck")


def producer(bs: str, tid: str, **extra) -> Producer:
    return Producer(ck_config(bs, **{"transactional.id": tid, "linger.ms": 5, **extra}))


def ck_read(bs: str, tps: list[tuple[str, int]], isolation: str, timeout: float = 30.0) -> dict[tuple[str, int], list[bytes]]:
    """librdkafka's consumer from the beginning of each partition to its end (partition EOF, which
    for read_committed is the last stable offset)."""
    c = Consumer(ck_config(bs, **{"group.id": uniq("ck-read"), "enable.auto.commit": False, "isolation.level": isolation,
                                  "enable.partition.eof": True, "fetch.wait.max.ms": 100}))
    try:
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tps])
        out: dict[tuple[str, int], list[bytes]] = {tp: [] for tp in tps}
        eof: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        while eof != set(tps):
            assert time.monotonic() < deadline, f"librdkafka ({isolation}) reached the end of {sorted(eof)} only: {out}"
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                eof.add((m.topic(), m.partition()))
                continue
            out[(m.topic(), m.partition())].append(m.value())
        return out
    finally:
        c.close()


def test_commit_and_abort_across_topics_and_partitions(bs):
    tps = txn.across_topics(bs, "ck")
    p = producer(bs, uniq("ck"))
    p.init_transactions(30)
    txn.run(txn.produce_rounds(tps, begin=p.begin_transaction, send=lambda t, part, v: p.produce(t, v, partition=part),
                               flush=lambda: p.flush(30), commit=lambda: p.commit_transaction(30),
                               abort=lambda: p.abort_transaction(30)))
    txn.check_rounds(bs, tps, ck_read)


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group, inputs = txn.ctp_input(bs, "ck")
    c = Consumer(ck_config(bs, **{"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "isolation.level": "read_committed", "fetch.wait.max.ms": 100}))
    p = producer(bs, uniq("ck-ctp"))
    checks = []
    try:
        c.subscribe([inp])
        p.init_transactions(30)
        done, txns = 0, 0
        deadline = time.monotonic() + 60
        while done < len(inputs):
            assert time.monotonic() < deadline, f"only {done} of {len(inputs)} processed"
            msgs = [m for m in c.consume(5, 1.0) if not m.error()]
            if not msgs:
                continue
            p.begin_transaction()
            for m in msgs:
                p.produce(out, txn.transform(m.value()), partition=0)
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
            txns += 1
            if txns == 3:
                p.abort_transaction(30)
                committed = c.committed([TopicPartition(inp, 0)], 10)
                c.seek(TopicPartition(inp, 0, committed[0].offset))
                checks.append(txn.offsets_not_ahead(bs, inp, out, group))
                continue
            p.commit_transaction(30)
            done = msgs[-1].offset() + 1
    finally:
        c.close()
    txn.expect_ctp_one_abort(bs, inp, out, group, inputs, checks)


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic, tid = txn.topic_and_id(bs, "ck-fence")
    zombie = producer(bs, tid)
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie-1", partition=0)
    zombie.flush(30)
    fresh = producer(bs, tid)
    fresh.init_transactions(30)  # aborts the zombie's transaction
    fresh.begin_transaction()
    fresh.produce(topic, b"fresh-1", partition=0)
    # librdkafka raises the fatal error from the next call that serves callbacks
    zombie.produce(topic, b"zombie-2", partition=0)
    with pytest.raises(KafkaException) as e:
        zombie.flush(30)
    err = e.value.args[0]
    assert err.fatal() and err.code() == KafkaError._FENCED and "old epoch" in err.str(), err
    with pytest.raises(KafkaException) as e:
        zombie.commit_transaction(30)
    assert e.value.args[0].fatal() and e.value.args[0].code() == KafkaError._FENCED
    fresh.commit_transaction(30)
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert ck_read(bs, [(topic, 0)], "read_uncommitted")[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic, tid = txn.topic_and_id(bs, "ck-kill")
    hanger = txn.python_hanger("confluent", bs, topic, tid, txn.HANG_VALUE)

    def consume() -> list[bytes]:
        c = Consumer(ck_config(bs, **{"group.id": uniq("ck-kill"), "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                      "isolation.level": "read_committed", "fetch.wait.max.ms": 100}))
        got: list[bytes] = []
        try:
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + 60
            while b"after-the-kill" not in got and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got.append(m.value())
        finally:
            c.close()
        return got

    txn.check_killed_producer(bs, topic, tid, hanger, consume)
