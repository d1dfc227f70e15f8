"""Configuration: Kafka's broker and topic config names, their types, defaults and validation.

One table (:data:`DEFS`) describes every key Odradek understands. Broker keys use Kafka's broker
names (``log.segment.bytes``); topic keys use Kafka's topic names (``segment.bytes``) and, where
Kafka has one, name the broker key that provides their default. Bad values are refused with a
message naming the key and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

LONG_MAX = 9223372036854775807
INT_MAX = 2147483647


class ConfigError(ValueError):
    """A config key is unknown or its value is not allowed."""


@dataclass(frozen=True)
class ConfigDef:
    name: str
    type: str  # "int", "long", "bool", "string", "list", "double", "password", "class"
    default: Any
    doc: str
    topic_name: str | None = None  # the topic-level key this broker key is the default of
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    enforced: bool = True  # False: accepted for compatibility, has no effect (warned about when set)

    def parse(self, raw: Any, key: str | None = None) -> Any:
        """The typed value of ``raw``; refused values raise ConfigError worded as Kafka's ConfigDef
        words them (kafka-configs shows that message to the operator)."""
        key = key or self.name
        if raw is None:
            return None
        try:
            if self.type in ("int", "long"):
                value: Any = int(str(raw).strip())
                if self.type == "int" and not -INT_MAX - 1 <= value <= INT_MAX:
                    raise ValueError
            elif self.type == "double":
                value = float(str(raw).strip())
            elif self.type == "bool":
                s = str(raw).strip().lower()
                if s not in ("true", "false"):
                    raise ConfigError(f"Invalid value {raw} for configuration {key}: Expected value to be either true or false")
                value = s == "true"
            elif self.type == "list":
                value = [v.strip() for v in str(raw).split(",") if v.strip()] if not isinstance(raw, list) else raw
            else:
                value = str(raw).strip()
        except ConfigError:
            raise
        except ValueError:
            # Kafka's words (ConfigDef), so tools show the same message
            kind = {"int": "INT", "long": "LONG", "double": "DOUBLE"}.get(self.type, self.type.upper())
            why = "Expected value to be either true or false" if self.type == "bool" else f"Not a number of type {kind}"
            raise ConfigError(f"Invalid value {raw} for configuration {key}: {why}") from None
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"Invalid value {value} for configuration {key}: Value must be at least {_bound(self.minimum)}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"Invalid value {value} for configuration {key}: Value must be no more than {_bound(self.maximum)}")
        if self.choices is not None:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in self.choices:
                    raise ConfigError(
                        f"Invalid value {item} for configuration {key}: String must be one of: {', '.join(self.choices)}"
                    )
        return value


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def render(value: Any) -> str | None:
    """A config value as Kafka shows it in DescribeConfigs."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


