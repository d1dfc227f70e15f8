"""Durability with confluent-kafka against a broker process killed for real.

* acks=all producers (with flush.messages=1 and without) while the broker is SIGKILLed at
  random moments, with small segments and retention running: after every restart each
  acknowledged record is there, in order, and every segment file passes a full CRC check.
* A clean stop (SIGTERM) fsyncs and checkpoints: recovery points equal the log end offsets and
  the clean-shutdown marker is written.
* A partition whose files cannot be opened does not stop the broker: it answers
  KAFKA_STORAGE_ERROR (with a log line naming it) while the other partitions work.

The retention part needs ``LogManager.apply_retention`` wired into the broker's housekeeping.
"""

from __future__ import annotations

import random
import uuid

import pytest
from confluent_kafka import KafkaError, Producer

from helpers import BrokerProcess, wait_for
from odradek.log.checkpoint import read_checkpoint
from odradek.log.manager import CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_CHECKPOINT
from test_retention_compaction import create, crc_check, partition_dir, produce, read_partition, watermarks

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("flush_messages", [None, "1"])
def test_acked_records_survive_kill_9_with_retention_running(tmp_path, flush_messages):
    overrides = {"log.retention.check.interval.ms": "500"}
    if flush_messages:
        overrides["log.flush.interval.messages"] = flush_messages
    broker = BrokerProcess(tmp_path / "data", overrides=overrides).start()
    topic = f"dur-{uuid.uuid4().hex[:6]}"
    rng = random.Random(3 if flush_messages else 4)
    acked: dict[int, bytes] = {}
    try:
        # size retention keeps ~10 segments: deletion runs beside the appends and the kills
        create(broker.bootstrap, topic, **{"segment.bytes": "16384", "retention.bytes": "163840"})
        seq = 0
        for _round in range(4):
            p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                          "enable.idempotence": False, "message.timeout.ms": 3000, "retries": 0})

            def done(err, msg):
                if err is None:
                    acked[msg.offset()] = msg.value()

            target = len(acked) + rng.randrange(500, 3000)
            while len(acked) < target:
                for _ in range(50):
                    p.produce(topic, value=b"r%08d" % seq + b"x" * rng.randrange(0, 300), partition=0, callback=done)
                    seq += 1
                p.poll(0.01)
            broker.kill()  # SIGKILL with requests in flight
            p.flush(5)
            assert crc_check(partition_dir(broker, topic)) > 0
            broker.start()
            low, high = watermarks(broker.bootstrap, topic)
            assert high >= max(acked) + 1
            got = read_partition(broker.bootstrap, topic)
            offsets = [o for o, _, _ in got]
            # no gap, no disorder in a non-compacted log (retention may move the start meanwhile)
            assert offsets[0] >= low and offsets == list(range(offsets[0], high))
            low = offsets[0]
            values = {o: v for o, _, v in got}
            for offset, value in acked.items():
                if offset >= low:
                    assert values[offset] == value, f"acknowledged {topic}@{offset} lost or changed"
    finally:
        broker.kill()


def test_clean_stop_fsyncs_and_checkpoints(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    topic = f"stop-{uuid.uuid4().hex[:6]}"
    try:
        create(broker.bootstrap, topic, **{"segment.bytes": "16384"})
        produce(broker.bootstrap, topic, [(None, b"s" * 100) for _ in range(1000)])
        assert broker.stop() == 0
        data = tmp_path / "data"
        assert (data / CLEAN_SHUTDOWN_FILE).exists()
        assert read_checkpoint(data / RECOVERY_POINT_CHECKPOINT)[(topic, 0)] == 1000
        assert crc_check(partition_dir(broker, topic)) > 0
        broker.start()
        assert watermarks(broker.bootstrap, topic) == (0, 1000)
    finally:
        broker.kill()


def test_unreadable_partition_is_offline_not_the_broker(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    good, bad = f"good-{uuid.uuid4().hex[:6]}", f"bad-{uuid.uuid4().hex[:6]}"
    try:
        for t in (good, bad):
            create(broker.bootstrap, t)
            produce(broker.bootstrap, t, [(b"k", b"before")])
        broker.stop()
        segment = partition_dir(broker, bad) / f"{0:020d}.log"
        segment.unlink()
        segment.mkdir()  # cannot be opened as a file, even by root
        broker.start()
        wait_for(lambda: "offline" in broker.log_text() and bad in broker.log_text(), 10,
                 what="a log line about the offline partition")
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "message.timeout.ms": 4000})
        errors = []
        p.produce(bad, value=b"x", partition=0, callback=lambda e, m: errors.append(e))
        p.flush(10)
        assert errors and errors[0] is not None
        assert errors[0].code() in (KafkaError.KAFKA_STORAGE_ERROR, KafkaError._MSG_TIMED_OUT)
        # the rest of the broker works
        produce(broker.bootstrap, good, [(b"k", b"after")])
        assert [v for _, _, v in read_partition(broker.bootstrap, good)] == [b"before", b"after"]
        assert broker.alive()
    finally:
        broker.kill()
