"""The MetadataStore interface, its records, and the embedded single-node store.

The embedded store keeps everything in one JSON document in the data directory
(``odradek-metadata.json``), rewritten atomically (temp file, fsync, rename) on every change, so a
restart finds every topic, topic id, partition count and config override it had.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..log.checkpoint import atomic_write

METADATA_FILE = "odradek-metadata.json"


@dataclass
class PartitionState:
    partition: int
    replicas: list[int]
    leader: int
    leader_epoch: int = 0
    isr: list[int] = field(default_factory=list)
    version: int = 0  # znode version in ZooKeeper (compare-and-set); unused by the embedded store
    controller_epoch: int = 0
    # A reassignment under way (KIP-455): replicas is the target followed by the original replicas
    # that are not in it; these are the ones being added and removed. Cancelling restores the
    # original (replicas without adding).
    adding: list[int] = field(default_factory=list)
    removing: list[int] = field(default_factory=list)


@dataclass
class TopicMeta:
    name: str
    topic_id: str  # UUID string
    partitions: dict[int, PartitionState]
    configs: dict[str, str] = field(default_factory=dict)  # overrides, as strings

    @functools.cached_property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.topic_id)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "topic_id": self.topic_id,
            "configs": self.configs,
            "partitions": [asdict(p) for p in sorted(self.partitions.values(), key=lambda p: p.partition)],
        }

    @classmethod
    def from_json(cls, d: dict) -> "TopicMeta":
        parts = {p["partition"]: PartitionState(**p) for p in d["partitions"]}
        return cls(d["name"], d["topic_id"], parts, dict(d.get("configs", {})))


@dataclass
class Changes:
    """What changed in the store since the last :meth:`MetadataStore.take_changes`, so that a
    broker reconciles what changed and not everything it knows. ``full``: anything may have
    changed (first read, a new ZooKeeper session): look at everything."""

    full: bool = False
    topics: set[str] = field(default_factory=set)  # created, deleted, assignment or config changed
    partitions: set[tuple[str, int]] = field(default_factory=set)  # state (leader, epoch, ISR) changed
    brokers: bool = False  # registrations or the controller changed
    configs: bool = False  # dynamic broker configs changed
    reassignments: bool = False

    def merge(self, other: "Changes") -> None:
        self.full |= other.full
        self.topics |= other.topics
        self.partitions |= other.partitions
        self.brokers |= other.brokers
        self.configs |= other.configs
        self.reassignments |= other.reassignments

    def __bool__(self) -> bool:
        return bool(self.full or self.topics or self.partitions or self.brokers or self.configs or self.reassignments)

    def partition_keys(self, topics: dict[str, TopicMeta]) -> set[tuple[str, int]]:
        """The partitions to look at (``full`` aside): those whose state changed, and every
        partition ``topics`` lists of a topic that changed."""
        keys = set(self.partitions)
        for name in self.topics:
            meta = topics.get(name)
            if meta is not None:
                keys |= {(name, p) for p in meta.partitions}
        return keys


def _each(fn: Callable[..., object], calls: list[tuple]) -> list[Exception | None]:
    """``fn(*args)`` for each args in ``calls``: per call None, or the exception it raised."""
    out: list[Exception | None] = []
    for args in calls:
        try:
            fn(*args)
            out.append(None)
        except Exception as e:  # noqa: BLE001 - reported per call
            out.append(e)
    return out


class MetadataStore:
    """What the broker needs of the control plane. Every mutation bumps :attr:`version`."""

    def take_changes(self) -> Changes:
        """What changed since the last call (a store that does not track it says "everything")."""
        return Changes(full=True)

    def update_partition_states(self, items: list[tuple[str, "PartitionState"]]) -> list[bool]:
        """Compare-and-set many partition states; one result per item."""
        return [self.update_partition_state(t, st) for t, st in items]

    async def create_topics(self, metas: list[TopicMeta]) -> list[Exception | None]:
        """Create many topics; per topic None, KeyError (it exists) or the error. A store that
        can writes them together."""
        return _each(self.create_topic, [(m,) for m in metas])

    def add_partitions_many(self, items: list[tuple[str, list["PartitionState"]]]) -> list[Exception | None]:
        """Add partitions to many topics; per topic None or the error."""
        return _each(self.add_partitions, items)

    def delete_topics(self, names: list[str]) -> list[Exception | None]:
        """Delete many topics; per topic None or the error."""
        return _each(self.delete_topic, [(n,) for n in names])

    cluster_id: str
    version: int

    def topics(self) -> dict[str, TopicMeta]:
        raise NotImplementedError

    def create_topic(self, meta: TopicMeta) -> None:
        raise NotImplementedError

    def delete_topic(self, name: str) -> None:
        raise NotImplementedError

    def add_partitions(self, name: str, new: list[PartitionState]) -> None:
        raise NotImplementedError

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        raise NotImplementedError

    def broker_configs(self) -> dict[str, dict[str, str]]:
        """Dynamic broker configs by scope: "" is the cluster default, "<id>" one broker."""
        raise NotImplementedError

    def set_broker_configs(self, scope: str, configs: dict[str, str]) -> None:
        raise NotImplementedError

    def allocate_producer_id(self) -> int:
        raise NotImplementedError

    def subscribe(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError

    def live_brokers(self, listener: str | None = None) -> dict[int, tuple[str, int, str | None]] | None:
        """Registered brokers (id -> host, port, rack) at their endpoint for ``listener`` (their
        first endpoint when None); None when this broker is the whole cluster."""
        return None

    def controller_id(self) -> int | None:
        return None

    def update_partition_state(self, topic: str, st: PartitionState) -> bool:
        raise NotImplementedError

    def reassignments(self) -> dict[tuple[str, int], list[int]]:
        return {}

    # --- security: SCRAM credentials and ACLs ----------------------------------------------------

    def scram_credentials(self) -> dict[str, dict[str, str]]:
        """user -> mechanism -> credential in Kafka's string form (salt=..,stored_key=..,...)."""
        return {}

    def change_scram_credentials(self, upserts: dict[tuple[str, str], str], deletions: set[tuple[str, str]]) -> None:
        raise NotImplementedError

    def acls(self) -> list[dict]:
        """Every ACL binding (AclBinding.to_json form)."""
        return []

    def change_acls(self, add: list[dict], remove: list[dict]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class EmbeddedStore(MetadataStore):
    """Single-node metadata in a JSON file. Not shared between processes."""

    def __init__(self, data_dir: Path, cluster_id: str | None = None) -> None:
        self.path = Path(data_dir) / METADATA_FILE
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.version = 1
        self._topics: dict[str, TopicMeta] = {}
        self._broker_configs: dict[str, dict[str, str]] = {}
        self._next_producer_id = 0
        self._scram: dict[str, dict[str, str]] = {}
        self._acls: list[dict] = []
        self.scram_version = 0
        self.acl_version = 0
        if self.path.exists():
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            self.cluster_id = doc["cluster_id"]
            self._topics = {t["name"]: TopicMeta.from_json(t) for t in doc.get("topics", [])}
            self._broker_configs = dict(doc.get("broker_configs", {}))
            self._next_producer_id = doc.get("next_producer_id", 0)
            self._scram = {u: dict(m) for u, m in doc.get("scram_credentials", {}).items()}
            self._acls = list(doc.get("acls", []))
        else:
            self.cluster_id = cluster_id or _new_cluster_id()
            self._save()

    def _save(self) -> None:
        doc = {
            "version": 1,
            "cluster_id": self.cluster_id,
            "broker_configs": self._broker_configs,
            "next_producer_id": self._next_producer_id,
            "topics": [t.to_json() for t in sorted(self._topics.values(), key=lambda t: t.name)],
            "scram_credentials": self._scram,
            "acls": self._acls,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(doc, indent=1).encode("utf-8"))

    def _changed(self) -> None:
        self.version += 1
        self._save()
        for cb in list(self._listeners):
            cb()

    def topics(self) -> dict[str, TopicMeta]:
        return self._topics

    def create_topic(self, meta: TopicMeta) -> None:
        with self._lock:
            if meta.name in self._topics:
                raise KeyError(meta.name)
            self._topics[meta.name] = meta
            self._changed()

    async def create_topics(self, metas: list[TopicMeta]) -> list[Exception | None]:
        """Every topic in one rewrite of the file."""
        out: list[Exception | None] = []
        with self._lock:
            for meta in metas:
                if meta.name in self._topics:
                    out.append(KeyError(meta.name))
                else:
                    self._topics[meta.name] = meta
                    out.append(None)
            if any(e is None for e in out):
                self._changed()
        return out

    def delete_topic(self, name: str) -> None:
        with self._lock:
            self._topics.pop(name)
            self._changed()

    def delete_topics(self, names: list[str]) -> list[Exception | None]:
        """Every topic in one rewrite of the file."""
        out: list[Exception | None] = []
        with self._lock:
            for name in names:
                out.append(None if self._topics.pop(name, None) is not None else KeyError(name))
            if any(e is None for e in out):
                self._changed()
        return out

    def add_partitions(self, name: str, new: list[PartitionState]) -> None:
        with self._lock:
            t = self._topics[name]
            for p in new:
                t.partitions[p.partition] = p
            self._changed()

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        with self._lock:
            self._topics[name].configs = dict(configs)
            self._changed()

    def broker_configs(self) -> dict[str, dict[str, str]]:
        return self._broker_configs

    def set_broker_configs(self, scope: str, configs: dict[str, str]) -> None:
        with self._lock:
            self._broker_configs[scope] = dict(configs)
            self._changed()

    def allocate_producer_id(self) -> int:
        with self._lock:
            pid = self._next_producer_id
            self._next_producer_id += 1
            self._save()
            return pid

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def scram_credentials(self) -> dict[str, dict[str, str]]:
        return self._scram

    def change_scram_credentials(self, upserts: dict[tuple[str, str], str], deletions: set[tuple[str, str]]) -> None:
        with self._lock:
            creds = {u: dict(m) for u, m in self._scram.items()}
            for (user, mech) in deletions:
                creds.get(user, {}).pop(mech, None)
            for (user, mech), text in upserts.items():
                creds.setdefault(user, {})[mech] = text
            self._scram = {u: m for u, m in creds.items() if m}
            self.scram_version += 1
            self._changed()

    def acls(self) -> list[dict]:
        return self._acls

    def change_acls(self, add: list[dict], remove: list[dict]) -> None:
        with self._lock:
            gone = {json.dumps(a, sort_keys=True) for a in remove}
            kept = [a for a in self._acls if json.dumps(a, sort_keys=True) not in gone]
            have = {json.dumps(a, sort_keys=True) for a in kept}
            kept += [a for a in add if json.dumps(a, sort_keys=True) not in have]
            self._acls = kept
            self.acl_version += 1
            self._changed()


def _new_cluster_id() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
