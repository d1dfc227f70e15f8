"""Edge cases of producing, as a Kafka user meets them: a restarted idempotent producer (new
producer id, also across a broker restart), idempotent producers of kafka-python and librdkafka
(max.in.flight 5, retries) sending while the broker restarts or is killed (nothing lost, nothing
twice, order kept), transactional producers, which Odradek does not support, failing with an
error instead of hanging, and an acks=0 produce that fails closing the connection.

Every assertion is what a real Kafka broker does with the same client calls.
"""

from __future__ import annotations

import threading
import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
kafka = pytest.importorskip("kafka")

from kafka import KafkaProducer  # noqa: E402

from interop_clients import (  # noqa: E402
    Rec,
    ck_config,
    ck_consume,
    ck_create_topic,
    ck_produce,
    kp_consume,
    kp_produce,
    stored_batches,
    uniq,
    until_from,
)

pytestmark = pytest.mark.interop


def _producers_in(data_dir, topic, partitions) -> dict[int, list[tuple[int, int, int]]]:
    """Per partition, the (producer id, epoch, base sequence) of each stored batch."""
    return {p: [(b["producer_id"], b["producer_epoch"], b["base_sequence"]) for b in stored_batches(data_dir, topic, p)] for p in partitions}


def test_restarted_idempotent_producers_get_new_ids_across_broker_restart(broker):
    """Each new idempotent producer gets a producer id never handed out before - also after the
    broker restarts - and starts its sequences at 0. If an id were reused, the broker would take
    the new producer's first batches for duplicates of the old one's and drop them."""
    bs = broker.bootstrap
    topic = uniq("edge-pid")
    ck_create_topic(bs, topic, 1)
    sent: list[Rec] = []

    def kp_round(tag):
        recs = [Rec(b"k", b"%s-%d" % (tag, i), (), None, 0) for i in range(5)]
        kp_produce(bs, topic, recs)  # kafka-python 3: idempotent by default
        sent.extend(recs)

    kp_round(b"a")
    kp_round(b"b")
    broker.restart()
    kp_round(b"c")
    recs = [Rec(b"k", b"d-%d" % i, (), None, 0) for i in range(5)]
    ck_produce(bs, topic, recs, **{"enable.idempotence": True})
    sent.extend(recs)
    broker.restart()
    kp_round(b"e")

    assert until_from(bs, topic, 1) == {0: 25}
    got = kp_consume(bs, topic, {0: 25})
    assert [g.value for g in got[0]] == [r.value for r in sent]
    batches = _producers_in(broker.data_dir, topic, [0])[0]
    pids = [pid for pid, _e, _s in batches]
    assert all(pid >= 0 for pid in pids)
    assert len(set(pids)) == 5, f"producer ids reused: {batches}"
    assert all(seq == 0 for _p, _e, seq in batches), batches


class _PacedSender:
    """Sends ``n`` records from a thread at a steady pace, so sends straddle a broker restart."""

    def __init__(self, send, n: int, partitions: int, per_ms: float = 2.0):
        self.send, self.n, self.partitions, self.per_ms = send, n, partitions, per_ms
        self.sent = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def values(self):
        return [b"v%06d" % i for i in range(self.n)]

    def _run(self):
        try:
            t0 = time.monotonic()
            for i in range(self.n):
                self.send(i % self.partitions, b"k%d" % (i % 7), b"v%06d" % i)
                self.sent = i + 1
                ahead = i / (self.per_ms * 1000) - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)  # pacing the load, not waiting for state
        except BaseException as e:  # noqa: BLE001
            self.error = e


def _check_exactly_once_in_order(got, values, partitions):
    for p in range(partitions):
        want = [v for i, v in enumerate(values) if i % partitions == p]
        have = [g.value for g in got.get(p, [])]
        dups = len(have) - len(set(have))
        missing = set(want) - set(have)
        assert not dups, f"partition {p}: {dups} duplicates"
        assert not missing, f"partition {p}: {len(missing)} records lost, e.g. {sorted(missing)[:3]}"
        assert have == want, f"partition {p}: order differs from send order"
        assert [g.offset for g in got[p]] == list(range(len(want)))


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_kafka_python_idempotent_producer_across_broker_restart(broker, how):
    """kafka-python's default (idempotent, acks=all, 5 in flight) producer keeps sending while the
    broker restarts: every send succeeds, and each record is stored exactly once, in order."""
    bs = broker.bootstrap
    topic = uniq("edge-kp-restart")
    np_ = 3
    ck_create_topic(bs, topic, np_)
    p = KafkaProducer(bootstrap_servers=bs, linger_ms=2, batch_size=2000, retries=2**31 - 1, request_timeout_ms=5000,
                      reconnect_backoff_ms=50, reconnect_backoff_max_ms=200, retry_backoff_ms=50, delivery_timeout_ms=60000)
    futs = []
    lock = threading.Lock()

    def send(part, key, value):
        f = p.send(topic, key=key, value=value, partition=part)
        with lock:
            futs.append(f)

    s = _PacedSender(send, 3000, np_, per_ms=2.0)
    try:
        s.thread.start()
        from helpers import wait_for

        wait_for(lambda: s.sent >= 1000 or s.error, 20, what="1000 sends")
        if how == "sigterm":
            broker.restart()
        else:
            broker.kill()
            broker.start()
        s.thread.join(60)
        assert s.error is None, s.error
        p.flush(60)
        with lock:
            results = [f.get(timeout=60) for f in futs]
    finally:
        p.close(timeout=10)
    assert len(results) == 3000
    got = kp_consume(bs, topic, {q: 1000 for q in range(np_)}, timeout=30)
    _check_exactly_once_in_order(got, s.values(), np_)


