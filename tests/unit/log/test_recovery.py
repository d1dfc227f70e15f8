"""Recovery: torn tails, garbage, bad CRCs, missing or damaged indexes; a property test that any
such damage after a crash or a clean stop reopens to a prefix of what was appended."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logtest_util import SMALL, append, batch, headers, open_log, read_all

from odradek.log import LogConfig
from odradek.log.index import OffsetIndex
from odradek.protocol.records import scan


def fill(log, count: int, n: int = 2, value_size: int = 40) -> list[bytes]:
    out = []
    for i in range(count):
        _, data = append(log, batch(n, tag=i, ts=1000 + i, value_size=value_size))
        out.append(data)
    return out


def log_files(path: Path, suffix: str) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.name.endswith(suffix))


def test_torn_tail_is_cut(tmp_path):
    d = tmp_path / "t-0"
    log = open_log(d)
    written = fill(log, 10)
    rp = log.recovery_point
    del log  # crash: no close
    last = log_files(d, ".log")[-1]
    size = last.stat().st_size
    os.truncate(last, size - 7)
    log = open_log(d, recovery_point=rp)
    assert read_all(log) == b"".join(written[:9])
    assert log.log_end_offset == 18 and last.stat().st_size == size - len(written[-1])
    r, _ = append(log, batch(1))
    assert r.base_offset == 18
    log.close()


def test_garbage_tail_is_cut_even_after_clean_shutdown(tmp_path):
    d = tmp_path / "t-0"
    log = open_log(d, replace(SMALL, segment_bytes=1 << 20, index_interval_bytes=100))
    written = fill(log, 20)
    log.close()
    last = log_files(d, ".log")[-1]
    with open(last, "ab") as f:
        f.write(os.urandom(100))
    log = open_log(d, replace(SMALL, segment_bytes=1 << 20, index_interval_bytes=100), clean_shutdown=True)
    assert read_all(log) == b"".join(written)
    assert last.stat().st_size == len(b"".join(written))
    log.close()


def test_bad_crc_in_a_middle_segment_cuts_there(tmp_path):
    d = tmp_path / "t-0"
    cfg = replace(SMALL, segment_bytes=500)
    log = open_log(d, cfg)
    written = fill(log, 20)
    segs = log.segments
    assert len(segs) >= 4
    victim = segs[1]
    del log
    h = headers(victim.log_path.read_bytes())[1]  # second batch of the second segment
    with open(victim.log_path, "r+b") as f:
        f.seek(h.position + 70)
        byte = f.read(1)
        f.seek(h.position + 70)
        f.write(bytes([byte[0] ^ 0xFF]))
    log = open_log(d, cfg, recovery_point=0)
    assert log.log_end_offset == h.base_offset
    assert read_all(log) == b"".join(written[: h.base_offset // 2])  # two offsets per batch
    assert len(log.segments) == 2
    assert not segs[2].log_path.exists()
    log.close()


def test_missing_and_damaged_indexes_of_old_segments_are_rebuilt(tmp_path):
    d = tmp_path / "t-0"
    cfg = replace(SMALL, segment_bytes=1500, index_interval_bytes=100)
    log = open_log(d, cfg)
    written = fill(log, 40)
    segs = log.segments
    assert len(segs) >= 5
    entries = [(s.index.entries(), s.time_index.entries()) for s in segs]
    log.close()
    os.unlink(segs[0].index.path)
    os.unlink(segs[1].time_index.path)
    with open(segs[2].index.path, "ab") as f:
        f.write(b"\x01\x02\x03")
    with open(segs[3].index.path, "r+b") as f:  # last entry points past the file
        f.seek(-4, os.SEEK_END)
        f.write((10**6).to_bytes(4, "big"))
    log = open_log(d, cfg, recovery_point=log.recovery_point)
    for seg, (offsets, times) in zip(log.segments, entries):
        assert seg.index.entries() == offsets
        assert seg.time_index.entries() == times
    assert (d / segs[0].index.path.name).exists()
    assert read_all(log) == b"".join(written)
    for offset in range(0, 80, 3):
        h = headers(log.read(offset, 1).read_bytes())[0]
        assert h.base_offset <= offset <= h.last_offset
    assert log.offset_for_timestamp(1010) == (20, 1010)
    log.close()


def test_index_pointing_at_wrong_batch_is_rebuilt(tmp_path):
    d = tmp_path / "t-0"
    cfg = replace(SMALL, segment_bytes=1500, index_interval_bytes=100)
    log = open_log(d, cfg)
    fill(log, 30)
    seg = log.segments[0]
    good = seg.index.entries()
    log.close()
    with open(seg.index.path, "r+b") as f:  # relative offset of the last entry off by one
        f.seek(-8, os.SEEK_END)
        rel = int.from_bytes(f.read(4), "big")
        f.seek(-8, os.SEEK_END)
        f.write((rel + 1).to_bytes(4, "big"))
    log = open_log(d, cfg, clean_shutdown=True)
    assert log.segments[0].index.entries() == good
    log.close()


def test_old_indexes_load_lazily_and_are_checked_then(tmp_path):
    d = tmp_path / "t-0"
    cfg = replace(SMALL, segment_bytes=1500, index_interval_bytes=100)
    log = open_log(d, cfg)
    written = fill(log, 40)
    seg = log.segments[0]
    good = (seg.index.entries(), seg.time_index.entries())
    assert len(good[0]) >= 3
    log.close()
    log = open_log(d, cfg, clean_shutdown=True)
    assert not any(s.index.loaded or s.time_index.loaded for s in log.segments[:-1])
    assert log.max_timestamp() == (1039, 78)  # from the last time index entries alone
    log.close()
    with open(seg.index.path, "r+b") as f:  # swap the first two entries: the last one stays right
        first, second = f.read(8), f.read(8)
        f.seek(0)
        f.write(second + first)
    log = open_log(d, cfg, clean_shutdown=True)
    old = log.segments[0]
    assert not old.index.loaded
    assert read_all(log) == b"".join(written)  # the first lookup loads, checks and rebuilds
    assert (old.index.entries(), old.time_index.entries()) == good
    log.close()
    assert OffsetIndex(seg.index.path, 0, 4096).problem(10**6) is None


def test_leftovers_are_cleaned(tmp_path):
    d = tmp_path / "t-0"
    log = open_log(d)
    fill(log, 3)
    log.close()
    (d / f"{500:020d}.index").write_bytes(b"\x00" * 8)
    (d / f"{500:020d}.timeindex").write_bytes(b"")
    (d / f"{3:020d}.snapshot.tmp").write_bytes(b"junk")
    (d / f"{900:020d}.snapshot").write_bytes(b"junk")  # above the LEO
    log = open_log(d, clean_shutdown=True)
    names = sorted(p.name for p in d.iterdir())
    assert not any(n.startswith((f"{500:020d}", f"{900:020d}")) or n.endswith(".tmp") for n in names)
    log.close()


# --------------------------------------------------------------------------------------------
# property: damage after a crash or a clean stop recovers to a prefix of what was appended

appends = st.lists(
    st.lists(
        # records, value size, compression
        st.tuples(st.integers(1, 5), st.integers(0, 150), st.integers(0, 3)),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=25,
)
damages = st.sampled_from(["none", "cut_log", "garbage_log", "cut_index", "garbage_index", "delete_index"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=appends,
    segment_bytes=st.integers(300, 3000),
    interval=st.integers(0, 400),
    closed=st.booleans(),
    clean=st.booleans(),
    damage=damages,
    where=st.floats(0, 1),
    victim_pick=st.floats(0, 1),
    garbage=st.binary(min_size=1, max_size=120),
    which_index=st.sampled_from([".index", ".timeindex"]),
)
def test_recovers_to_a_prefix(
    requests, segment_bytes, interval, closed, clean, damage, where, victim_pick, garbage, which_index
):
    cfg = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=interval, segment_index_bytes=1024)
    clean = clean and closed
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "topic-with-dash-0"
        log = open_log(d, cfg)
        written: list[bytes] = []
        ts = 1000
        for request in requests:
            batches = []
            for n, size, codec in request:
                ts += 7
                batches.append(batch(n, ts=ts, value_size=size, compression=codec, tag=len(written)))
            _, data = append(log, *batches, leader_epoch=3)
            written += [bytes(data[h.position : h.position + h.size]) for h in scan(data)]
        leo = log.log_end_offset
        if closed:
            log.close()
        rp = log.recovery_point
        bases = [s.base_offset for s in log.segments] if not closed else None
        del log

        segments = log_files(d, ".log")
        if bases is None:
            bases = [int(p.name[:20]) for p in segments]
        if clean:
            first_checked = len(segments) - 1
        else:
            first_checked = max(i for i, b in enumerate(bases) if b <= rp or i == 0)
        all_bytes = b"".join(written)
        keep_at_least = len(all_bytes)
        if damage in ("cut_log", "garbage_log"):
            k = first_checked + int(victim_pick * (len(segments) - first_checked - 1e-9))
            victim = segments[k]
            before = sum(p.stat().st_size for p in segments[:k])
            size = victim.stat().st_size
            if damage == "cut_log":
                cut = int(where * size)
                os.truncate(victim, cut)
                keep_at_least = before + cut  # minus the torn batch, checked below
            else:
                with open(victim, "ab") as f:
                    f.write(garbage)
                keep_at_least = before + size
        elif damage != "none":
            k = int(victim_pick * (len(segments) - 1e-9))
            path = segments[k].with_suffix(which_index)
            if damage == "delete_index":
                path.unlink(missing_ok=True)
            elif damage == "cut_index" and path.exists():
                os.truncate(path, int(where * path.stat().st_size))
            elif path.exists():
                with open(path, "ab") as f:
                    f.write(garbage)

        log = open_log(d, cfg, recovery_point=rp, clean_shutdown=clean)
        try:
            got = read_all(log)
            got_headers = scan(got, verify_crc=True)  # every batch's CRC verifies
            assert all_bytes.startswith(got)
            boundaries = {0}
            pos = 0
            for w in written:
                pos += len(w)
                boundaries.add(pos)
            assert len(got) in boundaries
            if damage == "cut_log":
                assert len(got) == max(b for b in boundaries if b <= keep_at_least)
            else:
                assert len(got) >= keep_at_least
            expected_leo = got_headers[-1].next_offset if got_headers else 0
            assert log.log_end_offset == expected_leo <= leo
            # reads by offset land on the batch holding it
            for h in got_headers[:: max(1, len(got_headers) // 7)]:
                for offset in {h.base_offset, h.last_offset}:
                    first = scan(log.read(offset, 1).read_bytes())[0]
                    assert first.base_offset == h.base_offset
            r, _ = append(log, batch(2))
            assert r.base_offset == expected_leo
        finally:
            log.close()
