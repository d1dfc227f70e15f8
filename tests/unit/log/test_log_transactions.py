"""Transactions in one partition's log: open transactions, markers, the last stable offset, the
aborted-transaction index (.txnindex), and all of them across reopen, crash, truncation,
replication and compaction."""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from logtest_util import SMALL, append, open_log, read_all

from odradek.log.txn_index import ENTRY_SIZE, AbortedTxn
from odradek.protocol.control import marker_batch, parse_marker
from odradek.protocol.errors import ErrorCode, KafkaError
from odradek.protocol.record_codec import build_batch, decode_batches
from odradek.protocol.records import scan


def txn_batch(pid: int, seq: int, n: int = 1, *, epoch: int = 0, key: bytes = b"k", compact_keys: bool = False) -> bytes:
    recs = [((key + b"%d" % i) if compact_keys else key, b"v%d" % (seq + i)) for i in range(n)]
    return build_batch(recs, base_timestamp=1000, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                       is_transactional=True)


def code_of(fn) -> ErrorCode:
    with pytest.raises(KafkaError) as e:
        fn()
    return e.value.code


def hw_to_end(log) -> None:
    log.high_watermark = log.log_end_offset


def test_marker_batch_round_trip():
    buf = marker_batch(42, 3, True, 7, 1234)
    (h,) = scan(buf)
    assert h.is_control and h.is_transactional and h.producer_id == 42 and h.producer_epoch == 3
    assert h.base_sequence == -1 and h.record_count == 1
    m = parse_marker(h, buf)
    assert m.commit and m.coordinator_epoch == 7
    assert not parse_marker(h, marker_batch(42, 3, False, 9, 1)).commit


def test_commit_moves_the_lso_and_indexes_nothing(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, txn_batch(1, 0, 3))  # 0..2
    hw_to_end(log)
    assert log.high_watermark == 3 and log.last_stable_offset == 0
    assert log.open_transaction_first_offset(1) == 0
    res, done = log.append_marker(1, 0, True, 5, leader_epoch=0)
    assert res.base_offset == 3 and done.first_offset == 0 and not done.aborted
    assert log.last_stable_offset == 0  # the marker is not replicated yet: the LSO waits for it
    hw_to_end(log)
    assert log.last_stable_offset == 4 == log.high_watermark
    assert log.aborted_transactions(0, 4) == []
    assert not list(tmp_path.glob("t-0/*.txnindex"))
    log.close()


def test_abort_is_indexed_and_collected(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, txn_batch(1, 0, 2))  # 0,1 pid 1
    append(log, txn_batch(2, 0, 1))  # 2 pid 2
    append(log, build_batch([(b"a", b"b")], base_timestamp=1000))  # 3 plain
    log.append_marker(1, 0, False, 0, leader_epoch=0)  # 4 abort pid 1
    hw_to_end(log)
    assert log.last_stable_offset == 2  # pid 2 still open
    assert log.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 4, 2)]
    assert log.aborted_transactions(5, 6) == []  # after the marker: nothing overlaps
    log.append_marker(2, 0, False, 0, leader_epoch=0)  # 5 abort pid 2
    hw_to_end(log)
    assert log.last_stable_offset == 6
    assert log.aborted_transactions(0, 6) == [AbortedTxn(1, 0, 4, 2), AbortedTxn(2, 2, 5, 6)]
    assert log.aborted_transactions(3, 6) == [AbortedTxn(1, 0, 4, 2), AbortedTxn(2, 2, 5, 6)]
    (f,) = tmp_path.glob("t-0/*.txnindex")
    assert f.stat().st_size == 2 * ENTRY_SIZE
    log.close()


