"""Idempotent producers: duplicates, sequence order, fencing, and state across restarts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from logtest_util import SMALL, append, batch, open_log, read_all

from odradek.log.producer_state import ProducerStateManager, in_sequence
from odradek.protocol.errors import ErrorCode, KafkaError

INT32_MAX = (1 << 31) - 1


def pb(seq: int, n: int = 1, *, pid: int = 1000, epoch: int = 0, ts: int = 1000) -> bytes:
    return batch(n, pid=pid, epoch=epoch, seq=seq, ts=ts)


def code_of(fn) -> ErrorCode:
    with pytest.raises(KafkaError) as e:
        fn()
    return e.value.code


def test_in_sequence_wraps():
    assert in_sequence(-1, 0) and in_sequence(4, 5) and in_sequence(INT32_MAX, 0)
    assert not in_sequence(4, 6) and not in_sequence(4, 4)


def test_duplicate_of_any_of_last_five(tmp_path):
    log = open_log(tmp_path / "t-0")
    results = []
    for i in range(7):
        r, _ = append(log, pb(i * 2, 2))
        results.append(r)
    size = log.size_bytes
    for i in range(2, 7):  # the last five batches are remembered
        r, _ = append(log, pb(i * 2, 2))
        assert r.duplicate
        assert (r.base_offset, r.last_offset) == (results[i].base_offset, results[i].last_offset)
    assert log.size_bytes == size and log.log_end_offset == 14
    # older than the last five: not a duplicate but out of order
    assert code_of(lambda: append(log, pb(0, 2))) == ErrorCode.out_of_order_sequence_number
    # a batch with the same first sequence but a different count is not a duplicate
    assert code_of(lambda: append(log, pb(12, 1))) == ErrorCode.out_of_order_sequence_number
    log.close()


def test_out_of_order_and_unknown_producer(tmp_path):
    log = open_log(tmp_path / "t-0")
    # a producer the log does not know starts anywhere (Kafka: its state may have been removed)
    r, _ = append(log, pb(7, pid=55))
    assert r.base_offset == 0
    assert code_of(lambda: append(log, pb(9, pid=55))) == ErrorCode.out_of_order_sequence_number
    append(log, pb(0, 2))
    assert code_of(lambda: append(log, pb(4))) == ErrorCode.out_of_order_sequence_number
    r, _ = append(log, pb(2))
    assert r.base_offset == 3 and not r.duplicate
    assert code_of(lambda: append(log, batch(1, pid=5, epoch=0, seq=-1))) == ErrorCode.invalid_record
    # producers are independent; non-idempotent batches are not checked
    append(log, pb(0, pid=77))
    append(log, batch(1), batch(1))
    assert log.log_end_offset == 7
    log.close()


def test_fencing_and_new_epoch(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, pb(0, 2, epoch=3))
    assert code_of(lambda: append(log, pb(2, epoch=2))) == ErrorCode.invalid_producer_epoch
    assert code_of(lambda: append(log, pb(2, epoch=4))) == ErrorCode.out_of_order_sequence_number
    r, _ = append(log, pb(0, epoch=4))
    assert r.base_offset == 2
    assert code_of(lambda: append(log, pb(2, epoch=3))) == ErrorCode.invalid_producer_epoch
    # a duplicate needs the same epoch
    assert code_of(lambda: append(log, pb(0, 2, epoch=3))) == ErrorCode.invalid_producer_epoch
    log.close()


def test_sequence_wraps_at_int32_max(tmp_path):
    log = open_log(tmp_path / "t-0")
    mgr = log._producers
    # seed the state as if the producer had reached the top of the sequence range
    append(log, pb(0))
    mgr.producers[1000].batches[-1] = mgr.producers[1000].batches[-1]._replace(last_seq=INT32_MAX - 2)
    append(log, pb(INT32_MAX - 1, 2))  # INT32_MAX-1, INT32_MAX
    r, _ = append(log, pb(0, 2))
    assert r.base_offset == 3
    # a batch crossing the wrap
    mgr.producers[1000].batches[-1] = mgr.producers[1000].batches[-1]._replace(last_seq=INT32_MAX - 2)
    r, _ = append(log, pb(INT32_MAX - 1, 4))
    assert mgr.producers[1000].last_seq == 1
    r2, _ = append(log, pb(INT32_MAX - 1, 4))
    assert r2.duplicate and r2.base_offset == r.base_offset
    log.close()


def test_several_batches_checked_before_anything_is_written(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, pb(0, 2))
    size = log.size_bytes
    # second batch out of order: neither is written
    assert code_of(lambda: append(log, pb(2, 2), pb(5))) == ErrorCode.out_of_order_sequence_number
    assert log.size_bytes == size and log.log_end_offset == 2
    # both fail
    assert code_of(lambda: append(log, pb(9), pb(11))) == ErrorCode.out_of_order_sequence_number
    assert log.size_bytes == size
    # in order within the request
    r, _ = append(log, pb(2, 2), pb(4, 3), pb(0, pid=9))
    assert (r.base_offset, r.last_offset) == (2, 7)
    r, _ = append(log, pb(4, 3))
    assert r.duplicate and (r.base_offset, r.last_offset) == (4, 6)
    log.close()


def test_duplicate_reports_log_append_time(tmp_path):
    log = open_log(tmp_path / "t-0", replace(SMALL, message_timestamp_type="LogAppendTime"))
    r1, _ = append(log, pb(0), now_ms=555)
    r2, _ = append(log, pb(0), now_ms=777)
    assert r2.duplicate and r2.log_append_time == 555 == r1.log_append_time
    log.close()


@pytest.mark.parametrize("how", ["clean", "unclean", "no-snapshot"])
def test_state_survives_reopen(tmp_path, how):
    cfg = replace(SMALL, segment_bytes=800)
    log = open_log(tmp_path / "t-0", cfg)
    next_seq = {2000: 0, 2001: 0, 2002: 0}
    for i in range(20):
        other = 2000 + i % 3
        append(log, pb(i * 2, 2), pb(next_seq[other], pid=other, epoch=other - 2000))
        next_seq[other] += 1
    assert len(log.segments) > 3
    if how == "clean":
        log.close()
        log = open_log(tmp_path / "t-0", cfg, clean_shutdown=True)
    else:
        rp = log.recovery_point
        # simulate a crash: no close, no final snapshot
        log.flush()
        log = None
        if how == "no-snapshot":
            for p in (tmp_path / "t-0").glob("*.snapshot"):
                p.unlink()
        log = open_log(tmp_path / "t-0", cfg, recovery_point=rp)
    r, _ = append(log, pb(38, 2))
    assert r.duplicate and (r.base_offset, r.last_offset) == (57, 58)
    assert code_of(lambda: append(log, pb(41))) == ErrorCode.out_of_order_sequence_number
    r, _ = append(log, pb(40))
    assert not r.duplicate
    assert code_of(lambda: append(log, pb(0, pid=1000, epoch=-1))) == ErrorCode.invalid_producer_epoch
    for other, seq in next_seq.items():
        epoch = other - 2000
        assert append(log, pb(seq - 1, pid=other, epoch=epoch))[0].duplicate
        assert code_of(lambda: append(log, pb(seq + 1, pid=other, epoch=epoch))) == (
            ErrorCode.out_of_order_sequence_number
        )
        if epoch:
            assert code_of(lambda: append(log, pb(seq, pid=other, epoch=epoch - 1))) == (
                ErrorCode.invalid_producer_epoch
            )
        assert not append(log, pb(seq, pid=other, epoch=epoch))[0].duplicate
    log.close()


def test_truncate_rebuilds_producer_state(tmp_path):
    cfg = replace(SMALL, segment_bytes=600)
    log = open_log(tmp_path / "t-0", cfg)
    for i in range(15):
        append(log, pb(i))
    log.truncate_to(10)
    assert log.log_end_offset == 10
    # sequences 10..14 are gone: 10 is next again, 9 is a duplicate
    r, _ = append(log, pb(9))
    assert r.duplicate and r.base_offset == 9
    r, _ = append(log, pb(10))
    assert not r.duplicate and r.base_offset == 10
    log.close()
    assert all(int(p.stem) <= 11 for p in log.snapshot_files())


def test_snapshot_files_round_trip_and_corruption(tmp_path):
    mgr = ProducerStateManager(tmp_path)
    from odradek.protocol.records import scan

    data = bytearray(pb(0, 3, pid=7, epoch=2))
    h = scan(data)[0]
    mgr.update(h, 10, 99)
    mgr.take_snapshot(13)
    mgr.take_snapshot(20)
    mgr.take_snapshot(30)
    assert mgr.snapshot_offsets() == [20, 30]
    other = ProducerStateManager(tmp_path)
    assert other.load_snapshot(25) == 20  # the one above the LEO is removed
    assert mgr.snapshot_offsets() == [20]
    entry = other.producers[7]
    assert entry.epoch == 2 and list(entry.batches)[0] == (0, 2, 10, 12, 99)
    path = tmp_path / f"{20:020d}.snapshot"
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    assert other.load_snapshot(25) is None and other.producers == {}
    assert mgr.snapshot_offsets() == []


def test_reads_unaffected_by_producer_batches(tmp_path):
    log = open_log(tmp_path / "t-0")
    _, a = append(log, pb(0, 2))
    _, b = append(log, batch(1))
    assert read_all(log) == a + b
    log.close()
