"""Transactions with aiokafka 0.14 against a real broker process. aiokafka sends only version 0 of
the transaction APIs (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit without
a generation, EndTxn), so the broker's old-version answers are what is tested here: commit and
abort across topics and partitions read back by aiokafka's consumer at both isolation levels,
consume-transform-produce with ``send_offsets_to_transaction``, a zombie fenced by a newer
producer (INVALID_PRODUCER_EPOCH, which v0 knows, instead of PRODUCER_FENCED), and a producer
SIGKILLed inside its transaction."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from interop_clients import uniq
import txn_support as txn

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.errors import KafkaError, ProducerFenced  # noqa: E402

pytestmark = pytest.mark.interop


bs = txn.broker_fixture("txn-ak")


def producer(bs: str, tid: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bs, transactional_id=tid, enable_idempotence=True, linger_ms=5, request_timeout_ms=15000)


async def ak_read(bs: str, tps: list[tuple[str, int]], isolation: str, ends: dict, timeout: float = 30.0) -> dict[tuple[str, int], list[bytes]]:
    """aiokafka's consumer from the start of each partition until its position reaches ``ends``."""
    c = AIOKafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                         isolation_level=isolation, fetch_max_wait_ms=100, request_timeout_ms=15000)
    await c.start()
    try:
        parts = [TopicPartition(*tp) for tp in tps]
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        out: dict[tuple[str, int], list[bytes]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while any([await c.position(TopicPartition(*tp)) < end for tp, end in ends.items()]):
            assert time.monotonic() < deadline, f"aiokafka ({isolation}) did not reach {ends}: {out}"
            for tp, msgs in (await c.getmany(timeout_ms=200)).items():
                out[(tp.topic, tp.partition)] += [m.value for m in msgs]
        return out
    finally:
        await c.stop()


def read_with_aiokafka(bs: str, tps: list[tuple[str, int]], isolation: str) -> dict[tuple[str, int], list[bytes]]:
    return asyncio.run(ak_read(bs, tps, isolation, txn.visible_ends(bs, tps, isolation)))


def test_commit_and_abort_across_topics_and_partitions(bs):
    tps = txn.across_topics(bs, "ak")

    async def go():
        p = producer(bs, uniq("ak"))
        await p.start()  # InitProducerId v0 with the transactional id
        try:
            await txn.produce_rounds(tps, begin=p.begin_transaction, send=lambda t, part, v: p.send(t, v, partition=part),
                                     flush=p.flush, commit=p.commit_transaction, abort=p.abort_transaction)
        finally:
            await p.stop()

    asyncio.run(go())
    txn.check_rounds(bs, tps, read_with_aiokafka)


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group, inputs = txn.ctp_input(bs, "ak")
    checks = []

    async def go():
        c = AIOKafkaConsumer(inp, bootstrap_servers=bs, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level="read_committed", fetch_max_wait_ms=100, max_poll_records=5, request_timeout_ms=15000)
        p = producer(bs, uniq("ak-ctp"))
        await c.start()
        await p.start()
        try:
            done, txns = 0, 0
            deadline = time.monotonic() + 60
            tp = TopicPartition(inp, 0)
            while done < len(inputs):
                assert time.monotonic() < deadline, f"only {done} of {len(inputs)} processed"
                msgs = (await c.getmany(timeout_ms=1000)).get(tp, [])
                if not msgs:
                    continue
                await p.begin_transaction()
                for m in msgs:
                    await p.send(out, txn.transform(m.value), partition=0)
                # aiokafka takes the group id only (TxnOffsetCommit v0: no generation, no member)
                await p.send_offsets_to_transaction({tp: msgs[-1].offset + 1}, group)
                txns += 1
                if txns == 3:
                    await p.abort_transaction()
                    c.seek(tp, await c.committed(tp))
                    checks.append(await asyncio.to_thread(txn.offsets_not_ahead, bs, inp, out, group))
                    continue
                await p.commit_transaction()
                done = msgs[-1].offset + 1
        finally:
            await p.stop()
            await c.stop()

    asyncio.run(go())
    txn.expect_ctp_one_abort(bs, inp, out, group, inputs, checks)


@contextlib.asynccontextmanager
async def zombie_and_fresh(bs: str, topic: str, tid: str):
    """Two producers with one transactional id: the zombie has written ``zombie-1`` in a
    transaction when the fresh one starts (InitProducerId aborts the zombie's transaction) and
    begins its own. Both are stopped afterwards."""
    zombie, fresh = producer(bs, tid), producer(bs, tid)
    await zombie.start()
    try:
        await zombie.begin_transaction()
        await zombie.send_and_wait(topic, b"zombie-1", partition=0)
        await fresh.start()
        await fresh.begin_transaction()
        yield zombie, fresh
    finally:
        try:
            await zombie.stop()
        except KafkaError:
            pass
        await fresh.stop()


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic, tid = txn.topic_and_id(bs, "ak-fence")

    async def go():
        async with zombie_and_fresh(bs, topic, tid) as (zombie, fresh):
            await fresh.send(topic, b"fresh-1", partition=0)
            # EndTxn v0 gets INVALID_PRODUCER_EPOCH (47): aiokafka's ProducerFenced. (PRODUCER_FENCED,
            # 90, is newer than v0: aiokafka would raise an unexpected-error instead.)
            with pytest.raises(ProducerFenced):
                await zombie.commit_transaction()
            await fresh.commit_transaction()

    asyncio.run(go())
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert read_with_aiokafka(bs, [(topic, 0)], "read_uncommitted")[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_zombie_write_is_fenced(bs):
    topic, tid = txn.topic_and_id(bs, "ak-fence-w")

    async def go():
        async with zombie_and_fresh(bs, topic, tid) as (zombie, fresh):
            await fresh.send_and_wait(topic, b"fresh-1", partition=0)
            # Produce v7 gets INVALID_PRODUCER_EPOCH: ProducerFenced for aiokafka (no epoch bump)
            with pytest.raises(ProducerFenced):
                await zombie.send_and_wait(topic, b"zombie-2", partition=0)
            await fresh.commit_transaction()

    asyncio.run(go())
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic, tid = txn.topic_and_id(bs, "ak-kill")
    hanger = txn.python_hanger("aiokafka", bs, topic, tid, txn.HANG_VALUE)

    def consume() -> list[bytes]:
        async def go():
            c = AIOKafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                 isolation_level="read_committed", fetch_max_wait_ms=100, request_timeout_ms=15000)
            await c.start()
            got: list[bytes] = []
            try:
                c.assign([TopicPartition(topic, 0)])
                deadline = time.monotonic() + 60
                while b"after-the-kill" not in got and time.monotonic() < deadline:
                    for msgs in (await c.getmany(timeout_ms=200)).values():
                        got += [m.value for m in msgs]
            finally:
                await c.stop()
            return got

        return asyncio.run(go())

    txn.check_killed_producer(bs, topic, tid, hanger, consume)
