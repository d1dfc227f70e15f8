"""Retention: whole old segments go by time (largest timestamp, injected clock) and by size,
never the active segment, never at or above the high watermark, only with cleanup.policy
delete; the log start offset moves and survives a restart."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from logtest_util import SMALL, Clock, append, batch, read_all

from odradek.log import Log, LogManager
from odradek.protocol.errors import ErrorCode, KafkaError

CFG = replace(SMALL, segment_bytes=1000, retention_ms=60_000)


def fill(log: Log, count: int, ts: int, step: int = 1000) -> list[bytes]:
    out = []
    for i in range(count):
        _, data = append(log, batch(2, ts=ts + i * step, value_size=100, tag=i))
        out.append(data)
    log.high_watermark = log.log_end_offset
    return out


def test_retention_by_time(tmp_path):
    clock = Clock(start_ms=1_000_000)
    log = Log.open(tmp_path / "t-0", CFG, clock=clock)
    t0 = clock.ms
    fill(log, 30, t0)  # timestamps t0 .. t0 + 29 s
    segments = log.segments
    assert len(segments) >= 5
    assert log.apply_retention(t0 + 60_000) == 0  # nothing older than 60 s yet
    now = t0 + 75_500  # segments whose records are all before now - 60 s = t0 + 15.5 s
    expected = [s for s in segments[:-1] if s.max_timestamp < now - 60_000]
    assert 0 < len(expected) < len(segments) - 1
    assert log.apply_retention(now) == len(expected)
    start = segments[len(expected)].base_offset
    assert log.log_start_offset == start == log.segments[0].base_offset
    assert not expected[0].log_path.exists() and not expected[0].index.path.exists()
    with pytest.raises(KafkaError) as e:
        log.read(start - 1, 100)
    assert e.value.code == ErrorCode.offset_out_of_range
    assert log.read(start, 100).size > 0
    # as in Kafka, the active segment goes too once all of it has expired: a new empty one is
    # rolled at the log end first, and nothing old stays readable
    end = log.log_end_offset
    assert log.apply_retention(t0 + 10**9) == len(segments) - len(expected)
    assert len(log.segments) == 1 and log.segments[0].base_offset == end and log.segments[0].size == 0
    assert log.log_start_offset == end and not segments[-1].log_path.exists()
    _, data = append(log, batch(1, ts=t0 + 10**9))
    assert log.log_end_offset == end + 1
    log.close()
    # the log start offset is where the first segment starts after a restart, too
    log = Log.open(tmp_path / "t-0", CFG, clock=clock)
    assert log.log_start_offset == end
    log.close()


def test_the_active_segment_stays_while_above_the_high_watermark(tmp_path):
    clock = Clock(start_ms=1_000_000)
    log = Log.open(tmp_path / "t-0", replace(CFG, segment_bytes=10**6), clock=clock)
    append(log, batch(2, ts=clock.ms))
    log.high_watermark = 1  # a follower has not got offset 1 yet
    assert log.apply_retention(clock.ms + 10**9) == 0
    log.high_watermark = 2
    assert log.apply_retention(clock.ms + 10**9) == 1
    assert (log.log_start_offset, log.log_end_offset) == (2, 2)
    log.close()


def test_retention_never_passes_the_high_watermark(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "t-0", CFG, clock=clock)
    fill(log, 30, 1000)
    segments = log.segments
    log.high_watermark = segments[2].base_offset + 1  # inside the third segment
    assert log.apply_retention(clock.ms) == 2
    assert log.log_start_offset == segments[2].base_offset
    log.close()


def test_retention_by_size(tmp_path):
    clock = Clock()
    cfg = replace(CFG, retention_ms=-1, retention_bytes=3000)
    log = Log.open(tmp_path / "t-0", cfg, clock=clock)
    fill(log, 40, clock.ms)
    sizes = [s.size for s in log.segments]
    deleted = log.apply_retention(clock.ms)
    assert deleted > 0
    assert log.size_bytes >= 3000
    assert log.size_bytes - log.segments[0].size < 3000  # one more would go below the limit
    assert sum(sizes[deleted:]) == log.size_bytes
    assert log.apply_retention(clock.ms) == 0
    log.close()


def test_retention_minus_one_and_policies(tmp_path):
    clock = Clock()
    keep = Log.open(tmp_path / "keep-0", replace(CFG, retention_ms=-1, retention_bytes=-1), clock=clock)
    fill(keep, 20, 0)
    assert keep.apply_retention(clock.ms) == 0
    keep.close()
    compact = Log.open(tmp_path / "c-0", replace(CFG, cleanup_policy="compact"), clock=clock)
    fill(compact, 20, 0)
    assert compact.apply_retention(clock.ms) == 0
    compact.close()
    both = Log.open(tmp_path / "cd-0", replace(CFG, cleanup_policy="compact,delete"), clock=clock)
    fill(both, 20, 0)
    assert both.apply_retention(clock.ms) > 0
    both.close()


def test_segments_without_timestamps_use_the_file_time(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "t-0", CFG, clock=clock)
    for i in range(20):
        append(log, batch(2, ts=-1, value_size=100, tag=i))
    log.high_watermark = log.log_end_offset
    segments = log.segments
    assert segments[0].max_timestamp == -1
    assert log.apply_retention(clock.ms) == 0  # written just now
    old = (clock.ms - 120_000) / 1000
    os.utime(segments[0].log_path, (old, old))
    assert log.apply_retention(clock.ms) == 1
    log.close()


def test_regions_of_deleted_segments_stay_readable(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "t-0", CFG, clock=clock)
    written = fill(log, 30, 0)
    region = log.read(0, 10**6)
    assert log.apply_retention(clock.ms) > 0
    assert region.read_bytes() == b"".join(written)[: region.size]
    log.close()


def test_manager_applies_retention_to_every_log(tmp_path):
    clock = Clock()
    mgr = LogManager([tmp_path / "d"], CFG, clock=clock)
    mgr.load_all()
    a, b = mgr.create("a", 0), mgr.create("b", 0, replace(CFG, retention_ms=-1))
    fill(a, 20, 0)
    fill(b, 20, 0)
    segments = len(a.segments)
    # everything in "a" expired, the active segment too (an empty one is rolled at the log end)
    assert mgr.apply_retention(clock.ms) == segments and len(a.segments) == 1
    assert a.log_start_offset == a.log_end_offset and a.segments[0].size == 0
    assert b.log_start_offset == 0 and len(b.segments) > 1
    start = a.log_start_offset
    mgr.checkpoint()
    del mgr  # a crash: the checkpointed log start offset is what a restart uses
    mgr = LogManager([tmp_path / "d"], CFG, clock=clock)
    assert mgr.load_all()[("a", 0)].log_start_offset == start
    assert read_all(mgr.get("a", 0)) == read_all(a)
    mgr.shutdown()
