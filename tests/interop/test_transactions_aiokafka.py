"""Transactions with aiokafka 0.14 against a real broker process. aiokafka sends only version 0 of
the transaction APIs (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit without
a generation, EndTxn), so the broker's old-version answers are what is tested here: commit and
abort across topics and partitions read back by aiokafka's consumer at both isolation levels,
consume-transform-produce with ``send_offsets_to_transaction``, a zombie fenced by a newer
producer (INVALID_PRODUCER_EPOCH, which v0 knows, instead of PRODUCER_FENCED), and a producer
SIGKILLed inside its transaction."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpers import BrokerProcess
from interop_clients import uniq
from txn_support import (
    HANG_VALUE,
    check_killed_producer,
    create_topics,
    expect_ctp,
    high_watermark,
    lso,
    offsets_not_ahead,
    produce_plain,
    python_hanger,
    read,
    transform,
    txn_broker_overrides,
    values,
)

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.errors import KafkaError, ProducerFenced  # noqa: E402

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def bs(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("txn-ak") / "data", overrides=txn_broker_overrides()).start()
    yield b.bootstrap
    b.kill()


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
    ends = {tp: (lso(bs, *tp) if isolation == "read_committed" else high_watermark(bs, *tp)) for tp in tps}
    return asyncio.run(ak_read(bs, tps, isolation, ends))


def test_commit_and_abort_across_topics_and_partitions(bs):
    a, b = uniq("ak-a"), uniq("ak-b")
    create_topics(bs, {a: 3, b: 2})
    tps = [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1)]

    async def go():
        p = producer(bs, uniq("ak"))
        await p.start()  # InitProducerId v0 with the transactional id
        try:
            for name, commit in (("one", True), ("two", False), ("three", True)):
                await p.begin_transaction()
                for t, part in tps:
                    for i in range(2):
                        await p.send(t, f"{name}-{part}-{i}".encode(), partition=part)
                if commit:
                    await p.commit_transaction()
                else:
                    await p.flush()  # in the logs before the abort marker
                    await p.abort_transaction()
        finally:
            await p.stop()

    asyncio.run(go())

    def expected(*names):
        return {(t, part): [f"{n}-{part}-{i}".encode() for n in names for i in range(2)] for t, part in tps}

    assert read_with_aiokafka(bs, tps, "read_committed") == expected("one", "three")
    assert read_with_aiokafka(bs, tps, "read_uncommitted") == expected("one", "two", "three")
    assert values(read(bs, tps, "read_committed")) == expected("one", "three")


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group = uniq("ak-in"), uniq("ak-out"), uniq("ak-g")
    create_topics(bs, {inp: 1, out: 1})
    inputs = [f"v{i}".encode() for i in range(24)]
    produce_plain(bs, inp, inputs)
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
                    await p.send(out, transform(m.value), partition=0)
                # aiokafka takes the group id only (TxnOffsetCommit v0: no generation, no member)
                await p.send_offsets_to_transaction({tp: msgs[-1].offset + 1}, group)
                txns += 1
                if txns == 3:
                    await p.abort_transaction()
                    c.seek(tp, await c.committed(tp))
                    checks.append(await asyncio.to_thread(offsets_not_ahead, bs, inp, out, group))
                    continue
                await p.commit_transaction()
                done = msgs[-1].offset + 1
        finally:
            await p.stop()
            await c.stop()

    asyncio.run(go())
    assert len(checks) == 1 and checks[0][0] == checks[0][1] > 0
    expect_ctp(bs, inp, out, group, inputs)


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic = uniq("ak-fence")
    create_topics(bs, {topic: 1})
    tid = uniq("ak-zombie")

    async def go():
        zombie, fresh = producer(bs, tid), producer(bs, tid)
        await zombie.start()
        try:
            await zombie.begin_transaction()
            await zombie.send_and_wait(topic, b"zombie-1", partition=0)
            await fresh.start()  # InitProducerId aborts the zombie's transaction
            await fresh.begin_transaction()
            await fresh.send(topic, b"fresh-1", partition=0)
            # EndTxn v0 gets INVALID_PRODUCER_EPOCH (47): aiokafka's ProducerFenced. (PRODUCER_FENCED,
            # 90, is newer than v0: aiokafka would raise an unexpected-error instead.)
            with pytest.raises(ProducerFenced):
                await zombie.commit_transaction()
            await fresh.commit_transaction()
        finally:
            try:
                await zombie.stop()
            except KafkaError:
                pass
            await fresh.stop()

    asyncio.run(go())
    assert values(read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert read_with_aiokafka(bs, [(topic, 0)], "read_uncommitted")[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_zombie_write_is_fenced(bs):
    topic = uniq("ak-fence-w")
    create_topics(bs, {topic: 1})
    tid = uniq("ak-zombie-w")

    async def go():
        zombie, fresh = producer(bs, tid), producer(bs, tid)
        await zombie.start()
        try:
            await zombie.begin_transaction()
            await zombie.send_and_wait(topic, b"zombie-1", partition=0)
            await fresh.start()
            await fresh.begin_transaction()
            await fresh.send_and_wait(topic, b"fresh-1", partition=0)
            # Produce v7 gets INVALID_PRODUCER_EPOCH: ProducerFenced for aiokafka (no epoch bump)
            with pytest.raises(ProducerFenced):
                await zombie.send_and_wait(topic, b"zombie-2", partition=0)
            await fresh.commit_transaction()
        finally:
            try:
                await zombie.stop()
            except KafkaError:
                pass
            await fresh.stop()

    asyncio.run(go())
    assert values(read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic = uniq("ak-kill")
    create_topics(bs, {topic: 1})
    tid = uniq("ak-kill")
    hanger = python_hanger("aiokafka", bs, topic, tid, HANG_VALUE)

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

    check_killed_producer(bs, topic, tid, hanger, consume)
