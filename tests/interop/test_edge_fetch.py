"""Edge cases of reading, as a Kafka user meets them: long-poll with fetch.min.bytes and
fetch.wait.max.ms (woken when enough bytes arrived, not before), consumers starting in the middle
of compressed batches (each client must see records from that offset on), ListOffsets by time
over many small compressed batches in several segments and after DeleteRecords, and a fetch parked
on a topic that gets deleted.

Every assertion is what a real Kafka broker does with the same client calls.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
kafka = pytest.importorskip("kafka")

from confluent_kafka import OFFSET_END, TopicPartition as CkTP  # noqa: E402
from kafka import KafkaProducer, TopicPartition  # noqa: E402

from interop_clients import (  # noqa: E402
    KAFKAJS_DIR,
    Rec,
    ak_consume,
    ck_admin,
    ck_config,
    ck_consume,
    ck_create_topic,
    ck_produce,
    kafkajs_available,
    kcat_consume,
    kp_admin,
    kp_consume,
    kp_consumer,
    stored_batches,
    uniq,
    wait_end_offsets,
)

pytestmark = pytest.mark.interop


# --- long-poll: fetch.min.bytes / fetch.wait.max.ms -------------------------------------------------


class _Timeline:
    """Sends a small record, then (after a pause) a big one, from another thread, noting when."""

    def __init__(self, bs: str, topic: str, small: bytes, big: bytes, gap: float):
        self.bs, self.topic, self.small, self.big, self.gap = bs, topic, small, big, gap
        self.at: dict[str, float] = {}
        self.error: BaseException | None = None
        self.producer = KafkaProducer(bootstrap_servers=bs, acks=1, enable_idempotence=False, linger_ms=0)
        self.producer.partitions_for(topic)  # metadata loaded before the clock starts
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.producer.send(self.topic, key=b"s", value=self.small, partition=0).get(10)
            self.at["small"] = time.monotonic()
            time.sleep(self.gap)  # the pause whose length the test measures against
            self.at["big_sent"] = time.monotonic()
            self.producer.send(self.topic, key=b"b", value=self.big, partition=0).get(10)
            self.at["big"] = time.monotonic()
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def start(self):
        self.thread.start()

    def join(self):
        self.thread.join(20)
        self.producer.close(timeout=5)
        assert self.error is None, self.error


def _check_min_bytes_timeline(tl: _Timeline, arrivals: list[tuple[float, bytes]]):
    values = [v for _, v in arrivals]
    assert values == [tl.small, tl.big], f"got {[v[:10] for v in values]}"
    first_arrival = arrivals[0][0]
    # Kafka holds the fetch: 100 bytes are not fetch.min.bytes, so the small record must not
    # come back on its own right after it was written ...
    assert first_arrival >= tl.at["big_sent"], (
        f"the small record came back {first_arrival - tl.at['small']:.2f}s after it was written, "
        f"before fetch.min.bytes were available"
    )
    # ... but as soon as the big one makes the bytes enough, not at fetch.wait.max.ms (8 s).
    assert first_arrival - tl.at["big"] < 2.5, f"records came {first_arrival - tl.at['big']:.2f}s after min bytes were there"


def test_kafka_python_fetch_min_bytes_wakes_only_when_enough(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("edge-minb-kp")
    ck_create_topic(bs, topic, 1)
    c = kp_consumer(bs, fetch_min_bytes=20_000, fetch_max_wait_ms=8_000, request_timeout_ms=30_000)
    tp = TopicPartition(topic, 0)
    tl = _Timeline(bs, topic, b"s" * 100, b"B" * 30_000, gap=1.5)
    arrivals: list[tuple[float, bytes]] = []
    try:
        c.assign([tp])
        c.seek_to_beginning(tp)
        assert c.poll(timeout_ms=400) == {}  # a fetch is now parked on the broker
        tl.start()
        deadline = time.monotonic() + 15
        while len(arrivals) < 2 and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=50).values():
                now = time.monotonic()
                arrivals += [(now, m.value) for m in msgs]
    finally:
        c.close()
        tl.join()
    _check_min_bytes_timeline(tl, arrivals)


def test_librdkafka_fetch_min_bytes_wakes_only_when_enough(shared_broker):
    from confluent_kafka import OFFSET_BEGINNING, Consumer

    bs = shared_broker.bootstrap
    topic = uniq("edge-minb-ck")
    ck_create_topic(bs, topic, 1)
    c = Consumer(ck_config(bs, **{
        "group.id": uniq("edge-minb"),
        "enable.auto.commit": False,
        "fetch.min.bytes": 20_000,
        "fetch.wait.max.ms": 8_000,
        "socket.timeout.ms": 30_000,
        "fetch.queue.backoff.ms": 0,
    }))
    tl = _Timeline(bs, topic, b"s" * 100, b"B" * 30_000, gap=1.5)
    arrivals: list[tuple[float, bytes]] = []
    try:
        c.assign([CkTP(topic, 0, OFFSET_BEGINNING)])
        assert c.consume(10, 0.6) == []
        tl.start()
        deadline = time.monotonic() + 15
        while len(arrivals) < 2 and time.monotonic() < deadline:
            for m in c.consume(10, 0.05):
                assert m.error() is None, m.error()
                arrivals.append((time.monotonic(), m.value()))
    finally:
        c.close()
        tl.join()
    _check_min_bytes_timeline(tl, arrivals)


def test_fetch_max_wait_answers_with_less_than_min_bytes(shared_broker):
    """Too few bytes ever arrive: the broker answers with what it has once fetch.wait.max.ms
    (1.5 s) passes - not at once, not never."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-maxwait")
    ck_create_topic(bs, topic, 1)
    c = kp_consumer(bs, fetch_min_bytes=1_000_000, fetch_max_wait_ms=1_500, request_timeout_ms=30_000)
    tp = TopicPartition(topic, 0)
    p = KafkaProducer(bootstrap_servers=bs, acks=1, enable_idempotence=False)
    try:
        p.partitions_for(topic)
        c.assign([tp])
        c.seek_to_beginning(tp)
        assert c.poll(timeout_ms=300) == {}
        p.send(topic, value=b"lonely", partition=0).get(10)
        sent = time.monotonic()
        got = []
        deadline = sent + 10
        while not got and time.monotonic() < deadline:
            got = [m.value for ms in c.poll(timeout_ms=50).values() for m in ms]
        waited = time.monotonic() - sent
    finally:
        c.close()
        p.close(timeout=5)
    assert got == [b"lonely"]
    # The parked fetch was sent up to 0.3 s before the record; it may answer at most 1.5 s after
    # it was sent, so at least ~1.1 s after the record.
    assert 0.9 <= waited <= 4.0, f"answered {waited:.2f}s after the record arrived"


