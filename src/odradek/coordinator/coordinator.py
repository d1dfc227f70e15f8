"""The group coordinator: every group this broker coordinates, their committed offsets, and the
records that make both durable in ``__consumer_offsets``.

Calls come from the server's group handlers; time comes from the injected clock. Each call that
changes durable state leaves records in :attr:`GroupCoordinator.pending` — ``(partition, key,
value)`` for the internal topic — which the server appends (and waits for) before it answers.
On start the server replays the internal topic through :meth:`replay`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..protocol.errors import ErrorCode
from . import records as R
from .group import Group, GroupState, Member, Respond

OFFSETS_TOPIC = "__consumer_offsets"
MAX_METADATA = 4096  # offset.metadata.max.bytes


def java_string_hash(s: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    return (java_string_hash(group_id) & 0x7FFFFFFF) % num_partitions


@dataclass
class CommittedOffset:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int  # ms


@dataclass
class CoordinatorConfig:
    num_partitions: int = 50
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1800000
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000


class GroupCoordinator:
    def __init__(self, config: CoordinatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self.offsets: dict[str, dict[tuple[str, int], CommittedOffset]] = {}
        self.empty_since: dict[str, float] = {}
        self.pending: list[tuple[int, bytes, bytes | None]] = []
        # Offsets committed inside a transaction (TxnOffsetCommit), by producer id: they become
        # committed offsets when the transaction's COMMIT marker reaches their partition, and go
        # on ABORT (KIP-98). OffsetFetch with require_stable reports them as unstable meanwhile.
        self.txn_offsets: dict[int, dict[str, dict[tuple[str, int], CommittedOffset]]] = {}

    # --- helpers ------------------------------------------------------------------------------

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.config.num_partitions)

    def _now(self) -> float:
        return self.clock()

    def group(self, group_id: str, create: bool = False) -> Group | None:
        g = self.groups.get(group_id)
        if g is None and create:
            g = Group(group_id, initial_delay_ms=self.config.initial_rebalance_delay_ms, state_timestamp=self._now())
            g.on_change = self._group_changed
            self.groups[group_id] = g
        return g

    def _group_changed(self, g: Group) -> None:
        if g.is_(GroupState.EMPTY):
            self.empty_since[g.group_id] = self._now()
        else:
            self.empty_since.pop(g.group_id, None)
        self.pending.append((self.partition_for(g.group_id), R.encode_group_key(R.GroupKey(g.group_id)),
                             R.encode_group_value(self._group_value(g))))

    def _group_value(self, g: Group) -> R.GroupValue:
        return R.GroupValue(
            g.protocol_type or "",
            g.generation,
            g.protocol,
            g.leader,
            int(g.state_timestamp * 1000),
            [
                R.MemberValue(m.member_id, m.group_instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                              m.session_timeout_ms, m.metadata(g.protocol or ""), m.assignment)
                for m in g.members.values()
            ],
        )

    def drain(self) -> list[tuple[int, bytes, bytes | None]]:
        out, self.pending = self.pending, []
        return out

    # --- membership -----------------------------------------------------------------------------

    def join(self, *, group_id: str, member_id: str, group_instance_id: str | None, client_id: str,
             client_host: str, session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str,
             protocols: list[tuple[str, bytes]], version: int, respond: Respond) -> None:
        if not group_id:
            respond(_join_err(ErrorCode.invalid_group_id, member_id))
            return
        if not self.config.min_session_timeout_ms <= session_timeout_ms <= self.config.max_session_timeout_ms:
            respond(_join_err(ErrorCode.invalid_session_timeout, member_id))
            return
        if not protocol_type or not protocols:
            respond(_join_err(ErrorCode.inconsistent_group_protocol, member_id))
            return
        g = self.group(group_id)
        if g is None:
            if member_id:
                respond(_join_err(ErrorCode.unknown_member_id, member_id))
                return
            g = self.group(group_id, create=True)
        elif g.is_(GroupState.EMPTY) and member_id and member_id not in g.pending_members:
            respond(_join_err(ErrorCode.unknown_member_id, member_id))
            return
        g.join(now=self._now(), member_id=member_id, group_instance_id=group_instance_id, client_id=client_id,
               client_host=client_host, session_timeout_ms=session_timeout_ms,
               rebalance_timeout_ms=rebalance_timeout_ms if rebalance_timeout_ms > 0 else session_timeout_ms,
               protocol_type=protocol_type, protocols=protocols, require_known_member_id=version >= 4,
               version=version, respond=respond)

    def sync(self, *, group_id: str, member_id: str, instance_id: str | None, generation: int,
             assignments: dict[str, bytes], protocol_type: str | None, protocol_name: str | None,
             respond: Respond) -> None:
        if not group_id:
            respond({"error_code": ErrorCode.invalid_group_id, "assignment": b""})
            return
        g = self.group(group_id)
        if g is None:
            respond({"error_code": ErrorCode.unknown_member_id, "assignment": b""})
            return
        g.sync(now=self._now(), member_id=member_id, instance_id=instance_id, generation=generation,
               assignments=assignments, protocol_type=protocol_type, protocol_name=protocol_name, respond=respond)

    def heartbeat(self, *, group_id: str, member_id: str, instance_id: str | None, generation: int) -> ErrorCode:
        if not group_id:
            return ErrorCode.invalid_group_id
        g = self.group(group_id)
        if g is None:
            return ErrorCode.unknown_member_id
        return g.heartbeat(now=self._now(), member_id=member_id, instance_id=instance_id, generation=generation)

    def leave(self, *, group_id: str, member_id: str, instance_id: str | None) -> ErrorCode:
        if not group_id:
            return ErrorCode.invalid_group_id
        g = self.group(group_id)
        if g is None:
            return ErrorCode.unknown_member_id
        return g.leave(now=self._now(), member_id=member_id, instance_id=instance_id)

    def poll(self) -> None:
        now = self._now()
        for g in list(self.groups.values()):
            g.poll(now)

    def next_deadline(self) -> float | None:
        ds = [d for d in (g.next_deadline() for g in self.groups.values()) if d is not None]
        return min(ds) if ds else None

    # --- offsets --------------------------------------------------------------------------------

    def validate_commit(self, group_id: str, generation: int, member_id: str, instance_id: str | None,
                        version: int = 9) -> ErrorCode | None:
        """Kafka's checks for an OffsetCommit of request ``version``; None when it may go ahead.
        The empty group id is a group like any other here (Kafka keeps accepting it for commits)."""
        g = self.group(group_id)
        if g is None:
            if generation < 0:
                return None  # a simple (group-less) commit creates the group's offsets
            # Kafka 4: a commit for a group that does not exist, from a member that thinks it is in one
            return ErrorCode.group_id_not_found if version >= 9 else ErrorCode.illegal_generation
        if g.is_(GroupState.DEAD):
            return ErrorCode.coordinator_not_available
        if generation < 0 and g.is_(GroupState.EMPTY):
            return None
        if g.is_(GroupState.COMPLETING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        if instance_id is not None and g.static_members.get(instance_id, member_id) != member_id:
            return ErrorCode.fenced_instance_id
        if member_id not in g.members:
            return ErrorCode.unknown_member_id
        if generation != g.generation:
            return ErrorCode.illegal_generation
        g.members[member_id].last_heartbeat = self._now()
        return None

    def commit(self, group_id: str, entries: Iterable[tuple[str, int, int, int, str | None]]) -> dict[tuple[str, int], ErrorCode]:
        """Queue records for validated offsets (topic, partition, offset, epoch, metadata); per-partition errors."""
        now_ms = int(self._now() * 1000)
        errors: dict[tuple[str, int], ErrorCode] = {}
        part = self.partition_for(group_id)
        for topic, p, offset, epoch, metadata in entries:
            if metadata is not None and len(metadata) > MAX_METADATA:  # Kafka counts characters
                errors[(topic, p)] = ErrorCode.offset_metadata_too_large
                continue
            value = R.OffsetValue(offset, epoch, metadata or "", now_ms)
            self.pending.append((part, R.encode_offset_key(R.OffsetKey(group_id, topic, p)), R.encode_offset_value(value)))
            errors[(topic, p)] = ErrorCode.none
        return errors

    # --- transactional offsets -------------------------------------------------------------------

    def validate_txn_commit(self, group_id: str, generation: int, member_id: str, instance_id: str | None) -> ErrorCode | None:
        """KIP-447 checks for a TxnOffsetCommit. Without member information (versions before 3, or a
        producer that has no group metadata) the commit is taken whatever the group's state."""
        if not group_id:
            return ErrorCode.invalid_group_id
        if generation < 0 and not member_id:
            return None
        g = self.group(group_id)
        if g is None:
            return ErrorCode.illegal_generation if generation >= 0 else ErrorCode.unknown_member_id
        if instance_id is not None and g.static_members.get(instance_id, member_id) != member_id:
            return ErrorCode.fenced_instance_id
        if member_id and member_id not in g.members:
            return ErrorCode.unknown_member_id
        if generation >= 0 and generation != g.generation:
            return ErrorCode.illegal_generation
        return None

    def txn_commit_records(self, group_id: str, entries: Iterable[tuple[str, int, int, int, str | None]]
                           ) -> tuple[list[tuple[int, bytes, bytes | None]], dict[tuple[str, int], ErrorCode]]:
        """Offset records for a transaction (written by the caller as a transactional batch)."""
        now_ms = int(self._now() * 1000)
        part = self.partition_for(group_id)
        records: list[tuple[int, bytes, bytes | None]] = []
        errors: dict[tuple[str, int], ErrorCode] = {}
        for topic, p, offset, epoch, metadata in entries:
            if metadata is not None and len(metadata) > MAX_METADATA:
                errors[(topic, p)] = ErrorCode.offset_metadata_too_large
                continue
            value = R.OffsetValue(offset, epoch, metadata or "", now_ms)
            records.append((part, R.encode_offset_key(R.OffsetKey(group_id, topic, p)), R.encode_offset_value(value)))
            errors[(topic, p)] = ErrorCode.none
        return records, errors

    def apply_txn(self, producer_id: int, records: Iterable[tuple[int, bytes, bytes | None]]) -> None:
        """Transactional offset records are durable: they wait for the transaction's marker."""
        for _part, key, value in records:
            self.replay(key, value, live=True, producer_id=producer_id, transactional=True)

    def complete_txn(self, partition: int, producer_id: int, commit: bool) -> None:
        """A marker for ``producer_id`` reached offsets partition ``partition``."""
        groups = self.txn_offsets.get(producer_id)
        if not groups:
            return
        for group_id in [g for g in groups if self.partition_for(g) == partition]:
            pending = groups.pop(group_id)
            if commit:
                offsets = self.offsets.setdefault(group_id, {})
                offsets.update(pending)
                if group_id not in self.groups:
                    self.group(group_id, create=True)
                    self.empty_since.setdefault(group_id, self._now())
        if not groups:
            self.txn_offsets.pop(producer_id, None)

    def has_pending_txn(self, group_id: str, tp: tuple[str, int]) -> bool:
        return any(tp in groups.get(group_id, ()) for groups in self.txn_offsets.values())

    def unload_partition(self, partition: int) -> None:
        """This broker no longer coordinates the groups of offsets partition ``partition``."""
        for gid in [g for g in self.groups if self.partition_for(g) == partition]:
            self.groups.pop(gid, None)
        for gid in [g for g in self.offsets if self.partition_for(g) == partition]:
            self.offsets.pop(gid, None)
            self.empty_since.pop(gid, None)
        for pid, groups in list(self.txn_offsets.items()):
            for gid in [g for g in groups if self.partition_for(g) == partition]:
                del groups[gid]
            if not groups:
                del self.txn_offsets[pid]

    def apply(self, records: Iterable[tuple[int, bytes, bytes | None]]) -> None:
        """Take records (already durable) into the caches: what replay and commits share."""
        for _part, key, value in records:
            self.replay(key, value, live=True)

    def replay(self, key: bytes | None, value: bytes | None, live: bool = False, producer_id: int = -1,
               transactional: bool = False) -> None:
        if key is None:
            return
        try:
            k = R.decode_key(key)
        except Exception:
            return
        if isinstance(k, R.OffsetKey) and transactional and producer_id >= 0:
            if value is not None:
                v = R.decode_offset_value(value)
                self.txn_offsets.setdefault(producer_id, {}).setdefault(k.group, {})[(k.topic, k.partition)] = (
                    CommittedOffset(v.offset, v.leader_epoch, v.metadata, v.commit_timestamp))
            return
        if isinstance(k, R.OffsetKey):
            offsets = self.offsets.setdefault(k.group, {})
            if value is None:
                offsets.pop((k.topic, k.partition), None)
                if not offsets:
                    self.offsets.pop(k.group, None)
            else:
                v = R.decode_offset_value(value)
                offsets[(k.topic, k.partition)] = CommittedOffset(v.offset, v.leader_epoch, v.metadata, v.commit_timestamp)
                if k.group not in self.groups:
                    g = self.group(k.group, create=True)
                    self.empty_since.setdefault(k.group, v.commit_timestamp / 1000)
                    assert g is not None
        elif isinstance(k, R.GroupKey) and not live:
            if value is None:
                self.groups.pop(k.group, None)
                return
            v = R.decode_group_value(value)
            g = self.group(k.group, create=True)
            assert g is not None
            g.generation = v.generation
            g.protocol_type = v.protocol_type or None
            g.protocol = v.protocol
            g.leader = v.leader
            now = self._now()
            g.members = {}
            g.static_members = {}
            for m in v.members:
                g.members[m.member_id] = Member(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                                m.session_timeout, m.rebalance_timeout, g.protocol_type or "",
                                                [(v.protocol or "", m.subscription)], m.assignment, now)
                if m.group_instance_id:
                    g.static_members[m.group_instance_id] = m.member_id
            g.state = GroupState.STABLE if g.members else GroupState.EMPTY
            if not g.members:
                self.empty_since[k.group] = v.state_timestamp / 1000 if v.state_timestamp > 0 else now

    def fetch(self, group_id: str, partitions: list[tuple[str, int]] | None) -> dict[tuple[str, int], CommittedOffset | None]:
        offsets = self.offsets.get(group_id, {})
        if partitions is None:
            return dict(offsets)
        return {tp: offsets.get(tp) for tp in partitions}

    def delete_offsets(self, group_id: str, partitions: list[tuple[str, int]]) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
        if not group_id:
            return ErrorCode.invalid_group_id, {}
        g = self.group(group_id)
        if g is None and group_id not in self.offsets:
            return ErrorCode.group_id_not_found, {}
        subscribed = g.subscribed_topics() if g is not None and not g.is_(GroupState.EMPTY) else None
        if g is not None and not g.is_(GroupState.EMPTY) and subscribed is None:
            return ErrorCode.non_empty_group, {}
        out = {}
        part = self.partition_for(group_id)
        for tp in partitions:
            if subscribed is not None and tp[0] in subscribed:
                out[tp] = ErrorCode.group_subscribed_to_topic
                continue
            if tp in self.offsets.get(group_id, {}):
                self.pending.append((part, R.encode_offset_key(R.OffsetKey(group_id, tp[0], tp[1])), None))
            out[tp] = ErrorCode.none
        return ErrorCode.none, out

    def forget_topic(self, topic: str) -> int:
        """The topic was deleted: tombstones for every committed offset of it (Kafka does the same,
        so a topic created again under the name starts without old offsets)."""
        dropped = 0
        for group_id, offsets in list(self.offsets.items()):
            for (t, p) in [tp for tp in offsets if tp[0] == topic]:
                self.pending.append((self.partition_for(group_id), R.encode_offset_key(R.OffsetKey(group_id, t, p)), None))
                del offsets[(t, p)]
                dropped += 1
        return dropped

    # --- groups as a whole ----------------------------------------------------------------------

    def list_groups(self) -> list[Group]:
        return [g for g in self.groups.values() if not g.is_(GroupState.DEAD)]

    def delete_group(self, group_id: str) -> ErrorCode:
        g = self.group(group_id)
        if g is None:
            return ErrorCode.group_id_not_found
        if not g.is_(GroupState.EMPTY):
            return ErrorCode.non_empty_group
        part = self.partition_for(group_id)
        for (topic, p) in list(self.offsets.get(group_id, {})):
            self.pending.append((part, R.encode_offset_key(R.OffsetKey(group_id, topic, p)), None))
        self.pending.append((part, R.encode_group_key(R.GroupKey(group_id)), None))
        g.state = GroupState.DEAD
        self.groups.pop(group_id, None)
        self.offsets.pop(group_id, None)
        self.empty_since.pop(group_id, None)
        return ErrorCode.none

    def expire_offsets(self) -> int:
        """Tombstones for offsets of groups empty for longer than offsets.retention.minutes."""
        now = self._now()
        retention = self.config.offsets_retention_ms / 1000
        expired = 0
        for group_id in list(self.offsets):
            g = self.groups.get(group_id)
            if g is not None and not g.is_(GroupState.EMPTY):
                continue
            since = self.empty_since.get(group_id, now)
            part = self.partition_for(group_id)
            offsets = self.offsets[group_id]
            for (topic, p), c in list(offsets.items()):
                if now - max(since, c.commit_timestamp / 1000) >= retention:
                    self.pending.append((part, R.encode_offset_key(R.OffsetKey(group_id, topic, p)), None))
                    del offsets[(topic, p)]
                    expired += 1
            if not offsets:
                del self.offsets[group_id]
                if g is not None and not g.members:
                    self.pending.append((part, R.encode_group_key(R.GroupKey(group_id)), None))
                    self.groups.pop(group_id, None)
        return expired


def _join_err(code: ErrorCode, member_id: str) -> dict:
    return {"error_code": code, "generation_id": -1, "protocol_name": None, "leader": "", "member_id": member_id,
            "members": []}
