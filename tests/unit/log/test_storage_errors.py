"""Durability and disk errors: a roll fsyncs the old segment and moves the recovery point,
shutdown fsyncs; an OSError (ENOSPC, EIO, EACCES) in a partition's append, read, flush or roll
answers KAFKA_STORAGE_ERROR and takes that partition offline -- not the broker, not the other
partitions; an unreadable partition directory leaves the partition offline at start."""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import replace

import pytest
from logtest_util import SMALL, append, batch, read_all

from odradek.log import Log, LogManager, read_checkpoint
from odradek.log.manager import CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_CHECKPOINT
from odradek.protocol.errors import ErrorCode, KafkaError


def storage_error(call):
    with pytest.raises(KafkaError) as e:
        call()
    assert e.value.code == ErrorCode.kafka_storage_error
    return e.value


class Fsyncs(list):
    """The descriptors fsynced, and (``paths``) the files they were open on: index files are
    opened only for each write or fsync, so their descriptors do not outlive the call."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []


def fsyncs(monkeypatch) -> Fsyncs:
    calls = Fsyncs()
    original = os.fsync

    def fsync(fd):
        calls.append(fd)
        calls.paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        return original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_roll_fsyncs_the_old_segment_and_moves_the_recovery_point(tmp_path, monkeypatch):
    log = Log.open(tmp_path / "t-0", replace(SMALL, segment_bytes=600))
    calls = fsyncs(monkeypatch)
    while len(log.segments) == 1:
        append(log, batch(2, value_size=100))
    old = log.segments[0]
    assert old.fd in calls and str(old.index.path) in calls.paths and str(old.time_index.path) in calls.paths
    assert log.recovery_point == log.segments[1].base_offset
    assert not old.dirty
    calls.clear()
    append(log, batch(1))
    assert log.recovery_point < log.log_end_offset  # flush.messages is unlimited by default
    log.roll()
    assert log.recovery_point == log.log_end_offset and calls
    log.close()


def test_flush_messages_one_fsyncs_every_append(tmp_path, monkeypatch):
    log = Log.open(tmp_path / "t-0", replace(SMALL, flush_messages=1))
    calls = fsyncs(monkeypatch)
    for i in range(5):
        append(log, batch(1, tag=i))
        assert log.recovery_point == log.log_end_offset == i + 1
        assert log.segments[-1].fd in calls
        calls.clear()
    log.close()


def test_shutdown_fsyncs_and_checkpoints_the_log_end(tmp_path, monkeypatch):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    log = mgr.create("t", 0)
    append(log, batch(3))
    assert log.recovery_point == 0
    active = log.segments[-1]
    calls = fsyncs(monkeypatch)
    mgr.shutdown()
    assert active.fd in calls
    assert read_checkpoint(tmp_path / "d" / RECOVERY_POINT_CHECKPOINT) == {("t", 0): 3}
    assert (tmp_path / "d" / CLEAN_SHUTDOWN_FILE).exists()


def failing(monkeypatch, name: str, err: int, *, when=lambda *a: True):
    original = getattr(os, name)

    def f(*args, **kwargs):
        if when(*args):
            raise OSError(err, os.strerror(err))
        return original(*args, **kwargs)

    monkeypatch.setattr(os, name, f)
    return original


def test_disk_full_on_append_takes_only_that_partition_offline(tmp_path, monkeypatch, caplog):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    bad, good = mgr.create("bad", 0), mgr.create("good", 0)
    _, kept = append(bad, batch(2))
    append(good, batch(2))
    bad_fd = bad.segments[-1].fd
    failing(monkeypatch, "pwrite", errno.ENOSPC, when=lambda fd, *a: fd == bad_fd)
    with caplog.at_level(logging.ERROR, logger="odradek.log"):
        e = storage_error(lambda: append(bad, batch(2)))
    assert "ENOSPC" in e.message
    assert any("bad-0" in r.getMessage() and "offline" in r.getMessage() for r in caplog.records)
    assert bad.offline and mgr.offline == {("bad", 0)}
    # every later call says the same, nothing was half written
    storage_error(lambda: append(bad, batch(1)))
    storage_error(lambda: bad.read(0, 100))
    storage_error(lambda: bad.flush())
    storage_error(lambda: bad.offset_for_timestamp(0))
    assert os.path.getsize(bad.segments[-1].log_path) == len(kept)
    # the other partition is fine
    r, _ = append(good, batch(1))
    assert r.base_offset == 2 and len(read_all(good)) > 0
    assert mgr.apply_retention() == 0 and mgr.maybe_flush_all() == 0  # the offline log is skipped
    good.flush()
    mgr.shutdown()  # does not raise; no clean marker (the offline log was not flushed)
    assert not (tmp_path / "d" / CLEAN_SHUTDOWN_FILE).exists()
    monkeypatch.undo()
    mgr = LogManager([tmp_path / "d"], SMALL)
    logs = mgr.load_all()
    assert mgr.offline == set()
    assert read_all(logs[("bad", 0)]) == kept and logs[("good", 0)].log_end_offset == 3
    mgr.shutdown()


@pytest.mark.parametrize(
    ("call", "name", "err"),
    [
        ("read", "pread", errno.EIO),
        ("flush", "fsync", errno.EIO),
        ("roll", "open", errno.EACCES),
        ("roll", "fsync", errno.EIO),
    ],
)
def test_other_storage_errors(tmp_path, monkeypatch, call, name, err):
    log = Log.open(tmp_path / "t-0", replace(SMALL, index_interval_bytes=0))
    for i in range(5):
        append(log, batch(2, tag=i))
    failing(monkeypatch, name, err)
    calls = {
        "read": lambda: log.read(3, 10**6),
        "flush": lambda: log.flush(),
        "roll": lambda: log.roll(),
    }
    storage_error(calls[call])
    assert log.offline and errno.errorcode[err] in log.offline_reason
    monkeypatch.undo()
    storage_error(lambda: log.read(0, 100))
    storage_error(lambda: append(log, batch(1)))
    log.close()  # never raises


def test_unreadable_partition_dir_is_offline_at_start(tmp_path):
    d = tmp_path / "d"
    mgr = LogManager([d], SMALL)
    mgr.load_all()
    for t in ("ok", "broken"):
        append(mgr.create(t, 0), batch(2))
    mgr.get("broken", 0).high_watermark = 2
    mgr.shutdown()
    seg = d / "broken-0" / f"{0:020d}.log"
    seg.unlink()
    seg.mkdir()  # opening it for writing fails with EISDIR, even as root
    mgr = LogManager([d], SMALL)
    logs = mgr.load_all()
    assert mgr.offline == {("broken", 0)}
    broken = logs[("broken", 0)]
    assert broken.offline and "cannot open" in broken.offline_reason
    assert broken.high_watermark == 2  # the checkpointed offsets are kept
    storage_error(lambda: broken.read(0, 100))
    storage_error(lambda: append(broken, batch(1)))
    assert read_all(logs[("ok", 0)])
    mgr.checkpoint()
    mgr.shutdown()
    assert not (d / CLEAN_SHUTDOWN_FILE).exists()
    seg.rmdir()
    mgr = LogManager([d], SMALL)
    assert mgr.load_all()[("broken", 0)].log_end_offset == 0 and not mgr.offline
    mgr.shutdown()


def test_read_only_partition_dir(tmp_path, monkeypatch):
    log = Log.open(tmp_path / "t-0", SMALL)
    append(log, batch(2))
    # EACCES on creating the next segment's files, as a read-only directory gives a non-root user
    # (root ignores directory permissions, so the refusal is simulated).
    failing(monkeypatch, "open", errno.EACCES, when=lambda path, *a: str(tmp_path / "t-0") in str(path))
    storage_error(lambda: log.roll())
    assert log.offline
    monkeypatch.undo()
    log.close()


def test_create_in_an_unwritable_place_is_a_storage_error(tmp_path, monkeypatch):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    failing(monkeypatch, "open", errno.EACCES)
    storage_error(lambda: mgr.create("t", 0))
    monkeypatch.undo()
    assert mgr.get("t", 0) is None
    mgr.create("t", 0)
    mgr.shutdown()
