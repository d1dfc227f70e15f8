"""kill -9 of the broker in the middle of transactions: after the PrepareCommit/PrepareAbort record
and before the markers, in the middle of the marker writes, and with a transaction open. After the
restart the outcome is the one decided (or, for the open one, an abort at its timeout), the LSO
moves on to the high watermark, and each partition's .txnindex matches what its log holds."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import BrokerProcess, wait_for
from interop_clients import ck_read_to_end
from odradek.log import Log, LogConfig
from odradek.protocol.control import parse_marker
from odradek.protocol.errors import ErrorCode
from odradek.protocol.records import scan
from wire import WireClient

pytestmark = pytest.mark.interop
PARTITIONS = 3
FAST_TIMERS = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "300",
               "transaction.state.log.num.partitions": "4"}


def _create(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(10)


def _producer(bootstrap: str, tid: str, timeout_ms: int = 60000) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 1,
                  "transaction.timeout.ms": timeout_ms, "message.timeout.ms": min(5000, timeout_ms - 1000)})
    p.init_transactions(20)
    return p


def _send(p: Producer, topic: str, tag: str, n: int = 30) -> None:
    for i in range(n):
        p.produce(topic, key=f"{tag}-{i}".encode(), value=tag.encode(), partition=i % PARTITIONS)
    p.flush(10)


def _read(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    """Every record a consumer with ``isolation`` gets up to each partition's visible end."""
    return [v for _p, _o, _k, v, _ts in ck_read_to_end(bootstrap, topic, isolation, partitions=PARTITIONS)]


def _stable(bootstrap_port: int, topic: str) -> bool:
    """LSO == HW on every partition (ListOffsets latest, read_committed vs read_uncommitted)."""
    c = WireClient(bootstrap_port)
    try:
        ends = []
        for iso in (0, 1):
            r = c.request(2, 5, {"replica_id": -1, "isolation_level": iso, "topics": [
                {"name": topic, "partitions": [{"partition_index": p, "timestamp": -1, "current_leader_epoch": -1}
                                               for p in range(PARTITIONS)]}]})
            ends.append([p.offset for p in r.topics[0].partitions])
        return ends[0] == ends[1]
    finally:
        c.close()


def _txn_state(port: int, tid: str) -> str:
    c = WireClient(port)
    try:
        r = c.request(10, 3, {"key": tid, "key_type": 1})
        if r.error_code != ErrorCode.none:
            return f"error {r.error_code}"
        # ListTransactions, not DescribeTransactions: kio cannot decode the start time -1 of an idle id
        r = c.request(66, 0, {"state_filters": [], "producer_id_filters": []})
        states = {s.transactional_id: s.transaction_state for s in r.transaction_states}
        return states.get(tid, "unknown")
    finally:
        c.close()


def _aborted_in_log(data: bytes) -> list[tuple[int, int, int]]:
    """(producer, first offset, marker offset) of each aborted transaction, from the log alone."""
    open_first: dict[int, int] = {}
    out = []
    for h in scan(data, verify_crc=False):
        if h.producer_id < 0 or not h.is_transactional:
            continue
        if h.is_control:
            m = parse_marker(h, memoryview(data)[h.position : h.position + h.size])
            first = open_first.pop(h.producer_id, None)
            if m is not None and not m.commit and first is not None:
                out.append((h.producer_id, first, h.base_offset))
        else:
            open_first.setdefault(h.producer_id, h.base_offset)
    return out


def _check_txn_indexes(broker: BrokerProcess, topic: str) -> int:
    """With the broker stopped: each partition's .txnindex equals what its log holds."""
    total = 0
    for p in range(PARTITIONS):
        log = Log.open(broker.data_dir / f"{topic}-{p}", LogConfig(), high_watermark=1 << 62)
        try:
            data = log.read(log.log_start_offset, 1 << 40).read_bytes()
            want = _aborted_in_log(data)
            got = [(a.producer_id, a.first_offset, a.last_offset) for a in log.aborted_transactions(0, log.log_end_offset)]
            assert got == want, (p, got, want)
            total += len(got)
        finally:
            log.close()
    return total


@pytest.mark.parametrize("point,commit", [
    ("txn-prepared", True),
    ("txn-prepared", False),
    ("txn-marker-written", True),
], ids=["after-prepare-commit", "after-prepare-abort", "during-markers"])
def test_kill_9_after_the_decision(tmp_path, point, commit):
    broker = BrokerProcess(tmp_path / "data", overrides=FAST_TIMERS).start()
    topic, tid = f"txc-{uuid.uuid4().hex[:6]}", f"tid-{uuid.uuid4().hex[:6]}"
    try:
        _create(broker.bootstrap, topic)
        p = _producer(broker.bootstrap, tid)
        p.begin_transaction()
        _send(p, topic, "before")
        p.commit_transaction(10)
        # the next transaction: the broker dies once its outcome is decided
        broker.stop()
        broker.env = {"ODRADEK_CRASH_AT": point}
        broker.start()
        p.begin_transaction()
        _send(p, topic, "decided")
        with pytest.raises(KafkaException):
            if commit:
                p.commit_transaction(5)
            else:
                p.abort_transaction(5)
        wait_for(lambda: not broker.alive(), 10, what="the crash point")
        assert broker.proc.returncode == -9
        broker.kill()
        broker.env = {}
        broker.start()
        want = "CompleteCommit" if commit else "CompleteAbort"
        wait_for(lambda: _txn_state(broker.port, tid) == want, 30, what=f"{tid} finished as {want}")
        wait_for(lambda: _stable(broker.port, topic), 30, what="LSO == HW")
        committed = _read(broker.bootstrap, topic, "read_committed")
        expect = 60 if commit else 30
        assert len(committed) == expect and committed.count(b"decided") == expect - 30
        assert len(_read(broker.bootstrap, topic, "read_uncommitted")) == 60
        broker.stop()
        assert _check_txn_indexes(broker, topic) == (0 if commit else PARTITIONS)
    finally:
        broker.kill()


def test_kill_9_with_a_transaction_open(tmp_path):
    """The open transaction survives the crash as Ongoing, holds read_committed readers at its first
    offset, and is aborted at its timeout; then the LSO passes it."""
    broker = BrokerProcess(tmp_path / "data", overrides=FAST_TIMERS).start()
    topic, tid = f"txo-{uuid.uuid4().hex[:6]}", f"tid-{uuid.uuid4().hex[:6]}"
    try:
        _create(broker.bootstrap, topic)
        plain = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(6):
            plain.produce(topic, value=b"plain", partition=i % PARTITIONS)
        plain.flush(10)
        p = _producer(broker.bootstrap, tid, timeout_ms=4000)
        p.begin_transaction()
        _send(p, topic, "open")
        broker.kill()
        broker.start()
        assert _txn_state(broker.port, tid) == "Ongoing"
        # read_committed stops before the open transaction; read_uncommitted sees it
        assert not _stable(broker.port, topic)
        assert sorted(set(_read(broker.bootstrap, topic, "read_committed"))) == [b"plain"]
        wait_for(lambda: _txn_state(broker.port, tid) == "CompleteAbort", 30, what="the timeout abort")
        wait_for(lambda: _stable(broker.port, topic), 30, what="LSO == HW")
        assert _read(broker.bootstrap, topic, "read_committed") == [b"plain"] * 6
        broker.stop()
        assert _check_txn_indexes(broker, topic) == PARTITIONS
    finally:
        broker.kill()