_D = ConfigDef
_TS_TYPES = ("CreateTime", "LogAppendTime")
_COMPRESSION = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# Broker-level keys. Those with topic_name are also topic configs (the broker value is the default).
BROKER_DEFS: list[ConfigDef] = [
    _D("broker.id", "int", 0, "The broker id.", minimum=-1, read_only=True),
    _D("node.id", "int", -1, "Alias of broker.id.", read_only=True),
    _D("listeners", "string", "PLAINTEXT://127.0.0.1:9092", "Listener URIs, e.g. PLAINTEXT://127.0.0.1:9092.", read_only=True),
    _D("advertised.listeners", "string", None, "Listeners given to clients; defaults to listeners.", read_only=True),
    _D("listener.security.protocol.map", "string", "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
       "Listener name to security protocol; only PLAINTEXT is served yet.", read_only=True),
    _D("inter.broker.listener.name", "string", None, "The listener brokers use between themselves (must name the listener).", read_only=True),
    _D("security.inter.broker.protocol", "string", "PLAINTEXT", "Security between brokers; only PLAINTEXT is served yet.", read_only=True),
    _D("log.dirs", "string", None, "Data directory (Odradek uses one: a list of several is refused).", read_only=True),
    _D("log.dir", "string", "./odradek-data", "Data directory, used when log.dirs is not set.", read_only=True),
    _D("zookeeper.connect", "string", None, "ZooKeeper connect string; unset = embedded metadata (single node).", read_only=True),
    _D("zookeeper.session.timeout.ms", "int", 18000, "ZooKeeper session timeout.", minimum=1, read_only=True),
    _D("num.partitions", "int", 1, "Default partition count of new topics.", minimum=1, read_only=True),
    _D("default.replication.factor", "int", 1, "Default replication factor of new topics.", minimum=1, read_only=True),
    _D("auto.create.topics.enable", "bool", True, "Create topics on Metadata and Produce requests for unknown topics.", read_only=True),
    _D("delete.topic.enable", "bool", True, "Allow DeleteTopics.", read_only=True),
    _D("message.max.bytes", "int", 1048588, "Largest record batch.", topic_name="max.message.bytes", minimum=0),
    _D("log.segment.bytes", "int", 1073741824, "Segment size.", topic_name="segment.bytes", minimum=14),
    _D("log.roll.ms", "long", None, "Segment roll time (overrides log.roll.hours).", topic_name="segment.ms", minimum=1),
    _D("log.roll.hours", "int", 168, "Segment roll time in hours.", minimum=1, read_only=True),
    _D("log.index.interval.bytes", "int", 4096, "Bytes between offset index entries.", topic_name="index.interval.bytes", minimum=0),
    _D("log.index.size.max.bytes", "int", 10485760, "Maximum offset index size.", topic_name="segment.index.bytes", minimum=4),
    _D("log.flush.interval.messages", "long", LONG_MAX, "fsync after this many messages.", topic_name="flush.messages", minimum=1),
    _D("log.flush.interval.ms", "long", None, "fsync after this many ms.", topic_name="flush.ms", minimum=0),
    _D("log.retention.ms", "long", None, "Retention time (overrides hours/minutes).", topic_name="retention.ms", minimum=-1),
    _D("log.retention.minutes", "int", None, "Retention time in minutes.", minimum=-1, read_only=True),
    _D("log.retention.hours", "int", 168, "Retention time in hours.", minimum=-1, read_only=True),
    _D("log.retention.bytes", "long", -1, "Retention size per partition.", topic_name="retention.bytes", minimum=-1),
    _D("log.retention.check.interval.ms", "long", 300000, "How often retention runs.", minimum=1, read_only=True),
    _D("log.cleanup.policy", "list", ["delete"], "delete and/or compact.", topic_name="cleanup.policy", choices=("compact", "delete")),
    _D("log.cleaner.delete.retention.ms", "long", 86400000, "How long tombstones stay.", topic_name="delete.retention.ms", minimum=0),
    _D("log.cleaner.min.cleanable.ratio", "double", 0.5, "Dirty ratio that triggers cleaning.", topic_name="min.cleanable.dirty.ratio", minimum=0, maximum=1),
    _D("log.cleaner.min.compaction.lag.ms", "long", 0, "Minimum age before compaction.", topic_name="min.compaction.lag.ms", minimum=0),
    _D("log.cleaner.max.compaction.lag.ms", "long", LONG_MAX, "Maximum age before compaction.", topic_name="max.compaction.lag.ms", minimum=1),
    _D("log.cleaner.threads", "int", 1, "Cleaner threads.", minimum=0, read_only=True),
    _D("log.cleaner.enable", "bool", True, "Run the log cleaner (compaction).", read_only=True),
    _D("log.cleaner.io.max.bytes.per.second", "double", 1.7976931348623157e308, "Cleaner I/O limit (read and write together).", minimum=0, read_only=True),
    _D("log.cleaner.backoff.ms", "long", 15000, "How long the cleaner sleeps when there is nothing to clean.", minimum=0, read_only=True),
    _D("log.message.timestamp.type", "string", "CreateTime", "CreateTime or LogAppendTime.", topic_name="message.timestamp.type", choices=_TS_TYPES),
    _D("compression.type", "string", "producer", "Compression of stored batches; only 'producer' (keep as sent) changes nothing.", topic_name="compression.type", choices=_COMPRESSION),
    _D("min.insync.replicas", "int", 1, "Minimum ISR size for acks=all.", topic_name="min.insync.replicas", minimum=1),
    _D("unclean.leader.election.enable", "bool", False, "Elect an out-of-sync replica when no ISR member lives.", topic_name="unclean.leader.election.enable"),
    _D("log.preallocate", "bool", False, "Preallocate segment files (accepted, not used).", topic_name="preallocate", enforced=False),
    _D("log.message.timestamp.before.max.ms", "long", LONG_MAX, "A CreateTime record older than this (by the broker's clock) is refused with INVALID_TIMESTAMP.", topic_name="message.timestamp.before.max.ms", minimum=0),
    _D("log.message.timestamp.after.max.ms", "long", 3600000, "A CreateTime record newer than this (by the broker's clock) is refused with INVALID_TIMESTAMP.", topic_name="message.timestamp.after.max.ms", minimum=0),
    _D("offsets.topic.num.partitions", "int", 50, "Partitions of __consumer_offsets.", minimum=1, read_only=True),
    _D("offsets.topic.replication.factor", "int", 3, "Replication factor of __consumer_offsets (capped at the live brokers).", minimum=1, read_only=True),
    _D("offsets.retention.minutes", "int", 10080, "Committed offsets of empty groups expire after this.", minimum=1, read_only=True),
    _D("transaction.state.log.num.partitions", "int", 50, "Partitions of __transaction_state (never change it once created).", minimum=1, read_only=True),
    _D("transaction.state.log.replication.factor", "int", 3, "Replication factor of __transaction_state (capped at the live brokers).", minimum=1, read_only=True),
    _D("transaction.state.log.min.isr", "int", 2, "min.insync.replicas of __transaction_state writes (capped at its replication factor).", minimum=1, read_only=True),
    _D("transaction.state.log.segment.bytes", "int", 104857600, "Segment size of __transaction_state.", minimum=1, read_only=True),
    _D("transaction.max.timeout.ms", "int", 900000, "Largest transaction.timeout.ms a producer may ask for (else INVALID_TRANSACTION_TIMEOUT).", minimum=1, read_only=True),
    _D("transactional.id.expiration.ms", "int", 604800000, "A transactional id idle this long is forgotten.", minimum=1, read_only=True),
    _D("transaction.abort.timed.out.transaction.cleanup.interval.ms", "int", 10000, "How often timed-out transactions are aborted.", minimum=1, read_only=True),
    _D("transaction.remove.expired.transaction.cleanup.interval.ms", "int", 3600000, "How often idle transactional ids are expired.", minimum=1, read_only=True),
    _D("transaction.partition.verification.enable", "bool", True, "Check with the coordinator that a partition is in the transaction before a transactional produce (KIP-890).", read_only=True),
    _D("producer.id.expiration.ms", "int", 86400000, "A producer idle this long is forgotten by a partition (never with a transaction open).", minimum=1),
    _D("producer.id.expiration.check.interval.ms", "int", 600000, "How often idle producers are forgotten.", minimum=1, read_only=True),
    _D("group.initial.rebalance.delay.ms", "int", 3000, "Wait for more members on a new group's first rebalance.", minimum=0, read_only=True),
    _D("group.min.session.timeout.ms", "int", 6000, "Smallest session timeout a member may ask for.", minimum=0, read_only=True),
    _D("group.max.session.timeout.ms", "int", 1800000, "Largest session timeout a member may ask for.", minimum=0, read_only=True),
    _D("replica.lag.time.max.ms", "long", 30000, "A follower not caught up for this long leaves the ISR.", minimum=0, read_only=True),
    _D("auto.leader.rebalance.enable", "bool", True, "Move leadership back to preferred replicas.", read_only=True),
    _D("leader.imbalance.check.interval.seconds", "long", 300, "How often the controller checks for preferred leaders.", minimum=1, read_only=True),
    _D("leader.imbalance.per.broker.percentage", "int", 10, "Accepted for compatibility; any imbalance is corrected.", minimum=0, enforced=False),
    _D("controlled.shutdown.timeout.ms", "long", 10000, "How long a stopping broker tries to hand leadership over.", minimum=0),
    _D("controlled.shutdown.enable", "bool", True, "Move leadership away before stopping.", read_only=True),
    _D("num.network.threads", "int", 3, "Accepted for compatibility; Odradek runs one event loop.", minimum=1, enforced=False),
    _D("num.io.threads", "int", 8, "Accepted for compatibility; Odradek runs one event loop.", minimum=1, enforced=False),
    _D("socket.request.max.bytes", "int", 104857600, "Largest request frame.", minimum=1, read_only=True),
    _D("max.connections", "int", INT_MAX, "Connections the broker accepts at once (per listener: listener.name.<l>.max.connections); past it new ones are closed.", minimum=0),
    _D("max.connections.per.ip", "int", INT_MAX, "Connections accepted from one IP address; past it new ones are closed.", minimum=0),
    _D("max.connections.per.ip.overrides", "string", "", "Per-IP limits, host:count,host:count (overrides max.connections.per.ip)."),
    _D("max.connection.creation.rate", "int", INT_MAX, "New connections per second a listener accepts (listener.name.<l>.max.connection.creation.rate); past it they are closed.", minimum=0),
    _D("connections.max.idle.ms", "long", 600000, "A connection with nothing to do for this long is closed.", minimum=-1),
    _D("max.incremental.fetch.session.cache.slots", "int", 1000,
       "Incremental fetch sessions (KIP-227) kept at once; the least recently used goes first. 0 turns sessions off.",
       minimum=0, read_only=True),
    _D("cluster.id", "string", None, "Cluster id; generated and stored on first start when unset.", read_only=True),
    _D("metrics.listener", "string", None,
       "Odradek's own: serve Prometheus metrics (Kafka's JMX exporter names, docs/metrics.md) at http://HOST:PORT/metrics; "
       "unset or empty = off.", read_only=True),
]

