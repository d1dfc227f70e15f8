"""What a partition costs a broker with thousands of them (issue 14): one file descriptor per
segment (index files are opened only for each write or fsync), no fsync to create a log (its
directory is fsynced by its first flush, as Kafka does since KAFKA-3968), no fsync or snapshot to
close an idle log, and no fsync to open one after a crash (the recovered segments are fsynced by
the next flush and the recovery point waits for it, Kafka's rule)."""

from __future__ import annotations

import os
from dataclasses import replace

from logtest_util import SMALL, append, batch, read_all

from odradek.log import Log, LogManager, read_checkpoint
from odradek.log.manager import RECOVERY_POINT_CHECKPOINT


def open_fds(under) -> int:
    """Descriptors of this process open on files under ``under``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith(str(under))
        except OSError:
            pass
    return n


def fsynced(monkeypatch) -> list[str]:
    """The paths fsynced from now on."""
    paths: list[str] = []
    original = os.fsync

    def fsync(fd):
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        return original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return paths


def test_one_descriptor_per_segment(tmp_path):
    logs = [Log.open(tmp_path / f"t-{i}", SMALL) for i in range(40)]
    for log in logs:
        for _ in range(5):  # past index.interval.bytes: index entries are written
            append(log, batch(3, value_size=100))
        assert len(log.segments[-1].index) > 0
    assert open_fds(tmp_path) == sum(len(log.segments) for log in logs)
    for log in logs:
        log.close()


def test_creating_a_log_fsyncs_nothing_until_its_first_flush(tmp_path, monkeypatch):
    paths = fsynced(monkeypatch)
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    logs = [mgr.create("t", p) for p in range(20)]
    assert paths == []
    append(logs[0], batch(2))
    logs[0].flush()
    # the new partition directory and its entry in the log dir, then the segment's files
    assert str(logs[0].dir) in paths and str(tmp_path / "d") in paths
    assert str(logs[0].segments[0].log_path) in paths
    paths.clear()
    logs[0].flush()
    assert paths == []  # nothing new


def test_closing_idle_logs_writes_nothing(tmp_path, monkeypatch):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    logs = [mgr.create("t", p) for p in range(10)]
    append(logs[0], batch(3))
    logs[0].flush()
    logs[0].close()  # a snapshot at the log end
    snapshots = logs[0].snapshot_files()
    assert snapshots
    paths = fsynced(monkeypatch)
    for log in logs[1:]:
        log.close()
    assert paths == []
    assert all(not log.snapshot_files() for log in logs[1:])
    # reopened and closed again without a change: still nothing written
    again = Log.open(logs[0].dir, SMALL, clean_shutdown=True, recovery_point=3)
    again.close()
    assert paths == [] and again.snapshot_files() == snapshots


def test_unclean_open_fsyncs_nothing_and_keeps_the_recovery_point(tmp_path, monkeypatch):
    d = tmp_path / "t-0"
    log = Log.open(d, replace(SMALL, segment_bytes=600))
    while len(log.segments) < 3:
        append(log, batch(2, value_size=100))
    log.flush()
    end = log.log_end_offset
    data = read_all(log)
    # a crash: no close, the checkpoint says only the first segment was flushed
    rp = log.segments[1].base_offset
    paths = fsynced(monkeypatch)
    again = Log.open(d, replace(SMALL, segment_bytes=600), recovery_point=rp)
    assert paths == []
    assert again.log_end_offset == end and read_all(again) == data
    assert again.recovery_point == rp
    recovered = [s for s in again.segments if s.base_offset >= rp]
    assert recovered and all(s.dirty for s in recovered)
    again.close()
    for s in recovered:
        assert str(s.log_path) in paths
    assert again.recovery_point == end


def test_checkpointed_recovery_point_after_an_unclean_start(tmp_path):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    log = mgr.create("t", 0)
    append(log, batch(3))
    mgr.checkpoint()  # recovery point 0: nothing flushed yet
    assert read_checkpoint(tmp_path / "d" / RECOVERY_POINT_CHECKPOINT) == {("t", 0): 0}
    # crash, restart: the log is recovered and its recovery point stays 0 until a flush
    mgr2 = LogManager([tmp_path / "d"], SMALL)
    logs = mgr2.load_all()
    assert logs[("t", 0)].log_end_offset == 3 and logs[("t", 0)].recovery_point == 0
    mgr2.shutdown()
    assert read_checkpoint(tmp_path / "d" / RECOVERY_POINT_CHECKPOINT) == {("t", 0): 3}
