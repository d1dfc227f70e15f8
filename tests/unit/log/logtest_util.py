"""Helpers for the log tests: batches built with record_codec, appends, reads, a fake clock."""

from __future__ import annotations

from pathlib import Path

from odradek.log import AppendResult, Log, LogConfig
from odradek.protocol.record_codec import build_batch
from odradek.protocol.records import BatchHeader, scan

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256, segment_index_bytes=4096)


class Clock:
    """Injected clock (seconds, like time.time) that only moves when told."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, ms: int) -> None:
        self.ms += ms


def batch(
    n: int = 1,
    *,
    ts: int = 1000,
    timestamps: list[int] | None = None,
    value_size: int = 10,
    pid: int = -1,
    epoch: int = -1,
    seq: int = -1,
    compression: int = 0,
    tag: int = 0,
) -> bytes:
    value = (b"%d:" % tag + b"v" * value_size)[: max(value_size, 1)]
    return build_batch(
        [(b"k%d" % i, value) for i in range(n)],
        compression=compression,
        base_timestamp=ts,
        timestamps=timestamps,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


def append(
    log: Log, *batches: bytes, leader_epoch: int = 0, now_ms: int | None = None
) -> tuple[AppendResult, bytes]:
    """Append the batches as one request; returns the result and the bytes as written."""
    buf = bytearray(b"".join(batches))
    result = log.append(buf, scan(buf), leader_epoch=leader_epoch, now_ms=now_ms)
    return result, bytes(buf)


def read_all(log: Log, start: int | None = None) -> bytes:
    offset = log.log_start_offset if start is None else start
    return log.read(offset, 1 << 40).read_bytes()


def headers(data: bytes) -> list[BatchHeader]:
    return scan(data)


def open_log(path: Path, config: LogConfig = SMALL, **kw) -> Log:
    return Log.open(path, config, **kw)
