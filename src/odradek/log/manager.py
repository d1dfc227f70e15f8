"""The logs of one broker across its log directories.

Owns the log directories: finding and opening every ``<topic>-<partition>`` directory on start
(with the recovery points, high watermarks and log start offsets from the per-directory
checkpoint files, and the ``.kafka_cleanshutdown`` marker), creating and deleting partitions,
writing the checkpoints, and a clean shutdown. Imports nothing from asyncio or the network.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..protocol.errors import ErrorCode, KafkaError
from .checkpoint import CheckpointError, fsync_dir, read_checkpoint, write_checkpoint
from .config import LogConfig
from .log import Log

__all__ = [
    "LogManager",
    "parse_log_dir_name",
    "CLEAN_SHUTDOWN_FILE",
    "RECOVERY_POINT_CHECKPOINT",
    "REPLICATION_CHECKPOINT",
    "LOG_START_CHECKPOINT",
]

logger = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
REPLICATION_CHECKPOINT = "replication-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
DELETE_SUFFIX = "-delete"

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")

TopicPartition = tuple[str, int]


def parse_log_dir_name(name: str) -> TopicPartition | None:
    """``"my-topic-3"`` -> ``("my-topic", 3)`` (split on the last '-'); None if not a log dir."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


class LogManager:
    """Opens, creates, deletes and checkpoints the partition logs under ``log_dirs``."""

    def __init__(
        self,
        log_dirs: list[Path],
        default_config: LogConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not log_dirs:
            raise ValueError("log.dirs: at least one log directory is needed")
        self.log_dirs = [Path(d) for d in log_dirs]
        for d in self.log_dirs:
            d.mkdir(parents=True, exist_ok=True)
        self.default_config = default_config
        self._clock = clock
        self._logs: dict[TopicPartition, Log] = {}

    # ------------------------------------------------------------------------------ loading

    def load_all(
        self, configs: Callable[[str], LogConfig] | None = None
    ) -> dict[TopicPartition, Log]:
        """Open every partition directory of every log dir; ``configs(topic)`` gives a topic's
        config (default: the default config). Removes leftover ``*-delete`` directories and the
        clean-shutdown markers."""
        for d in self.log_dirs:
            marker = d / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            recovery = self._read(d / RECOVERY_POINT_CHECKPOINT)
            watermarks = self._read(d / REPLICATION_CHECKPOINT)
            starts = self._read(d / LOG_START_CHECKPOINT)
            for p in sorted(d.iterdir()):
                if not p.is_dir():
                    continue
                if p.name.endswith(DELETE_SUFFIX):
                    logger.info("removing %s, left from a deletion", p)
                    shutil.rmtree(p, ignore_errors=True)
                    continue
                tp = parse_log_dir_name(p.name)
                if tp is None:
                    continue
                if tp in self._logs:
                    raise RuntimeError(
                        f"partition {tp[0]}-{tp[1]} is in two log dirs: {self._logs[tp].dir} and {p}"
                    )
                config = configs(tp[0]) if configs is not None else self.default_config
                self._logs[tp] = Log.open(
                    p,
                    config,
                    recovery_point=recovery.get(tp, 0),
                    log_start_offset=starts.get(tp, 0),
                    high_watermark=watermarks.get(tp, 0),
                    clock=self._clock,
                    clean_shutdown=clean,
                )
            if clean:
                marker.unlink()
                fsync_dir(d)
        return dict(self._logs)

    @staticmethod
    def _read(path: Path) -> dict[TopicPartition, int]:
        try:
            return read_checkpoint(path)
        except (CheckpointError, OSError, UnicodeDecodeError) as e:
            logger.warning("ignoring unreadable checkpoint %s: %s", path, e)
            return {}

    # ------------------------------------------------------------------------------ partitions

    def get(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def logs(self) -> dict[TopicPartition, Log]:
        """A copy of the open logs by (topic, partition)."""
        return dict(self._logs)

    def create(self, topic: str, partition: int, config: LogConfig | None = None) -> Log:
        """Open a new (or the existing) log of the partition, in the log dir with fewest logs."""
        tp = (topic, partition)
        log = self._logs.get(tp)
        if log is not None:
            return log
        if not _LEGAL_TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise KafkaError(ErrorCode.invalid_topic_exception, f"illegal topic name {topic!r}")
        if partition < 0:
            raise KafkaError(ErrorCode.invalid_partitions, f"negative partition {partition}")
        counts = {d: 0 for d in self.log_dirs}
        for other in self._logs.values():
            parent = other.dir.parent
            if parent in counts:
                counts[parent] += 1
        target = min(self.log_dirs, key=lambda d: counts[d])
        log = Log.open(target / f"{topic}-{partition}", config or self.default_config, clock=self._clock)
        fsync_dir(target)
        self._logs[tp] = log
        return log

    def delete(self, topic: str, partition: int) -> bool:
        """Rename the partition's dir to ``<topic>-<p>.<hex>-delete``, then remove it.

        Returns False when there is no such log."""
        log = self._logs.pop((topic, partition), None)
        if log is None:
            return False
        log.rename_dir(log.dir.with_name(f"{log.dir.name}.{uuid.uuid4().hex}{DELETE_SUFFIX}"))
        log.delete()
        return True

    # ------------------------------------------------------------------------------ durability

    def maybe_flush_all(self, now_ms: int | None = None) -> int:
        """Flush the logs whose ``flush.ms`` has passed; returns how many were flushed."""
        return sum(log.maybe_flush(now_ms) for log in list(self._logs.values()))

    def checkpoint(self) -> None:
        """Write the three checkpoint files of every log dir."""
        recovery: dict[Path, dict[TopicPartition, int]] = {d: {} for d in self.log_dirs}
        watermarks: dict[Path, dict[TopicPartition, int]] = {d: {} for d in self.log_dirs}
        starts: dict[Path, dict[TopicPartition, int]] = {d: {} for d in self.log_dirs}
        for tp, log in self._logs.items():
            d = log.dir.parent
            if d not in recovery:
                continue
            recovery[d][tp] = log.recovery_point
            watermarks[d][tp] = log.high_watermark
            starts[d][tp] = log.log_start_offset
        for d in self.log_dirs:
            write_checkpoint(d / RECOVERY_POINT_CHECKPOINT, recovery[d])
            write_checkpoint(d / REPLICATION_CHECKPOINT, watermarks[d])
            write_checkpoint(d / LOG_START_CHECKPOINT, starts[d])

    def shutdown(self) -> None:
        """Close every log (flush, producer snapshots), checkpoint, write the clean markers."""
        for log in self._logs.values():
            log.close()
        self.checkpoint()
        for d in self.log_dirs:
            fd = os.open(d / CLEAN_SHUTDOWN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(d)
        self._logs.clear()