# Topic-only keys (no broker key of their own).
TOPIC_ONLY_DEFS: list[ConfigDef] = [
    _D("segment.jitter.ms", "long", 0, "Random jitter on segment roll time (accepted, not used).", minimum=0, enforced=False),
    _D("file.delete.delay.ms", "long", 60000, "Delay before deleting a file from the filesystem (accepted; files go at once).", minimum=0, enforced=False),
    _D("message.downconversion.enable", "bool", True, "Accepted for compatibility (record batches v2 only).", enforced=False),
    _D("local.retention.ms", "long", -2, "Accepted for compatibility (tiered storage).", minimum=-2, enforced=False),
    _D("local.retention.bytes", "long", -2, "Accepted for compatibility (tiered storage).", minimum=-2, enforced=False),
    _D("remote.storage.enable", "bool", False, "Tiered storage is not supported: only false is accepted."),
    # Topic configs of Kafka 4.x, accepted so that clients setting them can create topics (Kafka's
    # defaults and types); none acts here: batches are stored as sent (never recompressed) and
    # there is no tiered storage or dead-letter queue.
    _D("compression.gzip.level", "int", -1, "Accepted for compatibility (batches are stored as sent).", minimum=-1, maximum=9, enforced=False),
    _D("compression.lz4.level", "int", 9, "Accepted for compatibility (batches are stored as sent).", minimum=1, maximum=17, enforced=False),
    _D("compression.zstd.level", "int", 3, "Accepted for compatibility (batches are stored as sent).", minimum=-131072, maximum=22, enforced=False),
    _D("max.decompressed.message.bytes", "int", 2147483639, "Accepted for compatibility (not checked).", minimum=0, enforced=False),
    _D("errors.deadletterqueue.group.enable", "bool", False, "Accepted for compatibility (no dead-letter queues).", enforced=False),
    _D("remote.copy.lag.bytes", "long", -1, "Accepted for compatibility (tiered storage).", minimum=-1, enforced=False),
    _D("remote.copy.lag.ms", "long", 0, "Accepted for compatibility (tiered storage).", minimum=0, enforced=False),
    _D("remote.log.copy.disable", "bool", False, "Accepted for compatibility (tiered storage).", enforced=False),
    _D("remote.log.delete.on.disable", "bool", False, "Accepted for compatibility (tiered storage).", enforced=False),
    _D("follower.replication.throttled.replicas", "list", [], "Accepted for compatibility (no replication throttling).", enforced=False),
    _D("leader.replication.throttled.replicas", "list", [], "Accepted for compatibility (no replication throttling).", enforced=False),
]

