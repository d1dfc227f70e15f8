"""Offset and time indexes (format, lookups, checks), offset_for_timestamp and max_timestamp."""

from __future__ import annotations

import struct
from dataclasses import replace

from logtest_util import SMALL, append, batch, headers, open_log

from odradek.log.index import OffsetIndex, TimeIndex
from odradek.protocol.record_codec import GZIP, build_batch
from odradek.protocol.records import scan


def test_offset_index_format_and_lookups(tmp_path):
    idx = OffsetIndex(tmp_path / "a.index", 100, 80)
    assert idx.missing and idx.problem(1000) == "missing"
    assert idx.lookup(150) == 0 and idx.last_entry() is None
    idx.append(110, 300)
    idx.append(120, 700)
    idx.append(135, 900)
    raw = (tmp_path / "a.index").read_bytes()
    assert raw == struct.pack(">iiiiii", 10, 300, 20, 700, 35, 900)
    offsets = (100, 109, 110, 119, 120, 134, 135, 500)
    assert [idx.lookup(o) for o in offsets] == [0, 0, 300, 300, 700, 700, 900, 900]
    assert [idx.lookup_position(p) for p in (0, 299, 300, 899, 900, 5000)] == [0, 0, 300, 700, 900, 900]
    again = OffsetIndex(tmp_path / "a.index", 100, 80)
    assert not again.missing and again.problem(1000) is None and again.entries() == idx.entries()
    assert again.problem(900) == "entry past the end of the log"
    again.truncate_to_position(700)
    assert again.entries() == [(110, 300)]
    assert len((tmp_path / "a.index").read_bytes()) == 8
    # torn and unordered files are reported
    (tmp_path / "a.index").write_bytes(raw + b"\x00\x01")
    assert OffsetIndex(tmp_path / "a.index", 100, 80).problem(1000) == "length is not a multiple of 8"
    (tmp_path / "a.index").write_bytes(struct.pack(">iiii", 20, 300, 10, 700))
    assert OffsetIndex(tmp_path / "a.index", 100, 80).problem(1000) == "entries not increasing"
    assert OffsetIndex(tmp_path / "b.index", 0, 80).max_entries == 10
    for i in (idx, again):
        i.close()


def test_time_index_format_and_lookups(tmp_path):
    idx = TimeIndex(tmp_path / "a.timeindex", 50, 36)
    idx.maybe_append(1000, 55)
    idx.maybe_append(1000, 57)  # not growing: ignored
    idx.maybe_append(999, 58)
    idx.maybe_append(2000, 60)
    idx.maybe_append(3000, 70)
    idx.maybe_append(4000, 80)  # full (3 entries)
    assert idx.full and idx.entries() == [(1000, 55), (2000, 60), (3000, 70)]
    idx.maybe_append(4000, 80, skip_full_check=True)
    assert (tmp_path / "a.timeindex").read_bytes()[:12] == struct.pack(">qi", 1000, 5)
    assert [idx.lookup(t) for t in (999, 1000, 1999, 2500, 9999)] == [None, 55, 55, 60, 80]
    loaded = TimeIndex(tmp_path / "a.timeindex", 50, 36)
    assert loaded.entries() == idx.entries() and loaded.problem(81) is None
    assert loaded.problem(80) == "entry past the end of the log"
    loaded.truncate_to_offset(61)
    assert loaded.entries() == [(1000, 55), (2000, 60)]
    for i in (idx, loaded):
        i.close()


def test_sparse_index_density(tmp_path):
    cfg = replace(SMALL, segment_bytes=1 << 20, index_interval_bytes=1000)
    log = open_log(tmp_path / "t-0", cfg)
    total = 0
    for i in range(100):
        _, data = append(log, batch(1, tag=i, value_size=90, ts=i))
        total += len(data)
    seg = log.segments[0]
    n = len(seg.index)
    assert total // 1000 - 2 <= n <= total // 1000 + 1
    hs = headers(log.read(0, 1 << 20).read_bytes())
    by_pos = {}
    pos = 0
    for h in hs:
        by_pos[pos] = h
        pos += h.size
    for offset, position in seg.index.entries():
        assert by_pos[position].last_offset == offset  # entries point at batch starts
    log.close()


def test_time_index_only_grows(tmp_path):
    cfg = replace(SMALL, index_interval_bytes=0, segment_bytes=1 << 20)
    log = open_log(tmp_path / "t-0", cfg)
    stamps = [100, 300, 200, 300, 500, 400, 600]
    for t in stamps:
        append(log, batch(1, ts=t))
    entries = log.segments[0].time_index.entries()
    assert [t for t, _ in entries] == sorted(set(t for t, _ in entries))
    assert entries[-1] == (600, 6)
    log.close()


def test_offset_for_timestamp(tmp_path):
    cfg = replace(SMALL, segment_bytes=700, index_interval_bytes=64)
    log = open_log(tmp_path / "t-0", cfg)
    stamps = []
    for i in range(60):
        base = 10_000 + i * 10 - (25 if i % 7 == 3 else 0)  # some out of order
        r, _ = append(log, batch(2, timestamps=[base, base + 5]))
        stamps.append((r.base_offset, base + 5))
    assert len(log.segments) > 4
    for target in list(range(9_990, 10_620, 3)):
        expected = next(((o, t) for o, t in stamps if t >= target), None)
        assert log.offset_for_timestamp(target) == expected, target
    assert log.offset_for_timestamp(10_596) is None
    # after the log start moves, earlier batches are not answers
    log.delete_records_before(31)
    assert log.offset_for_timestamp(0) == (31, stamps[15][1])
    log.close()
    log = open_log(tmp_path / "t-0", cfg, recovery_point=log.recovery_point, log_start_offset=31)
    for target in (10_000, 10_300, 10_590):
        expected = next(((max(o, 31), t) for o, t in stamps if t >= target and o + 1 >= 31), None)
        assert log.offset_for_timestamp(target) == expected
    log.close()


def test_max_timestamp(tmp_path):
    cfg = replace(SMALL, segment_bytes=600)
    log = open_log(tmp_path / "t-0", cfg)
    assert log.max_timestamp() == (-1, -1)
    for i in range(30):
        ts = 5000 if i == 11 else 1000 + i
        append(log, batch(1, ts=ts))
    assert log.max_timestamp() == (5000, 11)
    # the record holding the max inside a (compressed) batch: found by decoding that batch
    records = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    data = bytearray(build_batch(records, timestamps=[6000, 9000, 7000], compression=GZIP))
    log.append(data, scan(data), leader_epoch=0)
    assert log.max_timestamp() == (9000, 31)
    log.close()
    log = open_log(tmp_path / "t-0", cfg, clean_shutdown=True)
    assert log.max_timestamp() == (9000, 31)
    log.close()
