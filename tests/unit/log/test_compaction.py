"""Compaction: the latest record per key survives (checked against a dict built by the test),
tombstones go after delete.retention.ms, offsets and batch fields are kept, the cleaner's
settings are honoured, keyless records are refused, and the cleaner runs beside appends."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from logtest_util import SMALL, Clock, append, read_all

from odradek.log import Log, LogManager, Throttler
from odradek.log.cleaner import DELETE_HORIZON_MASK, cleanable_info
from odradek.protocol.errors import ErrorCode, KafkaError
from odradek.protocol.record_codec import build_batch, decode_batch, decode_batches
from odradek.protocol.records import scan

COMPACT = replace(
    SMALL,
    cleanup_policy="compact",
    segment_bytes=2000,
    min_cleanable_dirty_ratio=0.0,
    delete_retention_ms=10_000,
)


class Writer:
    """Appends keyed updates and remembers what each offset holds and each key's latest value."""

    def __init__(self, log: Log, clock: Clock, seed: int = 1, keys: int = 30, codec: int = 0) -> None:
        self.log = log
        self.clock = clock
        self.rng = random.Random(seed)
        self.keys = keys
        self.codec = codec
        self.at: dict[int, tuple[bytes, bytes | None]] = {}  # offset -> (key, value)
        self.latest: dict[bytes, bytes | None] = {}
        self.n = 0

    def write(self, count: int, *, tombstones: float = 0.1, per_batch: int = 3, **batch_kw) -> None:
        for _ in range(count):
            records = []
            for _ in range(self.rng.randint(1, per_batch)):
                key = b"key-%d" % self.rng.randrange(self.keys)
                value = None if self.rng.random() < tombstones else b"value-%d-" % self.n + b"x" * self.rng.randrange(30)
                self.n += 1
                records.append((key, value, [("h", b"%d" % self.n)]))
            data = build_batch(records, compression=self.codec, base_timestamp=self.clock.ms, **batch_kw)
            result, _ = append(self.log, data)
            for i, (key, value, _h) in enumerate(records):
                self.at[result.base_offset + i] = (key, value)
                self.latest[key] = value
            self.clock.advance(1)
        self.log.high_watermark = self.log.log_end_offset

    def live(self) -> dict[bytes, bytes]:
        """What a reader of the whole log must end with: keys whose latest value is not null."""
        return {k: v for k, v in self.latest.items() if v is not None}


def check_log(log: Log, w: Writer, *, tombstones_gone: bool | None = None) -> dict[bytes, bytes | None]:
    """Every record is one written at its offset, offsets increase, CRCs verify, and the
    latest value per key is the test's; returns the log's final key -> value (tombstones kept)."""
    data = read_all(log)
    headers = scan(data, verify_crc=True)
    seen: dict[bytes, bytes | None] = {}
    last = -1
    for h in headers:
        assert h.base_offset > last
        _, records = decode_batch(data, h.position)
        for r in records:
            assert r.offset > last
            last = r.offset
            assert w.at[r.offset] == (r.key, r.value), f"offset {r.offset} changed"
            seen[r.key] = r.value
    assert {k: v for k, v in seen.items() if v is not None} == w.live()
    if tombstones_gone is True:
        assert None not in seen.values()
    return seen


def keys_in(data: bytes, below: int) -> list[bytes]:
    return [r.key for r in decode_batches(data) if r.offset < below]


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_latest_value_per_key_and_tombstones_expire(tmp_path, codec):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, seed=codec, codec=codec)
    w.write(150)
    log.roll()  # every tombstone below the active segment: all get their horizon in one clean
    before = log.size_bytes
    result = log.clean_once(clock.ms)
    assert result.cleaned and result.records_removed > 0, result
    active = log.segments[-1].base_offset
    assert result.end_offset == active == log.first_dirty_offset
    assert log.size_bytes < before
    seen = check_log(log, w)
    # below the active segment: one record per key
    cleaned = keys_in(read_all(log), active)
    assert len(cleaned) == len(set(cleaned))
    # rebuilt batches keep the codec
    for h in scan(read_all(log)):
        assert h.compression in (codec, 0)
    # the tombstones are still there (within delete.retention.ms), marked with a horizon
    tombstones = [k for k, v in seen.items() if v is None]
    assert tombstones, "the test should have tombstones"
    assert any(h.attributes & DELETE_HORIZON_MASK for h in scan(read_all(log)))
    clock.advance(5_000)
    log.clean_once(clock.ms)
    assert [k for k, v in check_log(log, w).items() if v is None] == tombstones
    # after delete.retention.ms a clean removes them
    w.write(1, tombstones=0)  # something in the log after them, as a producer would
    clock.advance(6_000)
    result = log.clean_once(clock.ms)
    assert result.cleaned and result.tombstones_removed > 0
    check_log(log, w, tombstones_gone=True)
    # no horizon left behind: nothing asks for another clean
    assert not any(h.attributes & DELETE_HORIZON_MASK for h in scan(read_all(log)))
    assert not cleanable_info(log, clock.ms + 10**9).tombstones_due
    assert not log.clean_once(clock.ms + 10**9).cleaned
    log.close()
    # and so it reads after a restart
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock, first_dirty_offset=log.first_dirty_offset)
    check_log(log, w, tombstones_gone=True)
    log.close()