def test_librdkafka_idempotent_in_flight_5_across_broker_kill(broker):
    """librdkafka with enable.idempotence=true, max.in.flight=5 and retries, many small batches in
    flight while the broker is killed (-9) and started again: no delivery errors, no duplicates,
    no gaps, per-partition order as sent."""
    from confluent_kafka import Producer

    bs = broker.bootstrap
    topic = uniq("edge-ck-restart")
    np_ = 3
    ck_create_topic(bs, topic, np_)
    p = Producer(ck_config(bs, **{
        "enable.idempotence": True,
        "max.in.flight.requests.per.connection": 5,
        "retries": 1_000_000,
        "retry.backoff.ms": 50,
        "retry.backoff.max.ms": 200,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 200,
        "batch.num.messages": 20,
        "linger.ms": 1,
        "message.timeout.ms": 60000,
        "request.timeout.ms": 5000,
    }))
    errors = []
    delivered = [0]

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[0] += 1

    def send(part, key, value):
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=part, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)

    s = _PacedSender(send, 3000, np_, per_ms=2.0)
    s.thread.start()
    from helpers import wait_for

    wait_for(lambda: s.sent >= 1000 or s.error, 20, what="1000 sends")
    broker.kill()
    broker.start()
    s.thread.join(60)
    assert s.error is None, s.error
    assert p.flush(60) == 0
    assert not errors, errors[:5]
    assert delivered[0] == 3000
    got = ck_consume(bs, topic, {q: 1000 for q in range(np_)}, timeout=30)
    _check_exactly_once_in_order(got, s.values(), np_)


# --- transactional producers: fail with an error, never hang --------------------------------------

CLEAN_FAIL_S = 5.0


def test_transaction_timeout_above_the_broker_maximum_fails_cleanly(shared_broker):
    """A transaction.timeout.ms above the broker's transaction.max.timeout.ms (15 min by default):
    InitProducerId answers INVALID_TRANSACTION_TIMEOUT, which librdkafka and kafka-python report at
    once (a fatal error, not a local timeout)."""
    from confluent_kafka import KafkaError, KafkaException, Producer
    from kafka.errors import KafkaError as KpError
    from kafka.errors import KafkaTimeoutError

    p = Producer(ck_config(shared_broker.bootstrap, **{"transactional.id": uniq("ck-txn"),
                                                       "transaction.timeout.ms": 3_600_000}))
    t0 = time.monotonic()
    with pytest.raises(KafkaException) as ei:
        p.init_transactions(CLEAN_FAIL_S)
    assert ei.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT, ei.value
    assert time.monotonic() - t0 < CLEAN_FAIL_S
    kp = KafkaProducer(bootstrap_servers=shared_broker.bootstrap, transactional_id=uniq("kp-txn"),
                       transaction_timeout_ms=3_600_000, max_block_ms=int(CLEAN_FAIL_S * 1000))
    try:
        with pytest.raises(KpError) as ei:
            kp.init_transactions()
        assert not isinstance(ei.value, KafkaTimeoutError), ei.value
        assert "InvalidTransactionTimeout" in str(ei.value), ei.value
    finally:
        kp.close(timeout=5)


# --- acks=0 and errors -------------------------------------------------------------------------------


def _batch(value: bytes) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder

    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1, producer_epoch=-1,
                                  base_sequence=-1, batch_size=1 << 22)
    b.append(0, timestamp=None, key=b"k", value=value, headers=[])
    return bytes(b.build())


def _produce_v3(topic: str, partition: int, batch: bytes, acks: int, correlation_id: int) -> bytes:
    """A Produce v3 request (request header v1), built by hand."""
    import struct

    client = b"edge"
    name = topic.encode()
    body = struct.pack(">hhi", -1, acks, 5000)  # null transactional id, acks, timeout
    body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">i", 1) + struct.pack(">ii", partition, len(batch)) + batch
    return struct.pack(">hhih", 0, 3, correlation_id, len(client)) + client + body


def _api_versions_v0(correlation_id: int) -> bytes:
    import struct

    client = b"edge"
    return struct.pack(">hhih", 18, 0, correlation_id, len(client)) + client


def _still_answers(w) -> bool:
    """Whether the connection still answers an ApiVersions request (False: closed by the broker)."""
    try:
        w.send_frame(_api_versions_v0(99))
        w.recv_frame()
        return True
    except (ConnectionError, OSError):
        return False


def test_acks_0_produce_error_closes_the_connection(shared_broker):
    """With acks=0 there is no response to carry an error, so Kafka closes the connection when
    any partition of the request fails (too large for max.message.bytes, unknown partition):
    that is how an acks=0 producer learns something went wrong. A good acks=0 request leaves
    the connection open."""
    from wire import WireClient

    bs = shared_broker.bootstrap
    topic = uniq("edge-acks0")
    ck_create_topic(bs, topic, 1, configs={"max.message.bytes": "1000"})

    w = WireClient(shared_broker.port, timeout=10)
    try:
        w.send_frame(_produce_v3(topic, 0, _batch(b"ok" * 10), 0, 1))
        assert _still_answers(w), "a good acks=0 produce closed the connection"
        from helpers import wait_for

        wait_for(lambda: until_from(bs, topic, 1) == {0: 1}, 10, what="the acks=0 record stored")
        w.send_frame(_produce_v3(topic, 0, _batch(b"x" * 3000), 0, 2))
        too_large_closed = not _still_answers(w)
    finally:
        w.close()

    w = WireClient(shared_broker.port, timeout=10)
    try:
        w.send_frame(_produce_v3(topic, 7, _batch(b"ok"), 0, 1))
        unknown_partition_closed = not _still_answers(w)
    finally:
        w.close()
    assert until_from(bs, topic, 1) == {0: 1}
    assert (too_large_closed, unknown_partition_closed) == (True, True)
