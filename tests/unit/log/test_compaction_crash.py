"""A crash at any step of a clean -- writing the cleaned segment, each rename of the swap, the
directory fsync, the unlinks -- reopens to a log that lost nothing: every record is one written
at its offset, the latest value of every key is there, and no temporary file is left."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from logtest_util import Clock, read_all
from test_compaction import COMPACT, Writer, check_log

from odradek.log import Log
from odradek.log.log import recover_swaps, swap_name
from odradek.protocol.record_codec import decode_batches
from odradek.protocol.records import scan

CFG = replace(COMPACT, segment_bytes=1500, index_interval_bytes=200)


class Crash(BaseException):
    """The process dies here: raised at the chosen call, and by every file call after it."""


def build(path, clock):
    """A log whose next clean merges several cleaned segments into one group."""
    log = Log.open(path, CFG, clock=clock)
    w = Writer(log, clock, seed=3, keys=12)
    w.write(50)
    assert log.clean_once(clock.ms).cleaned
    w.write(50)
    log.roll()
    w.high = log.log_end_offset
    return log, w


def offsets(log):
    return {r.offset for r in decode_batches(read_all(log))}


def leftovers(path):
    return [p.name for p in path.iterdir() if p.name.endswith((".cleaned", ".swap", ".deleted"))]


def run_clean_with_crash(monkeypatch, log, clock, func: str, n: int) -> bool:
    """Clean, dying at the ``n``-th call of ``os.<func>``; returns whether it died."""
    calls = 0
    dead = False
    originals = {name: getattr(os, name) for name in ("rename", "unlink", "pwrite", "fsync", "replace")}

    def wrap(name):
        original = originals[name]

        def f(*args, **kwargs):
            nonlocal calls, dead
            if dead:
                raise Crash(name)
            if name == func:
                calls += 1
                if calls == n:
                    dead = True
                    raise Crash(name)
            return original(*args, **kwargs)

        return f

    for name in originals:
        monkeypatch.setattr(os, name, wrap(name))
    try:
        log.clean_once(clock.ms)
    except Crash:
        pass
    finally:
        for name, original in originals.items():
            monkeypatch.setattr(os, name, original)
    return dead


def count_calls(monkeypatch, tmp_path, func: str) -> int:
    clock = Clock()
    log, _ = build(tmp_path / "count-0", clock)
    calls = 0
    original = getattr(os, func)

    def f(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(os, func, f)
    assert log.clean_once(clock.ms).cleaned
    monkeypatch.setattr(os, func, original)
    log.close()
    return calls


@pytest.mark.parametrize("func", ["rename", "fsync", "unlink", "pwrite"])
def test_crash_at_every_step_of_a_clean_loses_nothing(monkeypatch, tmp_path, func):
    total = count_calls(monkeypatch, tmp_path, func)
    assert total > 0
    steps = range(1, total + 1)
    if func == "pwrite":  # many (every index entry): a sample is enough
        steps = sorted({1, 2, total // 3, total // 2, total - 1, total})
    reference = None
    for n in steps:
        clock = Clock()
        path = tmp_path / f"{func}-{n}-0"
        log, w = build(path, clock)
        before = offsets(log)
        rp = log.recovery_point
        assert run_clean_with_crash(monkeypatch, log, clock, func, n)
        del log  # crashed: nothing closed
        log = Log.open(path, CFG, clock=clock, recovery_point=rp)
        w.log = log
        assert not leftovers(path), (n, leftovers(path))
        check_log(log, w)
        got = offsets(log)
        if reference is None:  # what the clean leaves when it does not crash
            ref_log, _ = build(tmp_path / f"ref-{func}-0", Clock())
            assert ref_log.clean_once(clock.ms).cleaned
            reference = offsets(ref_log)
            ref_log.close()
        assert reference <= got <= before, n
        # and the log goes on: a clean completes, appends follow
        assert log.clean_once(clock.ms).cleaned or log.first_dirty_offset == 0
        check_log(log, w)
        w.write(3)
        check_log(log, w)
        log.close()


def test_recover_swaps_completes_a_committed_swap(tmp_path):
    """The state right after the commit rename: old segments and the swap side by side."""
    clock = Clock()
    path = tmp_path / "c-0"
    log, w = build(path, clock)
    segments = log.segments
    group_end = segments[3].base_offset
    # write what a clean of the first three segments would produce, by hand: keep everything
    data = b"".join(open(s.log_path, "rb").read() for s in segments[:3])
    log.close()
    headers = scan(data)
    cut = headers[len(headers) // 2].position
    (path / swap_name(0, group_end)).write_bytes(data[:cut])
    (path / f"{0:020d}.log.cleaned").write_bytes(b"junk")
    (path / f"{segments[1].base_offset:020d}.index.deleted").write_bytes(b"")
    done = recover_swaps(path)
    assert any("completed" in d for d in done)
    assert not leftovers(path)
    bases = sorted(int(p.name[:20]) for p in path.glob("*.log"))
    assert bases == [0] + [s.base_offset for s in segments[3:]]
    assert (path / f"{0:020d}.log").read_bytes() == data[:cut]