def test_marker_and_batch_checks(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, txn_batch(1, 0, 1, epoch=2))
    # a plain idempotent batch from a producer with an open transaction
    plain = build_batch([(b"k", b"v")], base_timestamp=1, producer_id=1, producer_epoch=2, base_sequence=1)
    assert code_of(lambda: append(log, plain)) == ErrorCode.invalid_txn_state
    # a client may not write control batches
    assert code_of(lambda: append(log, bytes(marker_batch(1, 2, True, 0, 1)))) == ErrorCode.invalid_record
    log.append_marker(1, 2, True, 4, leader_epoch=0)
    assert code_of(lambda: log.append_marker(1, 1, True, 4, leader_epoch=0)) == ErrorCode.invalid_producer_epoch
    assert code_of(lambda: log.append_marker(1, 2, True, 3, leader_epoch=0)) == ErrorCode.transaction_coordinator_fenced
    # a retried marker (nothing open) is written and ends nothing
    _, done = log.append_marker(1, 2, True, 4, leader_epoch=0)
    assert done is None
    # a fencing abort with a bumped epoch resets the sequence: the new epoch starts at 0
    append(log, txn_batch(1, 1, 1, epoch=2))
    _, done = log.append_marker(1, 3, False, 4, leader_epoch=0)
    assert done.aborted
    assert code_of(lambda: append(log, txn_batch(1, 2, 1, epoch=2))) == ErrorCode.invalid_producer_epoch
    append(log, txn_batch(1, 0, 1, epoch=3))
    log.close()


