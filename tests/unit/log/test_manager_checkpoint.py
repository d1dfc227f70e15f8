"""Checkpoint files and the LogManager: create, load, delete, checkpoint, clean shutdown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from logtest_util import SMALL, append, batch, read_all

from odradek.log import LogManager, read_checkpoint, write_checkpoint
from odradek.log.checkpoint import CheckpointError
from odradek.log.manager import (
    CLEAN_SHUTDOWN_FILE,
    LOG_START_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_CHECKPOINT,
    parse_log_dir_name,
)
from odradek.protocol.errors import KafkaError


def test_checkpoint_format_round_trip(tmp_path):
    path = tmp_path / "replication-offset-checkpoint"
    assert read_checkpoint(path) == {}
    entries = {("orders", 0): 42, ("my-topic-x", 11): 7, ("__consumer_offsets", 3): 0}
    write_checkpoint(path, entries)
    text = path.read_text()
    lines = text.splitlines()
    assert lines[:2] == ["0", "3"]
    assert sorted(lines[2:]) == sorted(["orders 0 42", "my-topic-x 11 7", "__consumer_offsets 3 0"])
    assert read_checkpoint(path) == entries
    assert not (tmp_path / "replication-offset-checkpoint.tmp").exists()
    write_checkpoint(path, {})
    assert path.read_text() == "0\n0\n" and read_checkpoint(path) == {}


@pytest.mark.parametrize(
    "text",
    ["", "0\n", "1\n0\n", "0\n2\na 0 1\n", "0\n1\na 0\n", "0\n1\na x 1\n", "zero\n0\n"],
)
def test_malformed_checkpoints(tmp_path, text):
    path = tmp_path / "cp"
    path.write_text(text)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


def test_parse_log_dir_name():
    assert parse_log_dir_name("my-topic-3") == ("my-topic", 3)
    assert parse_log_dir_name("a-0") == ("a", 0)
    assert parse_log_dir_name("t-0.abcdef-delete") is None
    assert parse_log_dir_name("t-0.abcdef-future") is None
    assert parse_log_dir_name("noparts") is None
    assert parse_log_dir_name("-3") is None


def test_manager_create_checkpoint_shutdown_reload(tmp_path):
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    mgr = LogManager(dirs, SMALL)
    assert mgr.load_all() == {}
    written = {}
    for topic, p in [("orders", 0), ("orders", 1), ("my-topic-with-dashes", 2), ("x", 0)]:
        log = mgr.create(topic, p)
        data = b""
        for i in range(5 + p):
            _, d = append(log, batch(2, tag=i))
            data += d
        log.high_watermark = log.log_end_offset - 2
        written[(topic, p)] = data
    assert mgr.create("orders", 0) is mgr.get("orders", 0)
    # spread over both dirs
    assert {log.dir.parent for log in mgr.logs().values()} == set(dirs)
    mgr.get("x", 0).delete_records_before(3)
    mgr.checkpoint()
    for d in dirs:
        for name in (RECOVERY_POINT_CHECKPOINT, REPLICATION_CHECKPOINT, LOG_START_CHECKPOINT):
            assert (d / name).exists()
    hw = {}
    for d in dirs:
        hw.update(read_checkpoint(d / REPLICATION_CHECKPOINT))
    assert hw == {tp: log.high_watermark for tp, log in mgr.logs().items()}
    mgr.shutdown()
    assert all((d / CLEAN_SHUTDOWN_FILE).exists() for d in dirs)
    assert mgr.logs() == {}

    mgr2 = LogManager(dirs, SMALL)
    logs = mgr2.load_all()
    assert set(logs) == set(written)
    assert not any((d / CLEAN_SHUTDOWN_FILE).exists() for d in dirs)
    for tp, log in logs.items():
        if tp == ("x", 0):  # log start 3 is inside the second batch (2..3): reads start there
            assert read_all(log) == written[tp][len(written[tp]) // 5 :]
        else:
            assert read_all(log) == written[tp]
        assert log.high_watermark == log.log_end_offset - 2
        assert log.recovery_point == log.log_end_offset
    assert logs[("x", 0)].log_start_offset == 3
    assert logs[("my-topic-with-dashes", 2)].log_end_offset == 14
    mgr2.shutdown()


def test_manager_unclean_reload_uses_recovery_points(tmp_path):
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    log = mgr.create("t", 0)
    for i in range(10):
        append(log, batch(1, tag=i))
    log.flush()
    mgr.checkpoint()
    append(log, batch(1))  # not flushed, not checkpointed
    # crash: no shutdown; the manager's files stay as they are
    mgr2 = LogManager([tmp_path / "d"], SMALL)
    logs = mgr2.load_all()
    assert logs[("t", 0)].log_end_offset == 11
    assert read_checkpoint(tmp_path / "d" / RECOVERY_POINT_CHECKPOINT) == {("t", 0): 10}
    mgr2.shutdown()


def test_manager_delete_and_leftovers(tmp_path):
    d = tmp_path / "d"
    mgr = LogManager([d], SMALL)
    mgr.load_all()
    log = mgr.create("gone", 0)
    _, data = append(log, batch(3))
    region = log.read(0, 100).regions[0]
    assert mgr.delete("gone", 0)
    assert not mgr.delete("gone", 0)
    assert mgr.get("gone", 0) is None
    assert list(d.iterdir()) == []
    assert region.read() == data  # a region handed out before still reads
    (d / "old-1.0123abcd-delete").mkdir()
    (d / "old-1.0123abcd-delete" / f"{0:020d}.log").write_bytes(b"x")
    (d / "not a log dir").mkdir()
    mgr.create("kept", 0)
    mgr.shutdown()
    mgr = LogManager([d], SMALL)
    assert set(mgr.load_all()) == {("kept", 0)}
    assert not (d / "old-1.0123abcd-delete").exists()
    mgr.shutdown()


def test_manager_configs_and_bad_names(tmp_path):
    big = replace(SMALL, segment_bytes=1 << 20)
    mgr = LogManager([tmp_path / "d"], SMALL)
    mgr.load_all()
    mgr.create("a", 0)
    with pytest.raises(KafkaError):
        mgr.create("../escape", 0)
    with pytest.raises(KafkaError):
        mgr.create("bad name", 0)
    mgr.shutdown()
    mgr = LogManager([tmp_path / "d"], SMALL)
    logs = mgr.load_all(lambda topic: big)
    assert logs[("a", 0)].config is big
    mgr.shutdown()


def test_manager_ignores_unreadable_checkpoint(tmp_path):
    d = tmp_path / "d"
    mgr = LogManager([d], SMALL)
    mgr.load_all()
    log = mgr.create("t", 0)
    append(log, batch(4))
    log.high_watermark = 4
    mgr.shutdown()
    (d / REPLICATION_CHECKPOINT).write_text("garbage")
    mgr = LogManager([d], SMALL)
    log = mgr.load_all()[("t", 0)]
    assert log.log_end_offset == 4 and log.high_watermark == 0
    mgr.shutdown()
