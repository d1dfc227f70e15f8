"""The client's transactional pieces that need no broker: read_committed filtering of a fetched
partition (Kafka's consumer algorithm over the aborted-transactions list), transactional batches,
the producer's configuration checks and the state checks of its transactional methods."""

from __future__ import annotations

import asyncio
from collections import namedtuple

import pytest

from odradek.client import Consumer, Producer
from odradek.client.producer import _Batch
from odradek.client.transactions import TransactionState, TransactionStateError
from odradek.client.types import ConsumerGroupMetadata
from odradek.client.types import TopicPartition as TP
from odradek.protocol import record_codec
from odradek.protocol.control import marker_batch
from odradek.protocol.records import read_header, set_base_offset

Aborted = namedtuple("Aborted", "producer_id first_offset")


def data(offset: int, values: list[bytes], pid: int = -1, txn: bool = False) -> bytes:
    return record_codec.build_batch([(None, v) for v in values], base_offset=offset, producer_id=pid, producer_epoch=0 if pid >= 0 else -1,
                                    base_sequence=0 if pid >= 0 else -1, is_transactional=txn)


def marker(offset: int, pid: int, commit: bool) -> bytes:
    b = marker_batch(pid, 0, commit, 0, 0)
    set_base_offset(b, 0, offset)
    return bytes(b)


def partition_log() -> tuple[bytes, list[Aborted]]:
    """Two transactional producers interleaved with plain records on one partition:

    0-1 pid 7 (aborted)   2 plain   3 pid 8 (committed)   4 pid 7 (aborted)   5 ABORT(7)
    6 COMMIT(8)   7 pid 7 (a later transaction, committed)   8 plain   9 COMMIT(7)
    10 pid 8 (aborted)   11 ABORT(8)
    """
    log = b"".join([
        data(0, [b"a7-0", b"a7-1"], 7, True), data(2, [b"plain-2"]), data(3, [b"c8-3"], 8, True),
        data(4, [b"a7-4"], 7, True), marker(5, 7, False), marker(6, 8, True), data(7, [b"c7-7"], 7, True),
        data(8, [b"plain-8"]), marker(9, 7, True), data(10, [b"a8-10"], 8, True), marker(11, 8, False),
    ])
    return log, [Aborted(7, 0), Aborted(8, 10)]


def test_read_committed_drops_aborted_transactions_only() -> None:
    log, aborted = partition_log()
    committed = Consumer("127.0.0.1:1", isolation_level="read_committed")
    recs, nxt = committed._parse(TP("t", 0), log, 0, aborted)
    assert [r.value for r in recs] == [b"plain-2", b"c8-3", b"c7-7", b"plain-8"]
    assert nxt == 12  # past the last marker
    # read_uncommitted ignores the list (a broker sends none then) and returns every data record
    uncommitted = Consumer("127.0.0.1:1")
    recs, _ = uncommitted._parse(TP("t", 0), log, 0, aborted)
    assert [r.value for r in recs] == [b"a7-0", b"a7-1", b"plain-2", b"c8-3", b"a7-4", b"c7-7", b"plain-8", b"a8-10"]


def test_read_committed_from_the_middle_and_without_a_list() -> None:
    log, aborted = partition_log()
    c = Consumer("127.0.0.1:1", isolation_level="read_committed")
    # from offset 4: the broker lists only transactions whose marker is at or after the fetch offset
    recs, _ = c._parse(TP("t", 0), log, 4, [a for a in aborted])
    assert [r.value for r in recs] == [b"c7-7", b"plain-8"]
    # no aborted transactions in range: everything transactional is committed data
    recs, _ = c._parse(TP("t", 0), data(0, [b"x"], 5, True) + marker(1, 5, True), 0, [])
    assert [r.value for r in recs] == [b"x"]


def test_an_abort_marker_of_another_producer_does_not_end_an_aborted_transaction() -> None:
    c = Consumer("127.0.0.1:1", isolation_level="read_committed")
    log = data(0, [b"a1"], 1, True) + data(1, [b"c2"], 2, True) + marker(2, 2, False) + data(3, [b"a1-more"], 1, True) + marker(4, 1, False)
    # pid 2's marker is an ABORT too, but pid 2 was not listed (say its batch was empty): pid 1 stays aborted
    recs, _ = c._parse(TP("t", 0), log, 0, [Aborted(1, 0)])
    assert [r.value for r in recs] == [b"c2"]