@pytest.mark.parametrize("clean", [True, False], ids=["clean-close", "crash"])
def test_state_and_index_survive_a_restart(tmp_path, clean):
    log = open_log(tmp_path / "t-0")
    for i in range(40):  # several segments
        pid = 100 + i % 4
        append(log, txn_batch(pid, i // 4, 1, key=b"x" * 200))
        if i % 4 == 3:
            log.append_marker(100 + (i // 4) % 4, 0, (i // 4) % 2 == 0, 1, leader_epoch=0)
    first_open = log.log_end_offset
    append(log, txn_batch(999, 0, 2))  # left open
    hw_to_end(log)
    expect_lso = log.last_stable_offset
    expect = log.aborted_transactions(0, log.log_end_offset)
    assert len(log.segments) > 2 and expect
    if clean:
        log.close()
    else:
        for seg in log.segments:
            seg.flush()
    again = open_log(tmp_path / "t-0", high_watermark=log.log_end_offset, recovery_point=0)
    assert again.aborted_transactions(0, again.log_end_offset) == expect
    assert again.last_stable_offset == expect_lso
    assert again.open_transaction_first_offset(999) == first_open
    again.close()


def test_lost_index_file_is_rebuilt_from_the_log(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, txn_batch(7, 0, 2))
    log.append_marker(7, 0, False, 0, leader_epoch=0)
    append(log, build_batch([(b"a", b"b")], base_timestamp=1000))
    hw_to_end(log)
    expect = log.aborted_transactions(0, 4)
    for seg in log.segments:
        seg.flush()
    for f in tmp_path.glob("t-0/*.txnindex"):
        os.unlink(f)
    for f in tmp_path.glob("t-0/*.snapshot"):
        os.unlink(f)
    again = open_log(tmp_path / "t-0", high_watermark=4)
    assert again.aborted_transactions(0, 4) == expect == [AbortedTxn(7, 0, 2, 3)]
    again.close()


def test_truncation_drops_index_entries_and_reopens_transactions(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, txn_batch(1, 0, 2))  # 0,1
    log.append_marker(1, 0, False, 0, leader_epoch=0)  # 2
    append(log, txn_batch(1, 2, 1))  # 3 (same epoch, next sequence: a new transaction)
    log.append_marker(1, 0, False, 0, leader_epoch=0)  # 4
    hw_to_end(log)
    assert len(log.aborted_transactions(0, 5)) == 2
    log.truncate_to(4)  # the second marker goes: its transaction is open again
    assert log.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 2, 3)]
    assert log.open_transaction_first_offset(1) == 3
    log.truncate_to(2)
    assert log.aborted_transactions(0, 5) == [] and log.open_transaction_first_offset(1) == 0
    log.close()


def test_follower_rebuilds_the_same_state_from_replicated_bytes(tmp_path):
    leader = open_log(tmp_path / "l")
    append(leader, txn_batch(1, 0, 2))
    append(leader, txn_batch(2, 0, 1))
    leader.append_marker(1, 0, False, 3, leader_epoch=0)
    leader.append_marker(2, 0, True, 3, leader_epoch=0)
    append(leader, txn_batch(3, 0, 1))
    hw_to_end(leader)
    data = read_all(leader)
    follower = open_log(tmp_path / "f")
    buf = bytearray(data)
    follower.append_as_follower(buf, scan(buf))
    hw_to_end(follower)
    assert follower.aborted_transactions(0, 10) == leader.aborted_transactions(0, 10)
    assert follower.last_stable_offset == leader.last_stable_offset == 5
    leader.close()
    follower.close()


def test_compaction_drops_aborted_data_keeps_markers_and_stops_at_the_lso(tmp_path):
    cfg = dataclasses.replace(SMALL, cleanup_policy="compact", min_cleanable_dirty_ratio=0.0)
    log = open_log(tmp_path / "t-0", cfg)
    append(log, txn_batch(1, 0, 1, key=b"a"))  # 0 committed a=v0
    append(log, txn_batch(2, 0, 1, key=b"a"))  # 1 aborted a=v0 (must not supersede offset 0)
    log.append_marker(1, 0, True, 0, leader_epoch=0)  # 2
    log.append_marker(2, 0, False, 0, leader_epoch=0)  # 3
    for i in range(30):  # fill segments with plain records of other keys
        append(log, build_batch([(b"z%d" % i, b"p" * 300)], base_timestamp=1000))
    append(log, txn_batch(3, 0, 1, key=b"z0"))  # open: holds the LSO
    for i in range(10):
        append(log, build_batch([(b"y%d" % i, b"p" * 300)], base_timestamp=1000))
    hw_to_end(log)
    lso = log.last_stable_offset
    res = log.clean_once(force=True)
    assert res.cleaned and res.end_offset <= lso
    batches = decode_batches(read_all(log))
    offsets = {r.offset for r in batches}
    assert 0 in offsets and 1 not in offsets  # committed kept, aborted dropped
    raw = read_all(log)
    controls = [h for h in scan(raw) if h.is_control]
    assert [h.base_offset for h in controls] == [2, 3]
    assert log.aborted_transactions(0, log.log_end_offset) == [AbortedTxn(2, 1, 3, 4)]
    assert any(r.offset >= lso for r in batches)  # nothing past the LSO was touched
    log.close()
    again = open_log(tmp_path / "t-0", cfg, high_watermark=10**6)
    assert again.aborted_transactions(0, again.log_end_offset) == [AbortedTxn(2, 1, 3, 4)]
    again.close()


# --- a model-based property test -------------------------------------------------------------------

ops = st.lists(
    st.tuples(st.sampled_from(["data", "commit", "abort", "plain", "roll", "hw"]), st.integers(0, 3)),
    min_size=1, max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_random_transactions_match_a_model(tmp_path_factory, program):
    path = tmp_path_factory.mktemp("txn") / "t-0"
    log = open_log(path)
    seq = {p: 0 for p in range(4)}
    open_first: dict[int, int] = {}
    aborted: list[tuple[int, int, int]] = []
    for op, p in program:
        pid = 10 + p
        if op == "data":
            res, _ = append(log, txn_batch(pid, seq[p], 2))
            seq[p] += 2
            open_first.setdefault(pid, res.base_offset)
        elif op in ("commit", "abort"):
            res, done = log.append_marker(pid, 0, op == "commit", 0, leader_epoch=0)
            first = open_first.pop(pid, None)
            assert (done is None) == (first is None)
            if first is not None and op == "abort":
                aborted.append((pid, first, res.base_offset))
        elif op == "plain":
            append(log, build_batch([(b"p", b"q")], base_timestamp=1000))
        elif op == "roll":
            log.roll()
        else:
            hw_to_end(log)
    hw_to_end(log)
    expect_lso = min(open_first.values(), default=log.high_watermark)
    assert log.last_stable_offset == expect_lso
    got = [(a.producer_id, a.first_offset, a.last_offset) for a in log.aborted_transactions(0, log.log_end_offset)]
    assert got == aborted
    end = log.log_end_offset
    log.close()
    again = open_log(path, high_watermark=end)
    got = [(a.producer_id, a.first_offset, a.last_offset) for a in again.aborted_transactions(0, end)]
    assert got == aborted and again.last_stable_offset == expect_lso
    again.close()
