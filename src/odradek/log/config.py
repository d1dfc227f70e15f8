"""Per-partition log configuration: :class:`LogConfig` and its Kafka topic-config names.

Owns the storage settings of one partition (segment size and age, index density, flush policy,
timestamp type, ...) and their validation. Imports nothing from asyncio or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

__all__ = ["LogConfig", "KAFKA_NAMES"]

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1

TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("delete", "compact", "compact,delete", "delete,compact")

# Kafka topic-config name -> LogConfig field.
KAFKA_NAMES = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "index.interval.bytes": "index_interval_bytes",
    "segment.index.bytes": "segment_index_bytes",
    "flush.messages": "flush_messages",
    "flush.ms": "flush_ms",
    "message.timestamp.type": "message_timestamp_type",
    "max.message.bytes": "max_message_bytes",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "cleanup.policy": "cleanup_policy",
    "delete.retention.ms": "delete_retention_ms",
    "min.cleanable.dirty.ratio": "min_cleanable_dirty_ratio",
    "min.compaction.lag.ms": "min_compaction_lag_ms",
    "max.compaction.lag.ms": "max_compaction_lag_ms",
    "message.timestamp.before.max.ms": "message_timestamp_before_max_ms",
    "message.timestamp.after.max.ms": "message_timestamp_after_max_ms",
}


@dataclass
class LogConfig:
    """Storage settings of one partition; defaults are Kafka's.

    ``retention_ms`` / ``retention_bytes`` act through :meth:`Log.apply_retention` when the
    cleanup policy contains ``delete``; ``delete_retention_ms``, ``min_cleanable_dirty_ratio``,
    ``min_compaction_lag_ms`` and ``max_compaction_lag_ms`` steer the cleaner when it contains
    ``compact``. A bad value raises ``ValueError`` naming the setting and what it allows.
    """

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    index_interval_bytes: int = 4096
    segment_index_bytes: int = 10485760
    flush_messages: int = INT64_MAX
    flush_ms: int = INT64_MAX
    message_timestamp_type: str = "CreateTime"
    max_message_bytes: int = 1048588
    retention_ms: int = 604800000
    retention_bytes: int = -1
    cleanup_policy: str = "delete"
    delete_retention_ms: int = 86400000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = INT64_MAX
    # CreateTime records further than these from the broker's clock are refused (INVALID_TIMESTAMP).
    # Kafka's broker default for "after" is one hour; a bare LogConfig checks nothing.
    message_timestamp_before_max_ms: int = INT64_MAX
    message_timestamp_after_max_ms: int = INT64_MAX

    def __post_init__(self) -> None:
        _check_int("segment.bytes", self.segment_bytes, 14, INT32_MAX)
        _check_int("segment.ms", self.segment_ms, 1, INT64_MAX)
        _check_int("index.interval.bytes", self.index_interval_bytes, 0, INT32_MAX)
        _check_int("segment.index.bytes", self.segment_index_bytes, 12, INT32_MAX)
        _check_int("flush.messages", self.flush_messages, 1, INT64_MAX)
        _check_int("flush.ms", self.flush_ms, 0, INT64_MAX)
        _check_int("max.message.bytes", self.max_message_bytes, 0, INT32_MAX)
        _check_int("retention.ms", self.retention_ms, -1, INT64_MAX)
        _check_int("retention.bytes", self.retention_bytes, -1, INT64_MAX)
        _check_int("delete.retention.ms", self.delete_retention_ms, 0, INT64_MAX)
        _check_int("min.compaction.lag.ms", self.min_compaction_lag_ms, 0, INT64_MAX)
        _check_int("max.compaction.lag.ms", self.max_compaction_lag_ms, 1, INT64_MAX)
        _check_int("message.timestamp.before.max.ms", self.message_timestamp_before_max_ms, 0, INT64_MAX)
        _check_int("message.timestamp.after.max.ms", self.message_timestamp_after_max_ms, 0, INT64_MAX)
        ratio = self.min_cleanable_dirty_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ValueError(f"min.cleanable.dirty.ratio={ratio!r}: must be a number in [0, 1]")
        if self.message_timestamp_type not in TIMESTAMP_TYPES:
            raise ValueError(
                f"message.timestamp.type={self.message_timestamp_type!r}: "
                f"allowed values are {', '.join(TIMESTAMP_TYPES)}"
            )
        if self.cleanup_policy.replace(" ", "") not in CLEANUP_POLICIES:
            raise ValueError(
                f"cleanup.policy={self.cleanup_policy!r}: allowed values are delete, compact "
                "or compact,delete"
            )

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def compact(self) -> bool:
        """Whether the cleanup policy contains ``compact`` (the cleaner works on this log)."""
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        """Whether the cleanup policy contains ``delete`` (retention works on this log)."""
        return "delete" in self.cleanup_policy

    def with_properties(self, props: Mapping[str, object]) -> LogConfig:
        """A copy with Kafka-named overrides applied, e.g. ``{"segment.bytes": "1048576"}``.

        Unknown names are ignored (they belong to other layers); bad values raise ValueError.
        """
        changes: dict[str, object] = {}
        types = {f.name: f.type for f in fields(self)}
        for name, value in props.items():
            attr = KAFKA_NAMES.get(name)
            if attr is None:
                continue
            if types[attr] in ("int", int):
                try:
                    changes[attr] = int(value)  # type: ignore[call-overload]
                except (TypeError, ValueError):
                    raise ValueError(f"{name}={value!r}: must be an integer") from None
            elif types[attr] in ("float", float):
                try:
                    changes[attr] = float(value)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    raise ValueError(f"{name}={value!r}: must be a number") from None
            else:
                changes[attr] = str(value)
        return replace(self, **changes)  # type: ignore[arg-type]


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name}={value!r}: must be an integer in [{low}, {high}]")
