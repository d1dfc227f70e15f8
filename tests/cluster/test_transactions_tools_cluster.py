"""Transactions on a three-broker cluster: the transaction coordinator is one broker and the
partitions of the transaction are led by others, so markers go out as WriteTxnMarkers and KIP-890
verification asks the coordinator over the network. Followers keep the producers' transaction
state from what they replicate, and answer DescribeProducers as Kafka's followers do, which is what
``kafka-transactions find-hanging --broker-id N`` asks every replica on broker N. Then the
coordinator is killed inside a transaction, and the producer commits it through the broker that
takes the coordinator's place."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

import kafka_jvm  # noqa: E402
from helpers import wait_for  # noqa: E402
from txn_support import read, values  # noqa: E402

from odradek.client import Admin, NewTopic, Producer, TopicPartition  # noqa: E402

PROGRAM = Path(kafka_jvm.JVM_DIR) / "programs" / "TransactionsTool.java"


def test_transactions_across_brokers(cluster_factory):
    cluster = cluster_factory(3, transaction_state_log_num_partitions="6", transaction_state_log_replication_factor="3",
                              transaction_state_log_min_isr="2")
    bs = cluster.bootstrap
    topic = "ctx-" + uuid.uuid4().hex[:6]
    tid = "ctx-" + uuid.uuid4().hex[:6]
    tps = [(topic, p) for p in range(3)]

    async def setup() -> tuple[dict, int, Producer]:
        async with Admin(bs) as a:
            await a.create_topics([NewTopic(topic, 3, 2)])
            parts = (await a.describe_topics([topic]))[topic].partitions
        p = Producer(bs, transactional_id=tid)
        await p.init_transactions()
        coordinator = await p.cluster.coordinator(tid, key_type=1)
        for name, commit in (("one", True), ("two", False), ("three", True)):
            await p.begin_transaction()
            for _t, part in tps:
                await p.send(topic, f"{name}-{part}".encode(), partition=part)
            if commit:
                await p.commit_transaction()
            else:
                await p.flush()
                await p.abort_transaction()
        await p.begin_transaction()  # left open
        for _t, part in tps:
            await p.send_and_wait(topic, f"open-{part}".encode(), partition=part)
        return parts, coordinator, p

    loop = asyncio.new_event_loop()
    try:
        parts, coordinator, producer = loop.run_until_complete(setup())
        assert any(pi.leader != coordinator for pi in parts.values())  # some markers went to other brokers
        assert values(read(bs, tps, "read_committed")) == {tp: [f"{n}-{tp[1]}".encode() for n in ("one", "three")] for tp in tps}
        assert values(read(bs, tps, "read_uncommitted")) == {tp: [f"{n}-{tp[1]}".encode() for n in ("one", "two", "three", "open")] for tp in tps}

        async def open_starts(broker_id: int, tp: TopicPartition) -> dict[int, int]:
            async with Admin(bs) as a:
                states = (await a.describe_producers([tp], broker_id=broker_id))[tp]
            return {s.producer_id: s.current_txn_start_offset for s in states if s.current_txn_start_offset >= 0}

        # every replica, leader or follower, knows where the open transaction starts (after 3 + 3 markers... per partition: 3 records, 3 markers)
        for p, pi in parts.items():
            tp = TopicPartition(topic, p)
            for replica in pi.replicas:
                wait_for(lambda r=replica, tp=tp: loop.run_until_complete(open_starts(r, tp)) == {producer.producer_id: 6}, 20,
                         what=f"{tp} on broker {replica}")

        # Kafka's tool asks each broker about every replica it holds: nothing hangs, the coordinator knows the partitions
        classes = kafka_jvm.compile_java([PROGRAM])
        follower = next(r for r in parts[0].replicas if r != parts[0].leader)
        commands = [f"--bootstrap-server {bs} find-hanging --broker-id {b.broker_id} --max-transaction-timeout 0" for b in cluster.brokers]
        commands.append(f"--bootstrap-server {bs} describe-producers --topic {topic} --partition 0 --broker-id {follower}")
        cmd = kafka_jvm.java_command("TransactionsTool", commands, extra_cp=[classes])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-4000:]
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        for r in res[:3]:
            assert r["rc"] == 0 and r["err"] == "", r
            assert len([line for line in r["out"].splitlines() if line.strip()]) == 1, r  # the header alone
        (desc,) = res[3:]
        assert desc["rc"] == 0, desc
        row = next(line.split("\t") for line in desc["out"].splitlines() if line.startswith(str(producer.producer_id)))
        assert row[5].strip() == "6", desc

        # the coordinator dies with the transaction open: another broker takes its partition of
        # __transaction_state over, and the producer finds it and finishes the transaction there
        cluster.brokers[coordinator].kill()
        alive = ",".join(b.bootstrap for b in cluster.brokers if b.alive())

        async def finish() -> int:
            for _t, part in tps:
                await producer.send(topic, f"after-{part}".encode(), partition=part)
            await producer.commit_transaction()
            return await producer.cluster.coordinator(tid, key_type=1)

        new_coordinator = loop.run_until_complete(finish())
        loop.run_until_complete(producer.close())
        assert new_coordinator != coordinator
        assert values(read(alive, tps, "read_committed")) == {tp: [f"{n}-{tp[1]}".encode() for n in ("one", "three", "open", "after")] for tp in tps}
    finally:
        loop.close()