def test_record_fields_survive_rebuild(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    append(log, build_batch([(b"a", b"old"), (b"b", b"keep", [("x", b"1"), ("y", None)])],
                            base_timestamp=5000, timestamps=[5000, 5007]))
    append(log, build_batch([(b"a", b"new")], base_timestamp=6000))
    log.roll()
    log.high_watermark = log.log_end_offset
    assert log.clean_once(clock.ms).cleaned
    records = decode_batches(read_all(log))
    assert [(r.offset, r.key, r.value, r.timestamp, r.headers) for r in records] == [
        (1, b"b", b"keep", 5007, (("x", b"1"), ("y", None))),
        (2, b"a", b"new", 6000, ()),
    ]
    h = scan(read_all(log))[0]
    assert (h.base_offset, h.last_offset_delta, h.record_count, h.max_timestamp) == (0, 1, 1, 5007)
    log.close()


def test_log_append_time_batches(tmp_path):
    clock = Clock()
    cfg = replace(COMPACT, message_timestamp_type="LogAppendTime")
    log = Log.open(tmp_path / "c-0", cfg, clock=clock)
    append(log, build_batch([(b"a", b"1"), (b"b", b"2")]), now_ms=111)
    append(log, build_batch([(b"a", b"3")]), now_ms=222)
    log.roll()
    log.high_watermark = log.log_end_offset
    assert log.clean_once(clock.ms).cleaned
    h = scan(read_all(log))[0]
    assert h.is_log_append_time and h.max_timestamp == 111
    assert [(r.key, r.timestamp) for r in decode_batches(read_all(log))] == [(b"b", 111), (b"a", 222)]
    log.close()


def test_idempotent_producer_batches_keep_sequences(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    seq = 0
    for i in range(6):
        append(log, build_batch([(b"k", b"v%d" % i), (b"k", b"w%d" % i)], producer_id=7, producer_epoch=0,
                                base_sequence=seq, base_timestamp=1000 + i))
        seq += 2
    append(log, build_batch([(b"k", b"last")], base_timestamp=2000))  # a plain producer supersedes all
    log.roll()
    log.high_watermark = log.log_end_offset
    assert log.clean_once(clock.ms).cleaned
    headers = scan(read_all(log))
    # the producer's last batch stays as an empty batch with its sequence range; the rest go
    empty = [h for h in headers if h.producer_id == 7]
    assert len(empty) == 1
    h = empty[0]
    assert (h.record_count, h.base_offset, h.last_offset_delta, h.base_sequence, h.last_sequence) == (0, 10, 1, 10, 11)
    assert [r.value for r in decode_batches(read_all(log))] == [b"last"]
    # producer state rebuilt from the log alone still knows the sequence
    log.close()
    for snap in (tmp_path / "c-0").glob("*.snapshot"):
        snap.unlink()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    with pytest.raises(KafkaError) as e:
        append(log, build_batch([(b"k", b"gap")], producer_id=7, producer_epoch=0, base_sequence=20))
    assert e.value.code == ErrorCode.out_of_order_sequence_number
    r, _ = append(log, build_batch([(b"k", b"next")], producer_id=7, producer_epoch=0, base_sequence=12))
    assert not r.duplicate
    log.close()


def test_dirty_ratio_and_lags_are_honoured(tmp_path):
    clock = Clock()
    cfg = replace(COMPACT, min_cleanable_dirty_ratio=0.5)
    log = Log.open(tmp_path / "c-0", cfg, clock=clock)
    w = Writer(log, clock, keys=1000)  # distinct keys: cleaning removes little
    w.write(60, tombstones=0)
    assert log.clean_once(clock.ms).cleaned  # all dirty: ratio 1
    w.write(12, tombstones=0)
    log.roll()
    log.high_watermark = log.log_end_offset
    info = cleanable_info(log, clock.ms)
    assert 0 < info.ratio < 0.5
    result = log.clean_once(clock.ms)
    assert not result.cleaned and "min.cleanable.dirty.ratio" in result.reason
    assert log.clean_once(clock.ms, force=True).cleaned
    check_log(log, w)
    log.close()

    # min.compaction.lag.ms: segments with records newer than the lag are not touched
    clock = Clock()
    cfg = replace(COMPACT, min_compaction_lag_ms=60_000)
    log = Log.open(tmp_path / "lag-0", cfg, clock=clock)
    w = Writer(log, clock, keys=3)
    w.write(40)
    log.roll()
    log.high_watermark = log.log_end_offset
    result = log.clean_once(clock.ms)
    assert not result.cleaned and result.reason.startswith("no cleanable segment")
    clock.advance(30_000)
    w.write(40)  # newer segments
    log.roll()
    log.high_watermark = log.log_end_offset
    clock.advance(30_001)
    info = cleanable_info(log, clock.ms)
    old = [s for s in log.segments[:-1] if s.max_timestamp <= clock.ms - 60_000]
    assert 0 < len(old) < len(log.segments) - 1
    assert info.clean_end == log.segments[len(old)].base_offset
    before = [(s.base_offset, s.size) for s in log.segments[len(old):]]
    assert log.clean_once(clock.ms).cleaned
    assert [(s.base_offset, s.size) for s in log.segments[-len(before):]] == before
    check_log(log, w)
    log.close()

    # max.compaction.lag.ms: cleaned even when the ratio would never allow it
    clock = Clock()
    cfg = replace(COMPACT, min_cleanable_dirty_ratio=1.0, max_compaction_lag_ms=10_000)
    log = Log.open(tmp_path / "max-0", cfg, clock=clock)
    w = Writer(log, clock, keys=3)
    w.write(40)
    log.roll()
    log.high_watermark = log.log_end_offset
    assert not log.clean_once(clock.ms).cleaned
    clock.advance(10_001)
    assert log.clean_once(clock.ms).cleaned
    check_log(log, w)
    # and the active segment rolls once its first record is that old
    w.write(2)
    segments = len(log.segments)
    clock.advance(10_001)
    w.write(1)
    assert len(log.segments) == segments + 1
    log.close()


def test_high_watermark_bounds_the_clean(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, keys=3)
    w.write(60)
    log.high_watermark = log.segments[2].base_offset
    result = log.clean_once(clock.ms)
    assert result.end_offset <= log.high_watermark
    # records at or above the HW are untouched (they could still be truncated away)
    assert all(s.base_offset >= result.end_offset for s in log.segments[2:])
    log.truncate_to(log.high_watermark)
    w.latest = {}
    for offset in sorted(w.at):
        if offset < log.log_end_offset:
            w.latest[w.at[offset][0]] = w.at[offset][1]
    check_log(log, w)
    log.close()


def test_keyless_records_are_refused_on_compacted_topics(tmp_path):
    for policy in ("compact", "compact,delete", "delete,compact"):
        log = Log.open(tmp_path / f"{policy.replace(',', '_')}-0", replace(COMPACT, cleanup_policy=policy))
        append(log, build_batch([(b"k", b"v")]))
        for codec in (0, 1, 4):
            with pytest.raises(KafkaError) as e:
                append(log, build_batch([(b"k", b"v"), (None, b"no key")], compression=codec))
            assert e.value.code == ErrorCode.invalid_record
            assert "without key" in e.value.message
        assert log.log_end_offset == 1
        log.close()
    log = Log.open(tmp_path / "plain-0", SMALL)
    append(log, build_batch([(None, b"fine")]))
    assert log.log_end_offset == 1
    log.close()


def test_map_limit_cleans_in_several_passes(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, keys=200)
    w.write(120, tombstones=0.05)
    passes = 0
    while True:
        result = log.clean_once(clock.ms, map_limit_bytes=3000)
        if not result.cleaned:
            break
        passes += 1
        assert result.map_entries < 200
        check_log(log, w)
        if result.end_offset == log.segments[-1].base_offset:
            break
    assert passes >= 2
    check_log(log, w)
    log.close()


def test_regions_of_swapped_out_segments_stay_readable(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, keys=2)
    w.write(40)
    before = log.read(0, 1 << 30)
    data = before.read_bytes()
    assert log.clean_once(clock.ms).cleaned
    assert before.read_bytes() == data
    assert len(read_all(log)) < len(data)
    log.close()


def test_truncation_during_a_clean_aborts_it(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, keys=3)
    w.write(60)
    before = read_all(log)
    calls = 0

    def abort():  # called between batches: truncate in the middle of the clean
        nonlocal calls
        calls += 1
        if calls == 20:
            log.truncate_to(log.log_end_offset - 1)
        return False

    result = log.clean_once(clock.ms, abort=abort)
    assert result.aborted and not result.cleaned
    assert before.startswith(read_all(log))
    assert log.first_dirty_offset == 0
    assert not [p for p in (tmp_path / "c-0").iterdir() if p.name.endswith((".cleaned", ".swap", ".deleted"))]
    log.close()


def test_close_aborts_a_slow_clean(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    w = Writer(log, clock, keys=3)
    w.write(200)
    throttler = Throttler(20_000)  # bytes/s: the clean would take seconds
    results = []
    t = threading.Thread(target=lambda: results.append(log.clean_once(clock.ms, throttler=throttler)))
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 1.0
    t.join(5)
    assert results and results[0].aborted
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    check_log(log, w)
    log.close()


def test_throttler_bounds_the_rate():
    throttler = Throttler(1_000_000)
    started = time.monotonic()
    for _ in range(30):
        throttler.acquire(10_000)
    assert time.monotonic() - started >= 0.25
    assert Throttler(None).acquire(10**9) == 0


def test_policy_delete_is_not_compacted(tmp_path):
    log = Log.open(tmp_path / "d-0", replace(COMPACT, cleanup_policy="delete"))
    result = log.clean_once()
    assert not result.cleaned and "does not compact" in result.reason
    log.close()


def test_cleaner_threads_beside_appends_and_reads(tmp_path):
    clock = Clock()
    mgr = LogManager([tmp_path / "d"], COMPACT, clock=clock)
    mgr.load_all()
    logs = [mgr.create("c", p) for p in range(2)]
    writers = [Writer(log, clock, seed=p, keys=20) for p, log in enumerate(logs)]
    cleaner = mgr.start_cleaner(2, backoff_ms=5)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        for log, w in zip(logs, writers):
            w.write(5)
            data = read_all(log)
            scan(data, verify_crc=True)
            offsets = [r.offset for r in decode_batches(data)]
            assert offsets == sorted(set(offsets))
    mgr.stop_cleaner()
    assert cleaner.stats.cleans > 0 and cleaner.stats.errors == 0
    for log, w in zip(logs, writers):
        check_log(log, w)
        assert log.first_dirty_offset > 0
    mgr.shutdown()
    # the cleaner offsets are checkpointed and reloaded
    mgr = LogManager([tmp_path / "d"], COMPACT, clock=clock)
    reloaded = mgr.load_all()
    for p, (log, w) in enumerate(zip(logs, writers)):
        assert reloaded[("c", p)].first_dirty_offset == log.first_dirty_offset
        check_log(reloaded[("c", p)], w)
    mgr.shutdown()


def test_truncation_lowers_and_checkpoints_the_dirty_offset(tmp_path):
    clock = Clock()
    mgr = LogManager([tmp_path / "d"], COMPACT, clock=clock)
    mgr.load_all()
    log = mgr.create("c", 0)
    w = Writer(log, clock, keys=5)
    w.write(50)
    assert log.clean_once(clock.ms).cleaned
    cleaned_to = log.first_dirty_offset
    log.truncate_to(cleaned_to - 3)
    assert log.first_dirty_offset == log.log_end_offset <= cleaned_to - 3
    from odradek.log import read_checkpoint
    from odradek.log.manager import CLEANER_CHECKPOINT

    assert read_checkpoint(tmp_path / "d" / CLEANER_CHECKPOINT) == {("c", 0): log.first_dirty_offset}
    mgr.shutdown()


def test_cleaned_files_never_linger(tmp_path):
    clock = Clock()
    log = Log.open(tmp_path / "c-0", COMPACT, clock=clock)
    Writer(log, clock).write(100)
    log.clean_once(clock.ms)
    names = [p.name for p in Path(tmp_path / "c-0").iterdir()]
    assert not [n for n in names if n.endswith((".cleaned", ".swap", ".deleted"))]
    log.close()


def test_a_corrupt_batch_stops_the_clean_and_changes_nothing(tmp_path):
    clock = Clock()
    mgr = LogManager([tmp_path / "d"], COMPACT, clock=clock)
    mgr.load_all()
    log = mgr.create("c", 0)
    w = Writer(log, clock, keys=4)
    w.write(60)
    victim = log.segments[1]
    h = scan(victim.log_path.read_bytes())[0]
    with open(victim.log_path, "r+b") as f:  # a flipped bit inside the records: only the CRC sees it
        f.seek(h.position + h.size - 3)
        byte = f.read(1)
        f.seek(h.position + h.size - 3)
        f.write(bytes([byte[0] ^ 0x10]))
    damaged = read_all(log)
    with pytest.raises(KafkaError) as e:
        log.clean_once(clock.ms)
    assert e.value.code == ErrorCode.corrupt_message
    assert read_all(log) == damaged and not log.offline
    assert not [p for p in log.dir.iterdir() if p.name.endswith((".cleaned", ".swap", ".deleted"))]
    cleaner = mgr.start_cleaner(1, backoff_ms=5)
    deadline = time.monotonic() + 5
    while cleaner.stats.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    mgr.stop_cleaner()
    assert cleaner.stats.errors == 1 and cleaner.stats.cleans == 0  # then left alone (backoff)
    assert read_all(log) == damaged
    mgr.shutdown()


def test_a_follower_replicates_a_compacted_log_with_its_gaps(tmp_path):
    clock = Clock()
    leader = Log.open(tmp_path / "leader-0", COMPACT, clock=clock)
    w = Writer(leader, clock, keys=5)
    w.write(80)
    assert leader.clean_once(clock.ms).cleaned
    follower = Log.open(tmp_path / "follower-0", COMPACT, clock=clock)
    while follower.log_end_offset < leader.log_end_offset:
        data = bytearray(leader.read(follower.log_end_offset, 700).read_bytes())
        follower.append_as_follower(data, scan(data))
    assert read_all(follower) == read_all(leader)
    with pytest.raises(KafkaError) as e:  # before the LEO: the follower must truncate first
        data = bytearray(leader.read(0, 100).read_bytes())
        follower.append_as_follower(data, scan(data))
    assert e.value.code == ErrorCode.offset_out_of_range
    leader.close()
    follower.close()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from odradek.log.log import _check_keys  # noqa: E402

_record = st.tuples(
    st.one_of(st.none(), st.binary(max_size=200)),  # key
    st.one_of(st.none(), st.binary(max_size=300)),  # value
    st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=20))), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(_record, min_size=1, max_size=20),
    codec=st.sampled_from([0, 1, 2, 3, 4]),
    base_ts=st.integers(0, 2**40),
    deltas=st.lists(st.integers(0, 2**35), min_size=20, max_size=20),
    gaps=st.lists(st.integers(1, 2**20), min_size=20, max_size=20),
)
def test_the_fast_key_check_agrees_with_decoding(records, codec, base_ts, deltas, gaps):
    offsets = []
    o = 0
    for g in gaps[: len(records)]:
        offsets.append(o)
        o += g
    data = bytearray(build_batch(records, compression=codec, base_timestamp=base_ts,
                                 timestamps=[base_ts + d for d in deltas[: len(records)]],
                                 offset_deltas=offsets))
    keyless = [i for i, r in enumerate(decode_batch(data)[1]) if r.key is None]
    try:
        _check_keys(data, scan(data), "t-0")
        named = []
    except KafkaError as e:
        assert e.code == ErrorCode.invalid_record
        named = [i for i, _ in e.record_errors]
        assert {m for _, m in e.record_errors} == {"Compacted topic cannot accept message without key in topic partition t-0"}
        assert e.message.startswith(f"One or more records have been rejected due to {len(keyless)} record errors in total")
    assert named == keyless  # every keyless record, by its index in the batch (KIP-467)


def test_the_fast_key_check_refuses_malformed_records():
    good = build_batch([(b"k", b"v"), (b"k2", b"v2")])
    for patch in (lambda b: b.__setitem__(60, 3), lambda b: b.__setitem__(60, 1)):  # record count 3 / 1
        data = bytearray(good)
        patch(data)
        with pytest.raises(KafkaError) as e:
            _check_keys(data, scan(data, verify_crc=False), "t-0")
        assert e.value.code == ErrorCode.corrupt_message