BROKER: dict[str, ConfigDef] = {d.name: d for d in BROKER_DEFS}
TOPIC: dict[str, ConfigDef] = {}
TOPIC_SOURCE: dict[str, str] = {}  # topic key -> broker key providing its default
for _d in BROKER_DEFS:
    if _d.topic_name:
        TOPIC[_d.topic_name] = ConfigDef(
            _d.topic_name, _d.type, _d.default, _d.doc, None, _d.minimum, _d.maximum, _d.choices, enforced=_d.enforced
        )
        TOPIC_SOURCE[_d.topic_name] = _d.name
# Broker keys a topic key takes its default from, most specific first (Kafka's "synonyms").
TOPIC_SYNONYMS: dict[str, list[str]] = {k: [v] for k, v in TOPIC_SOURCE.items()}
TOPIC_SYNONYMS["retention.ms"] = ["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
TOPIC_SYNONYMS["segment.ms"] = ["log.roll.ms", "log.roll.hours"]
TOPIC_SYNONYMS["flush.ms"] = ["log.flush.interval.ms"]
# Topic-only keys that Kafka gives a broker key of its own (Odradek implements none of them).
TOPIC_SYNONYMS["file.delete.delay.ms"] = ["log.segment.delete.delay.ms"]
TOPIC_SYNONYMS["local.retention.ms"] = ["log.local.retention.ms"]
TOPIC_SYNONYMS["local.retention.bytes"] = ["log.local.retention.bytes"]
TOPIC_SYNONYMS["message.downconversion.enable"] = ["log.message.downconversion.enable"]
TOPIC["segment.ms"] = ConfigDef("segment.ms", "long", 604800000, "Segment roll time.", minimum=1)
TOPIC["retention.ms"] = ConfigDef("retention.ms", "long", 604800000, "Retention time; -1 keeps forever.", minimum=-1)
TOPIC["flush.ms"] = ConfigDef("flush.ms", "long", LONG_MAX, "fsync after this many ms.", minimum=0)
for _d in TOPIC_ONLY_DEFS:
    TOPIC[_d.name] = _d

TOPIC_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249


def validate_topic_name(name: str | None) -> str | None:
    """None when ``name`` is a legal Kafka topic name, else the reason (in Kafka's words)."""
    if not name:
        return "Topic name is invalid: the empty string is not allowed"
    if name in (".", ".."):
        return f"Topic name is invalid: '{name}' is not allowed"
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is invalid: the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME}"
    if not TOPIC_NAME_RE.match(name):
        return (f"Topic name is invalid: '{name}' contains one or more characters other than ASCII alphanumerics, "
                "'.', '_' and '-'")
    return None