def test_transactional_producer_writes_transactional_batches() -> None:
    p = Producer("127.0.0.1:1", transactional_id="tx")
    p._set_producer_id(42, 3)
    b = _Batch(TP("t", 0), 0.0, 1e9)
    b.add(None, b"v", (), 0)
    p._seal(b)
    h = read_header(b.payload)
    assert h.is_transactional and not h.is_control
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (42, 3, 0)
    plain = Producer("127.0.0.1:1")
    b = _Batch(TP("t", 0), 0.0, 1e9)
    b.add(None, b"v", (), 0)
    plain._seal(b)
    assert not read_header(b.payload).is_transactional


def test_transactional_producer_configuration() -> None:
    with pytest.raises(ValueError, match="idempotence"):
        Producer("127.0.0.1:1", transactional_id="tx", enable_idempotence=False)
    with pytest.raises(ValueError, match="acks"):
        Producer("127.0.0.1:1", transactional_id="tx", acks=1)
    with pytest.raises(ValueError):
        Producer("127.0.0.1:1", transactional_id="")
    p = Producer("127.0.0.1:1", transactional_id="tx", acks="all")
    assert p.transaction_state == TransactionState.UNINITIALIZED
    assert Producer("127.0.0.1:1").transaction_state is None


def test_transactional_methods_check_the_state() -> None:
    async def go() -> None:
        p = Producer("127.0.0.1:1", transactional_id="tx")
        with pytest.raises(TransactionStateError, match="init_transactions"):
            await p.send("t", b"v")
        with pytest.raises(TransactionStateError, match="init_transactions"):
            await p.begin_transaction()
        with pytest.raises(TransactionStateError):
            await p.commit_transaction()
        with pytest.raises(TransactionStateError):
            await p.abort_transaction()
        p._txn.state = TransactionState.READY  # as after init_transactions
        with pytest.raises(TransactionStateError, match="begin_transaction"):
            await p.send("t", b"v")
        with pytest.raises(TransactionStateError):
            await p.send_offsets_to_transaction({TP("t", 0): 1}, "g")
        await p.begin_transaction()
        assert p.transaction_state == TransactionState.IN_TRANSACTION
        with pytest.raises(TransactionStateError):
            await p.begin_transaction()
        # nothing was added at the coordinator: commit sends no EndTxn and needs no broker
        await p.commit_transaction()
        assert p.transaction_state == TransactionState.READY
        plain = Producer("127.0.0.1:1")
        with pytest.raises(Exception) as e:
            await plain.begin_transaction()
        assert getattr(e.value, "name", "") == "INVALID_TXN_STATE"

    asyncio.run(go())


def test_consumer_group_metadata() -> None:
    c = Consumer("127.0.0.1:1", group_id="g", group_instance_id="i-1")
    c.member_id, c.generation_id = "m-1", 7
    assert c.group_metadata() == ConsumerGroupMetadata("g", 7, "m-1", "i-1")
    with pytest.raises(Exception):
        Consumer("127.0.0.1:1").group_metadata()


def test_describe_transactions_response_with_no_open_transaction_decodes() -> None:
    # TransactionStartTimeMs is -1 when nothing is open: kio's reader refuses negative times
    from odradek.protocol import messages

    body = messages.encode_response(65, 0, {"throttle_time": 0, "transaction_states": [
        {"error_code": 0, "transactional_id": "idle", "transaction_state": "Empty", "transaction_timeout": 60000,
         "transaction_start_time": -1, "producer_id": 5, "producer_epoch": 2, "topics": []},
        {"error_code": 0, "transactional_id": "busy", "transaction_state": "Ongoing", "transaction_timeout": 1000,
         "transaction_start_time": 1_700_000_000_123, "producer_id": 6, "producer_epoch": 0, "topics": [{"topic": "a", "partitions": [0, 2]}]},
        {"error_code": 105, "transactional_id": "gone", "transaction_state": "", "transaction_timeout": 0,
         "transaction_start_time": -1, "producer_id": -1, "producer_epoch": -1, "topics": []},
    ]})
    resp = messages.decode_response(65, 0, b"xx" + body, 2)
    idle, busy, gone = resp.transaction_states
    assert (idle.transactional_id, idle.transaction_state, idle.transaction_start_time, idle.transaction_timeout) == ("idle", "Empty", -1, 60000)
    assert (busy.transaction_start_time, busy.producer_id, [(t.topic, t.partitions) for t in busy.topics]) == (1_700_000_000_123, 6, [("a", (0, 2))])
    assert gone.error_code.name == "transactional_id_not_found"
