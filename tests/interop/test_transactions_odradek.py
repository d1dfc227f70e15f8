"""Transactions with Odradek's own client against a real broker process: commit and abort across
topics and partitions, read_committed against read_uncommitted, consume-transform-produce with
the group's offsets in the transaction, a zombie fenced by a newer producer with the same
transactional id, a producer SIGKILLed inside its transaction, and the synchronous wrapper."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpers import wait_for
from interop_clients import uniq
import txn_support as txn

from odradek.client import Consumer, Producer, TopicPartition
from odradek.client.sync import SyncConsumer, SyncProducer
from odradek.client.transactions import ProducerFenced, TransactionAbortable, TransactionState

pytestmark = pytest.mark.interop


bs = txn.broker_fixture("txn-odradek")


def test_commit_and_abort_across_topics_and_partitions(bs):
    tps = txn.across_topics(bs, "tx")
    tid = uniq("tid")

    async def go():
        async with Producer(bs, transactional_id=tid) as p:
            await p.init_transactions()
            for name, commit in txn.ROUNDS:
                await p.begin_transaction()
                for t, part in tps:
                    for i in range(2):
                        await p.send(t, f"{name}-{t[-2:]}{part}-{i}".encode(), partition=part)
                if commit:
                    await p.commit_transaction()
                else:
                    await p.flush()  # the records are in the logs before the abort marker
                    await p.abort_transaction()
                assert p.transaction_state == TransactionState.READY

    asyncio.run(go())

    def expected(*names):
        return {(t, part): [f"{n}-{t[-2:]}{part}-{i}".encode() for n in names for i in range(2)] for t, part in tps}

    assert txn.values(txn.read(bs, tps, "read_committed")) == expected("one", "three")
    assert txn.values(txn.read(bs, tps, "read_uncommitted")) == expected("one", "two", "three")
    for t, part in tps:  # nothing open: the LSO is the high watermark (which counts the markers)
        assert txn.lso(bs, t, part) == txn.high_watermark(bs, t, part) == 6 + 3
    d = txn.describe(bs, tid)
    assert d.state == "CompleteCommit" and d.partitions == [] and d.start_time_ms == -1


def test_consume_transform_produce_with_offsets_in_the_transaction(bs):
    inp, out, group, inputs = txn.ctp_input(bs, "ctp")
    tid = uniq("ctp")
    checks = []

    async def go():
        consumer = Consumer(bs, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed")
        producer = Producer(bs, transactional_id=tid)
        await consumer.start()
        consumer.subscribe([inp])
        await producer.init_transactions()
        done, txns = 0, 0
        deadline = time.monotonic() + 60
        while done < len(inputs):
            assert time.monotonic() < deadline, f"only {done} of {len(inputs)} processed"
            records = await consumer.poll(1.0, max_records=5)
            if not records:
                continue
            await producer.begin_transaction()
            for r in records:
                await producer.send(out, txn.transform(r.value), r.key, partition=0)
            tp = TopicPartition(inp, 0)
            await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, consumer.group_metadata())
            txns += 1
            if txns == 3:  # this one fails: nothing of it may show, and the loop starts again from the group's offset
                await producer.abort_transaction()
                om = (await consumer.committed([tp]))[tp]
                consumer.seek(tp, om.offset)
                checks.append(await asyncio.to_thread(txn.offsets_not_ahead, bs, inp, out, group))
                continue
            await producer.commit_transaction()
            done = records[-1].offset + 1
        await producer.close()
        await consumer.close()

    asyncio.run(go())
    txn.expect_ctp_one_abort(bs, inp, out, group, inputs, checks)  # two transactions committed; the third aborted


def test_zombie_is_fenced_by_a_newer_producer(bs):
    topic, tid = txn.topic_and_id(bs, "fence")

    async def go():
        zombie = Producer(bs, transactional_id=tid)
        await zombie.init_transactions()
        await zombie.begin_transaction()
        await zombie.send_and_wait(topic, b"zombie-1", partition=0)
        old_epoch = zombie.producer_epoch
        fresh = Producer(bs, transactional_id=tid)
        await fresh.init_transactions()  # aborts the zombie's transaction and bumps the epoch
        assert fresh.producer_id == zombie.producer_id and fresh.producer_epoch > old_epoch
        await fresh.begin_transaction()
        await fresh.send(topic, b"fresh-1", partition=0)
        # the zombie's next write and its commit fail as fenced
        fut = await zombie.send(topic, b"zombie-2", partition=0)
        with pytest.raises(ProducerFenced) as e:
            await fut
        assert e.value.name == "INVALID_PRODUCER_EPOCH"
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()
        assert zombie.transaction_state == TransactionState.FATAL_ERROR
        with pytest.raises(ProducerFenced):
            await zombie.begin_transaction()
        await fresh.commit_transaction()
        await zombie.close()
        await fresh.close()
        # a producer started after the fresh one finished its transaction fences it the same way
        third = Producer(bs, transactional_id=tid)
        await third.init_transactions()
        assert third.producer_epoch > fresh.producer_epoch
        await third.close()

    asyncio.run(go())
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"fresh-1"]
    assert txn.values(txn.read(bs, [(topic, 0)], "read_uncommitted"))[(topic, 0)] == [b"zombie-1", b"fresh-1"]


def test_sigkilled_producer_blocks_read_committed_until_its_timeout(bs):
    topic, tid = txn.topic_and_id(bs, "kill")
    hanger = txn.python_hanger("odradek", bs, topic, tid, txn.HANG_VALUE)
    assert txn.describe(bs, tid).timeout_ms == txn.KILL_TIMEOUT_MS

    def consume():
        async def go():
            got = []
            async with Consumer(bs, isolation_level="read_committed", auto_offset_reset="earliest") as c:
                c.assign([TopicPartition(topic, 0)])
                deadline = time.monotonic() + 60
                while b"after-the-kill" not in got and time.monotonic() < deadline:
                    got += [r.value for r in await c.poll(0.5)]
            return got

        return asyncio.run(go())

    txn.check_killed_producer(bs, topic, tid, hanger, consume)


def test_sync_wrapper_transactions(bs):
    inp, out, group = uniq("sync-in"), uniq("sync-out"), uniq("sync-g")
    txn.create_topics(bs, {inp: 1, out: 1})
    txn.produce_plain(bs, inp, [b"a", b"b", b"c"])
    with SyncConsumer(bs, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed") as c, \
            SyncProducer(bs, transactional_id=uniq("sync")) as p:
        c.subscribe([inp])
        p.init_transactions()
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            got += c.poll(timeout=0.5)
        assert [r.value for r in got] == [b"a", b"b", b"c"]
        p.begin_transaction()
        for r in got:
            p.send(out, txn.transform(r.value), partition=0)
        p.send_offsets_to_transaction({TopicPartition(inp, 0): 3}, c.group_metadata())
        p.commit_transaction()
    txn.expect_ctp(bs, inp, out, group, [b"a", b"b", b"c"])
    assert txn.committed(bs, group, [(inp, 0)]) == {(inp, 0): 3}


def test_offsets_only_transaction_and_close_aborts(bs):
    inp, out, group = uniq("only-in"), uniq("only-out"), uniq("only-g")
    txn.create_topics(bs, {inp: 1, out: 1})
    txn.produce_plain(bs, inp, [b"a", b"b"])
    tid = uniq("only")

    async def go():
        async with Producer(bs, transactional_id=tid) as p:
            await p.init_transactions()
            # a transaction of offsets alone commits them
            await p.begin_transaction()
            await p.send_offsets_to_transaction({TopicPartition(inp, 0): 2}, group)
            await p.commit_transaction()
            # an empty transaction sends nothing and leaves the id as it was
            await p.begin_transaction()
            await p.commit_transaction()
            await p.begin_transaction()
            await p.send_and_wait(out, b"left-open", partition=0)
        # close() aborted the open transaction

    asyncio.run(go())
    assert txn.committed(bs, group, [(inp, 0)]) == {(inp, 0): 2}
    assert txn.describe(bs, tid).state == "CompleteAbort"
    assert txn.values(txn.read(bs, [(out, 0)], "read_committed"))[(out, 0)] == []
    assert txn.lso(bs, out) == txn.high_watermark(bs, out) == 2


def test_a_stale_group_generation_makes_the_transaction_abortable(bs):
    """KIP-447: offsets sent with the group metadata of a member that was rebalanced away are
    refused (ILLEGAL_GENERATION): the transaction must be aborted; the producer carries on."""
    inp, group = uniq("gen-in"), uniq("gen-g")
    txn.create_topics(bs, {inp: 2})

    async def go():
        first = Consumer(bs, group_id=group, enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=200)
        second = Consumer(bs, group_id=group, enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=200)
        p = Producer(bs, transactional_id=uniq("gen"))
        try:
            await first.start()
            first.subscribe([inp])
            deadline = time.monotonic() + 30
            while not first.assignment():
                assert time.monotonic() < deadline
                await first.poll(0.2)
            stale = first.group_metadata()
            await second.start()
            second.subscribe([inp])
            while not (second.assignment() and first.generation_id > stale.generation_id):
                assert time.monotonic() < deadline, "the group did not rebalance"
                await asyncio.gather(first.poll(0.2), second.poll(0.2))
            await p.init_transactions()
            await p.begin_transaction()
            with pytest.raises(TransactionAbortable) as e:
                await p.send_offsets_to_transaction({TopicPartition(inp, 0): 0}, stale)
            assert e.value.name == "ILLEGAL_GENERATION"
            assert p.transaction_state == TransactionState.ABORTABLE_ERROR
            with pytest.raises(TransactionAbortable):
                await p.commit_transaction()
            await p.abort_transaction()
            await p.begin_transaction()  # the producer goes on
            await p.send_offsets_to_transaction({TopicPartition(inp, 0): 0}, first.group_metadata())
            await p.commit_transaction()
        finally:
            await p.close()
            await second.close()
            await first.close()

    asyncio.run(go())


def test_a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced(bs):
    topic, tid = txn.topic_and_id(bs, "slow")

    async def go():
        async with Producer(bs, transactional_id=tid, transaction_timeout_ms=1000) as p:
            await p.init_transactions()
            await p.begin_transaction()
            await p.send_and_wait(topic, b"too-slow", partition=0)
            await asyncio.to_thread(wait_for, lambda: txn.describe(bs, tid).state == "CompleteAbort", 30, what="the timeout abort")
            fut = await p.send(topic, b"later", partition=0)
            with pytest.raises(ProducerFenced):
                await fut
            with pytest.raises(ProducerFenced):
                await p.commit_transaction()

    asyncio.run(go())
    assert txn.values(txn.read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == []
    assert txn.values(txn.read(bs, [(topic, 0)], "read_uncommitted"))[(topic, 0)] == [b"too-slow"]