class BrokerConfig:
    """The broker's effective configuration: defaults, then the properties file, then overrides."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.dynamic: dict[str, Any] = {}  # set at run time through AlterConfigs (cluster default)
        for k, v in (values or {}).items():
            self.set(k, v)

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> "BrokerConfig":
        raw: dict[str, str] = {}
        if path is not None:
            raw.update(read_properties(Path(path)))
        for item in overrides or []:
            if "=" not in item:
                raise ConfigError(f"--override takes KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            raw[k.strip()] = v.strip()
        return cls(raw)

    def set(self, key: str, raw: Any) -> None:
        d = BROKER.get(key)
        if d is None:
            # Unknown keys are kept (Kafka logs and ignores them) so properties files from Kafka load.
            self.values[key] = raw
            return
        self.values[key] = d.parse(raw)

    def get(self, key: str) -> Any:
        if key in self.dynamic:
            return self.dynamic[key]
        if key in self.values:
            return self.values[key]
        d = BROKER.get(key)
        return d.default if d else None

    def is_set(self, key: str) -> bool:
        return key in self.values or key in self.dynamic

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    @property
    def broker_id(self) -> int:
        bid = self.get("broker.id")
        if not self.is_set("broker.id") and self.get("node.id") >= 0:
            bid = self.get("node.id")
        return bid

    @property
    def data_dir(self) -> Path:
        dirs = self.get("log.dirs")
        if dirs:
            return Path(dirs.split(",")[0].strip())
        return Path(self.get("log.dir"))

    def topic_default(self, topic_key: str) -> Any:
        """The broker-provided default of a topic config."""
        if topic_key == "retention.ms":
            if self.get("log.retention.ms") is not None:
                return self.get("log.retention.ms")
            if self.get("log.retention.minutes") is not None:
                return self.get("log.retention.minutes") * 60000
            hours = self.get("log.retention.hours")
            return -1 if hours < 0 else hours * 3600000
        if topic_key == "segment.ms":
            if self.get("log.roll.ms") is not None:
                return self.get("log.roll.ms")
            return self.get("log.roll.hours") * 3600000
        if topic_key == "flush.ms":
            v = self.get("log.flush.interval.ms")
            return LONG_MAX if v is None else v
        src = TOPIC_SOURCE.get(topic_key)
        if src is not None:
            return self.get(src)
        d = TOPIC.get(topic_key)
        return d.default if d else None

    def topic_config(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Effective topic config: topic overrides over broker defaults."""
        out = {k: self.topic_default(k) for k in TOPIC}
        out.update(overrides)
        return out