# --- starting inside compressed batches ----------------------------------------------------------

CODEC_ORDER = ["none", "gzip", "snappy", "lz4", "zstd"]


def _mid_batch_offsets(data_dir, topic: str, codecs) -> dict[str, int]:
    """For each codec, an offset strictly inside one of its stored batches (not the batch's first
    record). librdkafka usually sends each produce round as one batch, but may split off the
    first record: the offsets come from what was actually stored."""
    out: dict[str, int] = {}
    for b in stored_batches(data_dir, topic, 0):
        if b["codec"] in codecs and b["codec"] not in out and b["count"] >= 3:
            out[b["codec"]] = b["base_offset"] + 1 + (b["count"] - 2) // 2
    assert set(out) == set(codecs), f"no batch of 3+ records for {set(codecs) - set(out)}"
    return out


@pytest.fixture(scope="module")
def mixed_codec_topic(shared_broker):
    """One partition: 10-record batches, one produce round per codec, written by librdkafka;
    the offsets to start from: one inside a batch of each codec, and the very last record."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-seek")
    ck_create_topic(bs, topic, 1)
    recs = []
    for j, codec in enumerate(CODEC_ORDER):
        batch = [Rec(b"k%d" % (10 * j + i), (b"%s value %d " % (codec.encode(), 10 * j + i)) * 20, (), None, 0) for i in range(10)]
        ck_produce(bs, topic, batch, codec=codec, **{"linger.ms": 200, "batch.num.messages": 10})
        recs += batch
    mids = _mid_batch_offsets(shared_broker.data_dir, topic, CODEC_ORDER)
    return topic, recs, sorted(mids.values()) + [len(recs) - 1]


def _check_from(got, start, recs, who):
    offs = [g.offset for g in got[0]]
    assert offs == list(range(start, len(recs))), f"{who} from {start}: offsets {offs[:5]}..."
    assert [g.value for g in got[0]] == [r.value for r in recs[start:]], f"{who} from {start}: values differ"


@pytest.mark.parametrize("client", ["confluent", "kafka-python", "aiokafka", "kcat"])
def test_consume_from_inside_compressed_batch(shared_broker, mixed_codec_topic, client):
    bs = shared_broker.bootstrap
    topic, recs, seeks = mixed_codec_topic
    for s in seeks:
        want = {0: len(recs) - s}
        if client == "confluent":
            got = ck_consume(bs, topic, want, start={0: s}, timeout=15)
        elif client == "kafka-python":
            got = kp_consume(bs, topic, want, start={0: s}, timeout=15)
        elif client == "aiokafka":
            got = ak_consume(bs, topic, want, start={0: s}, timeout=15)
        else:
            got = kcat_consume(bs, topic, want, offset=str(s), timeout=30)
        _check_from(got, s, recs, client)


def test_read_from_log_start_inside_compressed_batch(shared_broker):
    """After DeleteRecords moves the log start offset into the middle of a compressed batch,
    consumers starting from the beginning get exactly the records from the new log start on
    (the broker serves the whole batch; the records below the log start must not show up)."""
    from confluent_kafka import TopicPartition as TP

    bs = shared_broker.bootstrap
    topic = uniq("edge-lso-mid")
    ck_create_topic(bs, topic, 1)
    recs = []
    for j, codec in enumerate(["gzip", "zstd", "lz4"]):
        batch = [Rec(b"k", b"%s %d" % (codec.encode(), 10 * j + i), (), None, 0) for i in range(10)]
        ck_produce(bs, topic, batch, codec=codec, **{"linger.ms": 200})
        recs += batch
    start = _mid_batch_offsets(shared_broker.data_dir, topic, ["zstd"])["zstd"]
    admin = ck_admin(bs)
    (f,) = admin.delete_records([TP(topic, 0, start)], request_timeout=15).values()
    assert f.result(timeout=20).low_watermark == start
    want = {0: len(recs) - start}
    for who, got in (
        ("confluent", ck_consume(bs, topic, want, timeout=15)),
        ("kafka-python", kp_consume(bs, topic, want, timeout=15)),
        ("aiokafka", ak_consume(bs, topic, want, timeout=15)),
        ("kcat", kcat_consume(bs, topic, want, timeout=30)),
    ):
        _check_from(got, start, recs, who)


KJS_SEEK = r"""
const path = require('path')
const { Kafka, logLevel } = require(path.join(process.cwd(), 'node_modules', 'kafkajs'))
const cmd = JSON.parse(process.argv[1])
const kafka = new Kafka({ brokers: [cmd.broker], logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10000 })
async function main() {
  const consumer = kafka.consumer({ groupId: cmd.groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [cmd.topic] })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 20000)
    consumer.on(consumer.events.CRASH, ({ payload }) => { clearTimeout(timer); reject(payload.error) })
    consumer.run({ autoCommit: false, eachMessage: async ({ message }) => {
      got.push([Number(message.offset), message.value.toString('latin1')])
      if (got.length >= cmd.expected) { clearTimeout(timer); resolve() }
    } }).catch(reject)
    consumer.seek({ topic: cmd.topic, partition: 0, offset: String(cmd.offset) })
  })
  await consumer.disconnect()
  process.stdout.write(JSON.stringify(got) + '\n', () => process.exit(0))
}
main().catch(e => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\n', () => process.exit(2)) })
"""


@pytest.mark.skipif(not kafkajs_available(), reason="KafkaJS not installed")
def test_kafkajs_seek_inside_gzip_batch(shared_broker):
    """KafkaJS seeks into the middle of a gzip batch: its first message is the sought offset."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-seek-kjs")
    ck_create_topic(bs, topic, 1)
    recs = []
    for j in range(3):
        batch = [Rec(b"k%d" % (10 * j + i), b"gz value %d" % (10 * j + i), (), None, 0) for i in range(10)]
        ck_produce(bs, topic, batch, codec="gzip", **{"linger.ms": 200})
        recs += batch
    start = _mid_batch_offsets(shared_broker.data_dir, topic, ["gzip"])["gzip"]
    cmd = {"broker": bs, "topic": topic, "groupId": uniq("kjs-seek"), "offset": start, "expected": len(recs) - start}
    proc = subprocess.run(["node", "-e", KJS_SEEK, json.dumps(cmd)], capture_output=True, timeout=60, cwd=str(KAFKAJS_DIR))
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert isinstance(out, list), out
    assert [o for o, _ in out] == list(range(start, len(recs)))
    assert [v.encode("latin1") for _, v in out] == [r.value for r in recs[start:]]


