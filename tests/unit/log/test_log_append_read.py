"""Appends and reads of one partition's log: offsets, round trips, regions, rolls, flushes."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pytest
from logtest_util import SMALL, Clock, append, batch, headers, open_log, read_all

from odradek.log import Log, LogConfig
from odradek.protocol.errors import ErrorCode, KafkaError
from odradek.protocol.record_codec import decode_batches
from odradek.protocol.records import scan


def test_offsets_assigned_and_round_trip_byte_identical(tmp_path):
    log = open_log(tmp_path / "t-0")
    written = b""
    expected_base = 0
    for i in range(20):
        n = i % 4 + 1
        result, data = append(log, batch(n, tag=i), leader_epoch=7)
        assert result.base_offset == expected_base
        assert result.last_offset == expected_base + n - 1
        assert result.log_append_time == -1 and not result.duplicate
        expected_base += n
        written += data
    assert log.log_end_offset == expected_base
    assert read_all(log) == written
    hs = headers(written)
    assert [h.base_offset for h in hs][:3] == [0, 1, 3]
    assert all(h.partition_leader_epoch == 7 for h in hs)
    # the CRC still verifies (offset and epoch are outside it)
    scan(written, verify_crc=True)
    values = [r.offset for r in decode_batches(written)]
    assert values == list(range(expected_base))
    log.close()


def test_several_batches_one_request(tmp_path):
    log = open_log(tmp_path / "t-0")
    result, data = append(log, batch(2), batch(3), batch(1))
    assert (result.base_offset, result.last_offset) == (0, 5)
    assert [h.base_offset for h in headers(data)] == [0, 2, 5]
    assert read_all(log) == data
    log.close()


def test_empty_and_too_large(tmp_path):
    log = open_log(tmp_path / "t-0", replace(SMALL, max_message_bytes=200))
    assert log.append(bytearray(), [], leader_epoch=0).base_offset == -1
    with pytest.raises(KafkaError) as e:
        append(log, batch(1), batch(1, value_size=300))
    assert e.value.code == ErrorCode.message_too_large
    assert log.log_end_offset == 0 and log.size_bytes == 0
    log.close()


def test_read_bounds(tmp_path):
    log = open_log(tmp_path / "t-0")
    sizes = []
    for i in range(10):
        _, data = append(log, batch(2, tag=i, value_size=20))
        sizes.append(len(data))
    size = sizes[0]
    assert len(set(sizes)) == 1
    assert log.read(20, 100).size == 0  # offset == LEO
    for bad in (-1, 21):
        with pytest.raises(KafkaError) as e:
            log.read(bad, 100)
        assert e.value.code == ErrorCode.offset_out_of_range
    # whole batches only, at most max_bytes
    assert log.read(0, size * 3 + size // 2).size == size * 3
    assert log.read(5, size * 2).read_bytes()[:8] == (4).to_bytes(8, "big")
    # min_one: a first batch larger than max_bytes comes whole; without, nothing
    assert log.read(0, 1).size == size
    assert log.read(0, 1, min_one=False).size == 0
    # upper bound (exclusive): batches wholly below it only
    assert log.read(0, 10_000, upper_bound=6).size == size * 3
    assert log.read(0, 10_000, upper_bound=5).size == size * 2  # batch 4..5 straddles 5
    assert log.read(6, 10_000, upper_bound=6).size == 0
    assert log.read(7, 10_000, upper_bound=6).size == 0
    log.close()


def test_regions_are_unbuffered_files_usable_with_sendfile(tmp_path):
    log = open_log(tmp_path / "t-0")
    _, data = append(log, batch(3), batch(2))
    r = log.read(0, 1 << 20)
    region = r.regions[0]
    assert isinstance(region.file, io.FileIO)
    out = tmp_path / "out"
    with open(out, "wb") as f:
        sent = os.sendfile(f.fileno(), region.file.fileno(), region.position, region.size)
    assert sent == region.size and out.read_bytes() == data
    log.close()
    # still readable after close and after the files are deleted
    assert region.read() == data
    log2 = open_log(tmp_path / "t-0")
    r2 = log2.read(0, 1 << 20)
    log2.delete()
    assert not (tmp_path / "t-0").exists()
    assert r2.read_bytes() == data


def test_roll_by_size_and_reads_span_segments(tmp_path):
    cfg = replace(SMALL, segment_bytes=1000)
    log = open_log(tmp_path / "t-0", cfg)
    written = b""
    for i in range(40):
        _, data = append(log, batch(3, tag=i, value_size=30))
        written += data
    segs = log.segments
    assert len(segs) > 5
    assert all(s.size <= 1000 for s in segs)
    assert [s.base_offset for s in segs] == sorted(s.base_offset for s in segs)
    assert segs[0].base_offset == 0
    for a, b in zip(segs, segs[1:]):
        assert a.next_offset == b.base_offset
    files = sorted(p.name for p in (tmp_path / "t-0").iterdir() if p.suffix == ".log")
    assert files == [f"{s.base_offset:020d}.log" for s in segs]
    r = log.read(0, 1 << 30)
    assert len(r.regions) == len(segs)
    assert r.read_bytes() == written
    log.close()


def test_single_append_bigger_than_segment_goes_alone(tmp_path):
    cfg = replace(SMALL, segment_bytes=500)
    log = open_log(tmp_path / "t-0", cfg)
    append(log, batch(1))
    _, big = append(log, batch(5, value_size=200))
    append(log, batch(1))
    assert [s.size for s in log.segments][1] == len(big)
    assert len(log.segments) == 3
    log.close()


def test_roll_by_time_with_injected_clock(tmp_path):
    clock = Clock()
    cfg = replace(SMALL, segment_ms=60_000)
    log = open_log(tmp_path / "t-0", cfg, clock=clock)
    append(log, batch(1))
    clock.advance(59_999)
    append(log, batch(1))
    assert len(log.segments) == 1
    clock.advance(1)
    append(log, batch(1))
    assert len(log.segments) == 2
    assert log.segments[-1].base_offset == 2
    # an empty active segment is not rolled however old
    log.roll()
    assert len(log.segments) == 3
    clock.advance(10**6)
    append(log, batch(1))
    assert len(log.segments) == 3
    # now_ms given explicitly wins over the clock
    append(log, batch(1), now_ms=clock.ms + 60_000)
    assert len(log.segments) == 4
    log.close()


def test_roll_when_index_full(tmp_path):
    cfg = replace(SMALL, segment_bytes=1 << 20, index_interval_bytes=0, segment_index_bytes=48)
    log = open_log(tmp_path / "t-0", cfg)
    for i in range(30):
        append(log, batch(1, ts=1000 + i))
    segs = log.segments
    assert len(segs) > 3
    assert all(len(s.time_index) <= 5 and len(s.index) <= 6 for s in segs)
    for offset in range(30):
        assert headers(log.read(offset, 1).read_bytes())[0].base_offset == offset
    log.close()


def test_index_lookups_land_on_the_right_batch(tmp_path):
    cfg = replace(SMALL, segment_bytes=3000, index_interval_bytes=100)
    log = open_log(tmp_path / "t-0", cfg)
    spans = []
    for i in range(150):
        n = (i * 7) % 5 + 1
        r, _ = append(log, batch(n, tag=i, value_size=(i * 13) % 40))
        spans.append((r.base_offset, r.last_offset))
    assert len(log.segments) > 4
    assert sum(len(s.index) for s in log.segments) > 50
    for base, last in spans:
        for offset in range(base, last + 1):
            h = headers(log.read(offset, 1).read_bytes())
            assert len(h) == 1 and h[0].base_offset == base and h[0].last_offset == last
    log.close()


def test_log_append_time(tmp_path):
    cfg = replace(SMALL, message_timestamp_type="LogAppendTime")
    log = open_log(tmp_path / "t-0", cfg)
    result, data = append(log, batch(2, ts=5), batch(1, ts=6), now_ms=123456)
    assert result.log_append_time == 123456
    for h in scan(data, verify_crc=True):
        assert h.is_log_append_time and h.max_timestamp == 123456
    assert read_all(log) == data
    assert log.max_timestamp() == (123456, 0)
    log.close()


def test_flush_policy_moves_recovery_point(tmp_path):
    clock = Clock()
    log = open_log(tmp_path / "a-0", replace(SMALL, flush_messages=5), clock=clock)
    append(log, batch(3))
    assert log.recovery_point == 0
    append(log, batch(2))
    assert log.recovery_point == 5
    log.close()
    log = open_log(tmp_path / "b-0", replace(SMALL, flush_ms=1000), clock=clock)
    append(log, batch(1))
    assert log.recovery_point == 0
    clock.advance(999)
    assert not log.maybe_flush()
    clock.advance(1)
    append(log, batch(1))
    assert log.recovery_point == 2
    append(log, batch(1))
    clock.advance(1000)
    assert log.maybe_flush() and log.recovery_point == 3
    log.flush()
    log.close()


def test_high_watermark_clamped(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, batch(5))
    log.high_watermark = 3
    assert log.high_watermark == 3
    log.high_watermark = 100
    assert log.high_watermark == 5
    log.delete_records_before(4)
    assert log.high_watermark == 5
    log.high_watermark = 0
    assert log.high_watermark == 4
    log.close()


def test_delete_records_before(tmp_path):
    cfg = replace(SMALL, segment_bytes=600)
    log = open_log(tmp_path / "t-0", cfg)
    for i in range(30):
        append(log, batch(2, tag=i, value_size=40))
    segs = log.segments
    assert len(segs) > 4
    cut = segs[2].base_offset + 1  # inside the third segment
    assert log.delete_records_before(cut) == cut
    assert log.log_start_offset == cut
    assert log.segments[0].base_offset == segs[2].base_offset
    assert not segs[0].log_path.exists() and not segs[1].index.path.exists()
    with pytest.raises(KafkaError):
        log.read(cut - 1, 100)
    h = headers(log.read(cut, 1).read_bytes())[0]
    assert h.base_offset <= cut <= h.last_offset
    assert log.delete_records_before(cut - 5) == cut  # never backwards
    with pytest.raises(KafkaError) as e:
        log.delete_records_before(log.log_end_offset + 1)
    assert e.value.code == ErrorCode.offset_out_of_range
    assert log.delete_records_before(log.log_end_offset) == 60
    assert len(log.segments) == 1  # the active segment stays
    assert log.read(60, 100).size == 0
    append(log, batch(1))
    assert headers(read_all(log))[0].base_offset == 60
    log.close()
    log = open_log(tmp_path / "t-0", cfg, log_start_offset=60)
    assert log.log_start_offset == 60 and log.log_end_offset == 61
    log.close()


def test_truncate_to(tmp_path):
    cfg = replace(SMALL, segment_bytes=700, index_interval_bytes=50)
    log = open_log(tmp_path / "t-0", cfg)
    written = []
    for i in range(40):
        _, data = append(log, batch(2, tag=i, ts=1000 + i, value_size=30))
        written.append(data)
    log.high_watermark = 80
    assert len(log.segments) > 3
    log.truncate_to(79)  # inside the last batch 78..79: it goes whole
    assert log.log_end_offset == 78 and log.high_watermark == 78
    log.truncate_to(37)  # inside batch 36..37
    assert log.log_end_offset == 36
    assert log.high_watermark == 36 and log.recovery_point <= 36
    assert read_all(log) == b"".join(written[:18])
    assert log.max_timestamp()[0] == 1017
    assert log.offset_for_timestamp(1018) is None
    r, data = append(log, batch(1, ts=5000))
    assert r.base_offset == 36
    assert read_all(log) == b"".join(written[:18]) + data
    log.truncate_to(100)  # beyond LEO: nothing
    assert log.log_end_offset == 37
    log.close()
    log = open_log(tmp_path / "t-0", cfg, recovery_point=0)
    assert read_all(log) == b"".join(written[:18]) + data
    log.truncate_to(0)
    assert log.log_end_offset == 0 and log.size_bytes == 0
    log.close()


def test_truncate_fully_and_start_at(tmp_path):
    log = open_log(tmp_path / "t-0")
    append(log, batch(5))
    log.truncate_fully_and_start_at(100)
    assert (log.log_start_offset, log.log_end_offset) == (100, 100)
    r, _ = append(log, batch(1))
    assert r.base_offset == 100
    log.close()
    log = open_log(tmp_path / "t-0")
    assert (log.log_start_offset, log.log_end_offset) == (100, 101)
    log.close()


def test_reopen_keeps_everything(tmp_path):
    cfg = replace(SMALL, segment_bytes=900)
    log = open_log(tmp_path / "t-0", cfg)
    written = b""
    for i in range(30):
        _, data = append(log, batch(2, tag=i, ts=2000 + i))
        written += data
    rp = log.recovery_point
    log.close()
    assert rp <= log.recovery_point == 60
    for kwargs in ({"recovery_point": 60}, {"recovery_point": 0}, {"clean_shutdown": True}):
        log = open_log(tmp_path / "t-0", cfg, **kwargs)
        assert log.log_end_offset == 60
        assert read_all(log) == written
        assert log.max_timestamp() == (2029, 58)
        r, data = append(log, batch(1, ts=1))
        assert r.base_offset == 60
        log.truncate_to(60)
        log.close()


def test_closed_log_refuses_use(tmp_path):
    log = open_log(tmp_path / "t-0")
    log.close()
    log.close()
    with pytest.raises(RuntimeError):
        append(log, batch(1))
    assert log.log_end_offset == 0


def test_config_validation():
    with pytest.raises(ValueError, match="message.timestamp.type"):
        LogConfig(message_timestamp_type="Wall")
    with pytest.raises(ValueError, match="segment.bytes"):
        LogConfig(segment_bytes=0)
    with pytest.raises(ValueError, match="cleanup.policy"):
        LogConfig(cleanup_policy="keep")
    cfg = LogConfig().with_properties(
        {"segment.bytes": "2048", "message.timestamp.type": "LogAppendTime", "x": 1}
    )
    assert cfg.segment_bytes == 2048 and cfg.log_append_time
    with pytest.raises(ValueError, match="segment.ms"):
        LogConfig().with_properties({"segment.ms": "soon"})


def test_open_creates_first_segment_at_log_start(tmp_path):
    log = Log.open(tmp_path / "new-3", SMALL, log_start_offset=42, high_watermark=50)
    assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (42, 42, 42)
    assert (tmp_path / "new-3" / f"{42:020d}.log").exists()
    log.close()