def parse_topic_configs(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate topic config overrides; raises ConfigError naming the bad key."""
    out = {}
    for k, v in raw.items():
        d = TOPIC.get(k)
        if d is None:
            raise ConfigError(f"Unknown topic config name: {k}")
        if v is None:
            raise ConfigError(f"Null value not supported for topic config {k}")
        out[k] = d.parse(v, k)
    if out.get("remote.storage.enable"):
        raise ConfigError("Invalid value true for configuration remote.storage.enable: Odradek has no tiered storage")
    return out


def read_properties(path: Path) -> dict[str, str]:
    """Java-style properties (key=value or key: value, # and ! comments, trailing-backslash continuation)."""
    out: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i].strip()
            i += 1
        m = re.match(r"^([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if not m:
            raise ConfigError(f"{path}: cannot parse line {line!r}")
        out[m.group(1)] = m.group(2)
    return out


def parse_listener(uri: str) -> tuple[str, str, int]:
    """'PLAINTEXT://host:port' -> (name, host, port). An empty host means all interfaces."""
    m = re.match(r"^([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)$", uri.strip())
    if not m:
        raise ConfigError(f"Invalid listener {uri!r}: expected NAME://HOST:PORT")
    host = m.group(2).strip("[]")
    return m.group(1).upper(), host, int(m.group(3))


def to_log_config(cfg: dict[str, Any]):
    """Map an effective topic config dict to the log package's LogConfig."""
    from .log.config import LogConfig

    return LogConfig(
        segment_bytes=cfg["segment.bytes"],
        segment_ms=cfg["segment.ms"],
        index_interval_bytes=cfg["index.interval.bytes"],
        segment_index_bytes=cfg["segment.index.bytes"],
        flush_messages=cfg["flush.messages"],
        flush_ms=cfg["flush.ms"],
        message_timestamp_type=cfg["message.timestamp.type"],
        max_message_bytes=cfg["max.message.bytes"],
        retention_ms=cfg["retention.ms"],
        retention_bytes=cfg["retention.bytes"],
        cleanup_policy=",".join(cfg["cleanup.policy"]) if isinstance(cfg["cleanup.policy"], list) else cfg["cleanup.policy"],
        delete_retention_ms=cfg["delete.retention.ms"],
        min_cleanable_dirty_ratio=cfg["min.cleanable.dirty.ratio"],
        min_compaction_lag_ms=cfg["min.compaction.lag.ms"],
        max_compaction_lag_ms=cfg["max.compaction.lag.ms"],
        message_timestamp_before_max_ms=cfg["message.timestamp.before.max.ms"],
        message_timestamp_after_max_ms=cfg["message.timestamp.after.max.ms"],
    )


ConfigValidator = Callable[[str, Any], None]


def markdown_reference() -> str:
    """The configuration reference (docs/configuration.md), made from the tables above."""

    def row(d: ConfigDef, broker_key: str | None = None) -> str:
        default = render(d.default)
        allowed = []
        if d.minimum is not None:
            allowed.append(f">= {d.minimum:g}")
        if d.maximum is not None:
            allowed.append(f"<= {d.maximum:g}")
        if d.choices:
            allowed.append(", ".join(d.choices))
        extra = f" (default from `{broker_key}`)" if broker_key else ""
        dyn = " Read-only at run time." if d.read_only else ""
        dyn += "" if d.enforced else " **Not enforced** (warned about when set)."
        return f"| `{d.name}` | {d.type} | `{default}` | {'; '.join(allowed) or 'any'} | {d.doc}{extra}{dyn} |"

    out = [
        "# Configuration reference",
        "",
        "Generated from `src/odradek/config.py` (`odradek.config.markdown_reference()`).",
        "Names, types and defaults are Kafka's. Broker keys go in a properties file or `--override KEY=VALUE`;",
        "those not marked read-only can also be changed at run time with AlterConfigs /",
        "IncrementalAlterConfigs on the broker resource.",
        "",
        "Odradek fails closed: a setting that asks for protection it does not give (TLS, SASL, an",
        "authorizer, ...) stops the broker at start-up, every other Kafka setting it does not implement is",
        "accepted and named in one warning at start-up, and a key Kafka does not know either gets Kafka's",
        "own warning. [Which Kafka settings are enforced, refused and ignored](#kafka-settings-enforced-refused-ignored)",
        "is at the end of this page.",
        "",
        "## Broker",
        "",
        "| key | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    out += [row(d) for d in BROKER_DEFS]
    out += [
        "",
        "## Topic",
        "",
        "Set at creation (`CreateTopics` configs) or later (`AlterConfigs`, `IncrementalAlterConfigs`).",
        "A topic key without an override takes the broker key named beside it.",
        "",
        "| key | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    out += [row(TOPIC[k], TOPIC_SOURCE.get(k)) for k in sorted(TOPIC)]
    from .config_policy import markdown_policy

    out += ["", *markdown_policy()]
    return "\n".join(out) + "\n"