# --- ListOffsets by time over many small compressed batches ---------------------------------------


def test_offsets_for_times_sparse_index_many_segments(shared_broker):
    """120 five-record batches rotating through the codecs, in 4 KB segments (several segments,
    time index entries only every 4 KB): each time lookup names the first record at or after the
    time, exactly, also in the middle of compressed batches and across segment boundaries; after
    DeleteRecords into the middle of a compressed batch, lookups never answer below the new log
    start offset."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-times")
    ck_create_topic(bs, topic, 1, configs={"segment.bytes": "4096"})
    base = int(time.time() * 1000) - 3_600_000
    codecs = ["gzip", "snappy", "lz4", "zstd", None]
    stamps: list[int] = []
    nb = 120
    for j in range(nb):
        # Duplicated and out-of-order stamps inside a batch; batches advance by 100 ms.
        stamps += [base + 100 * j + d for d in (0, 40, 40, 20, 60)]
    p = None
    try:
        for j in range(nb):
            if p is None or j % 30 == 0:
                if p is not None:
                    p.close(timeout=10)
                p = KafkaProducer(bootstrap_servers=bs, compression_type=codecs[(j // 30) % len(codecs)], linger_ms=50)
            futs = [p.send(topic, key=b"k", value=b"v%05d " % (5 * j + i) * 10, timestamp_ms=stamps[5 * j + i], partition=0) for i in range(5)]
            p.flush()
            for f in futs:
                f.get(10)
    finally:
        if p is not None:
            p.close(timeout=10)
    n = len(stamps)
    wait_end_offsets(bs, topic, {0: n})
    segs = list((shared_broker.data_dir / f"{topic}-0").glob("*.log"))
    assert len(segs) >= 3, f"expected several segments, got {len(segs)}"

    def want_for(ts, start=0):
        for o in range(start, n):
            if stamps[o] >= ts:
                return o
        return None

    queries = [base - 1, base, base + 1, base + 19, base + 20, base + 21, base + 40, base + 41, base + 60, base + 61]
    queries += [base + 100 * j + d for j in range(0, nb, 7) for d in (0, 25, 59, 61, 99)]
    queries += [base + 100 * nb, base + 100 * (nb - 1) + 60]

    from confluent_kafka import Consumer

    c = Consumer(ck_config(bs, **{"group.id": uniq("edge-times")}))
    kadmin = kp_admin(bs)
    from kafka.protocol.consumer.offsets import OffsetTimestamp

    try:
        def check(start):
            for q in queries:
                want = want_for(q, start)
                (tp,) = c.offsets_for_times([CkTP(topic, 0, q)], timeout=10)
                assert tp.error is None
                assert tp.offset == (OFFSET_END if want is None else want), ("confluent", q - base, tp.offset, want)
            for q in queries[::3]:
                want = want_for(q, start)
                r = kadmin.list_partition_offsets({TopicPartition(topic, 0): OffsetTimestamp(q)})[TopicPartition(topic, 0)]
                assert r.offset == (-1 if want is None else want), ("kafka-python", q - base, r, want)
                if want is not None:
                    assert r.timestamp == stamps[want]

        check(0)
        # DeleteRecords to offset 57: the middle of batch 11 (offsets 55-59).
        from confluent_kafka import TopicPartition as TP

        admin = ck_admin(bs)
        (f,) = admin.delete_records([TP(topic, 0, 57)], request_timeout=15).values()
        assert f.result(timeout=20).low_watermark == 57
        check(57)
    finally:
        c.close()
        kadmin.close()


# --- a fetch parked on a topic that is deleted ------------------------------------------------------


def _fetch_v4(topic: str, partition: int, offset: int, max_wait_ms: int, min_bytes: int, correlation_id: int = 7) -> bytes:
    """A Fetch v4 request frame payload (request header v1), built by hand."""
    import struct

    client = b"edge"
    name = topic.encode()
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1_000_000, 0)
    body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 1_000_000)
    return struct.pack(">hhih", 1, 4, correlation_id, len(client)) + client + body


def _fetch_v4_first_error(frame: bytes) -> int:
    """Error code of the first partition of the first topic in a Fetch v4 response frame."""
    import struct

    pos = 4 + 4  # correlation id, throttle time
    (nt,) = struct.unpack_from(">i", frame, pos)
    assert nt >= 1
    pos += 4
    (ln,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + ln
    (npart,) = struct.unpack_from(">i", frame, pos)
    assert npart >= 1
    pos += 4
    _p, err = struct.unpack_from(">ih", frame, pos)
    return err


def test_parked_fetch_answers_when_topic_is_deleted(shared_broker):
    """A Fetch waiting with max_wait 6 s on a topic that is deleted answers at once (Kafka
    completes the delayed fetches of partitions it stops hosting), instead of keeping the
    consumer's connection blocked for the rest of max_wait."""
    from wire import WireClient

    bs = shared_broker.bootstrap
    topic = uniq("edge-parked")
    ck_create_topic(bs, topic, 1)
    ck_produce(bs, topic, [Rec(b"k", b"v", (), None, 0)])
    admin = ck_admin(bs)
    admin.list_topics(timeout=10)
    w = WireClient(shared_broker.port, timeout=30)
    result: dict = {}

    def fetch():
        try:
            w.send_frame(_fetch_v4(topic, 0, 1, 6_000, 1_000_000))
            frame = w.recv_frame()
            result["at"] = time.monotonic()
            result["error_code"] = _fetch_v4_first_error(frame)
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    th = threading.Thread(target=fetch, daemon=True)
    th.start()
    time.sleep(0.5)  # let the fetch park: nothing a client can observe says when it has
    assert "at" not in result, "the fetch did not wait for min_bytes"
    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    deleted = time.monotonic()
    th.join(20)
    w.close()
    assert "error" not in result, result
    # Kafka answers UNKNOWN_TOPIC_OR_PARTITION (3) once the partition is gone (NOT_LEADER (6) in
    # some versions); either way an error, and promptly.
    assert result["error_code"] in (3, 6), result
    waited = result["at"] - deleted
    assert waited < 2.0, f"the parked fetch was answered {waited:.1f}s after the topic was deleted (max_wait 6 s)"
