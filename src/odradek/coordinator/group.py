"""The classic group protocol as one state machine per group.

States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable (-> Dead), as Kafka's
GroupCoordinator runs them. Joins and syncs that must wait are parked with a callback and answered
when the rebalance moves on; time only enters through ``now`` arguments and :meth:`Group.poll`, so
tests drive it with a fake clock. Nothing here does I/O: what must be persisted is returned to the
caller (see :mod:`odradek.coordinator.coordinator`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from ..protocol.errors import ErrorCode

Respond = Callable[[dict], None]


class GroupState(str, Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    last_heartbeat: float = 0.0
    join_callback: Respond | None = None
    sync_callback: Respond | None = None
    join_version: int = 0

    @property
    def awaiting_join(self) -> bool:
        return self.join_callback is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_callback is not None

    def metadata(self, protocol: str) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        return b""

    def same_protocols(self, protocols: list[tuple[str, bytes]]) -> bool:
        return self.protocols == protocols


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending_members: dict[str, float] = field(default_factory=dict)  # member id -> deadline
    rebalance_deadline: float | None = None
    initial_delay_ms: int = 0
    initial_delay_remaining_ms: int = 0
    initial_delay_active: bool = False
    state_timestamp: float = 0.0
    new_group: bool = True
    # persistence: called with the group after every generation change / membership change
    on_change: Callable[["Group"], None] | None = None

    # --- helpers ----------------------------------------------------------------------------

    def is_(self, *states: GroupState) -> bool:
        return self.state in states

    def _transition(self, state: GroupState, now: float) -> None:
        self.state = state
        self.state_timestamp = now

    def candidate_protocols(self) -> list[str]:
        sets = [set(n for n, _ in m.protocols) for m in self.members.values()]
        if not sets:
            return []
        common = set.intersection(*sets)
        first = next(iter(self.members.values()))
        return [n for n, _ in first.protocols if n in common]

    def supports(self, protocol_type: str, protocols: list[tuple[str, bytes]]) -> bool:
        names = {n for n, _ in protocols}
        if not names:
            return False
        if not self.members:
            return self.protocol_type in (None, protocol_type) or self.is_(GroupState.EMPTY)
        if self.protocol_type != protocol_type:
            return False
        return bool(names & set(self.candidate_protocols()))

    def select_protocol(self) -> str:
        candidates = self.candidate_protocols()
        votes: dict[str, int] = {c: 0 for c in candidates}
        for m in self.members.values():
            for name, _ in m.protocols:
                if name in votes:
                    votes[name] += 1
                    break
        # highest votes; ties broken by the first member's preference order
        return max(candidates, key=lambda c: (votes[c], -candidates.index(c)))

    def max_rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def all_joined(self) -> bool:
        return all(m.awaiting_join for m in self.members.values()) and not self.pending_members

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to (consumer protocol), None when not a consumer group."""
        if self.protocol_type != "consumer" or self.protocol is None:
            return None
        out: set[str] = set()
        for m in self.members.values():
            out |= parse_subscription_topics(m.metadata(self.protocol))
        return out

    def new_member_id(self, client_id: str, instance_id: str | None) -> str:
        return f"{instance_id or client_id or 'member'}-{uuid.uuid4()}"

    # --- the protocol -------------------------------------------------------------------------

    def join(
        self,
        *,
        now: float,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
        version: int,
        respond: Respond,
    ) -> None:
        if self.is_(GroupState.DEAD):
            respond(_join_error(ErrorCode.coordinator_not_available, member_id))
            return
        if not self.supports(protocol_type, protocols):
            respond(_join_error(ErrorCode.inconsistent_group_protocol, member_id))
            return
        if member_id == "":
            self._join_unknown(now, group_instance_id, client_id, client_host, session_timeout_ms,
                               rebalance_timeout_ms, protocol_type, protocols, require_known_member_id, version, respond)
        else:
            self._join_known(now, member_id, group_instance_id, client_id, client_host, session_timeout_ms,
                             rebalance_timeout_ms, protocol_type, protocols, version, respond)

    def _join_unknown(self, now, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype, protocols,
                      require_known, version, respond) -> None:
        new_id = self.new_member_id(client_id, instance_id)
        if instance_id is not None:
            old_id = self.static_members.get(instance_id)
            if old_id is not None and old_id in self.members:
                # A static member came back: it takes over the old member's place with a new id.
                old = self.members.pop(old_id)
                if old.join_callback:
                    old.join_callback(_join_error(ErrorCode.fenced_instance_id, old_id))
                if old.sync_callback:
                    old.sync_callback({"error_code": ErrorCode.fenced_instance_id, "assignment": b""})
                member = Member(new_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype,
                                protocols, old.assignment, now, join_version=version)
                self.members[new_id] = member
                self.static_members[instance_id] = new_id
                old_leader = self.leader
                if self.leader == old_id:
                    self.leader = new_id
                if self.is_(GroupState.STABLE) and self.select_protocol() == self.protocol:
                    # The group's protocol stays what it is (the metadata may differ, e.g. the
                    # partitions a cooperative member owns): no rebalance, the current generation.
                    # The answer names the leader as it was, so a rejoined leader does not assign.
                    resp = self._join_response(member, include_members=False)
                    resp["leader"] = old_leader or ""
                    respond(resp)
                    if self.on_change:
                        self.on_change(self)
                    return
                member.join_callback = respond
                self._prepare_rebalance(now)
                self._maybe_complete_join(now)
                return
            self._add_member(now, new_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype,
                             protocols, version, respond)
            return
        if require_known:
            self.pending_members[new_id] = now + session_ms / 1000
            respond(_join_error(ErrorCode.member_id_required, new_id))
            return
        self._add_member(now, new_id, None, client_id, client_host, session_ms, rebalance_ms, ptype, protocols,
                         version, respond)

    def _add_member(self, now, member_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype,
                    protocols, version, respond) -> None:
        member = Member(member_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype, protocols,
                        last_heartbeat=now, join_version=version)
        member.join_callback = respond
        self.members[member_id] = member
        if instance_id is not None:
            self.static_members[instance_id] = member_id
        if not self.members or self.protocol_type is None or self.is_(GroupState.EMPTY):
            self.protocol_type = ptype
        if self.is_(GroupState.PREPARING_REBALANCE) and self.initial_delay_active and self.initial_delay_remaining_ms > 0:
            # InitialDelayedJoin: each new member extends the wait, up to the rebalance timeout.
            delay = min(self.initial_delay_ms, self.initial_delay_remaining_ms)
            self.initial_delay_remaining_ms -= delay
            self.rebalance_deadline = max(self.rebalance_deadline, now + delay / 1000)
        self._prepare_rebalance(now)
        self._maybe_complete_join(now)

    def _join_known(self, now, member_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype,
                    protocols, version, respond) -> None:
        if member_id in self.pending_members:
            del self.pending_members[member_id]
            self._add_member(now, member_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype,
                             protocols, version, respond)
            return
        member = self.members.get(member_id)
        if member is None:
            if instance_id is not None and instance_id in self.static_members:
                respond(_join_error(ErrorCode.fenced_instance_id, member_id))
            else:
                respond(_join_error(ErrorCode.unknown_member_id, member_id))
            return
        if instance_id is not None and self.static_members.get(instance_id) != member_id:
            respond(_join_error(ErrorCode.fenced_instance_id, member_id))
            return
        member.last_heartbeat = now
        member.session_timeout_ms = session_ms
        member.rebalance_timeout_ms = rebalance_ms
        member.join_version = version
        if self.is_(GroupState.PREPARING_REBALANCE):
            if member.join_callback is not None and member.join_callback is not respond:
                member.join_callback(_join_error(ErrorCode.rebalance_in_progress, member_id))
            member.protocols = protocols
            member.join_callback = respond
            self._maybe_complete_join(now)
        elif self.is_(GroupState.COMPLETING_REBALANCE):
            if member.same_protocols(protocols):
                respond(self._join_response(member, include_members=member_id == self.leader))
            else:
                member.protocols = protocols
                member.join_callback = respond
                self._prepare_rebalance(now)
                self._maybe_complete_join(now)
        elif self.is_(GroupState.STABLE):
            if member_id == self.leader or not member.same_protocols(protocols):
                member.protocols = protocols
                member.join_callback = respond
                self._prepare_rebalance(now)
                self._maybe_complete_join(now)
            else:
                respond(self._join_response(member, include_members=False))
        else:  # Empty with a known member cannot happen; be safe
            respond(_join_error(ErrorCode.unknown_member_id, member_id))

    def _prepare_rebalance(self, now: float) -> None:
        if self.is_(GroupState.PREPARING_REBALANCE):
            return
        if self.is_(GroupState.COMPLETING_REBALANCE):
            for m in self.members.values():
                if m.sync_callback:
                    m.sync_callback({"error_code": ErrorCode.rebalance_in_progress, "assignment": b""})
                    m.sync_callback = None
                m.assignment = b""
        was_empty = self.is_(GroupState.EMPTY)
        self._transition(GroupState.PREPARING_REBALANCE, now)
        if was_empty and self.initial_delay_ms > 0:
            # group.initial.rebalance.delay.ms: a new group waits for more members to arrive.
            self.initial_delay_active = True
            self.initial_delay_remaining_ms = max(self.max_rebalance_timeout_ms() - self.initial_delay_ms, 0)
            self.rebalance_deadline = now + self.initial_delay_ms / 1000
        else:
            self.initial_delay_active = False
            self.initial_delay_remaining_ms = 0
            self.rebalance_deadline = now + self.max_rebalance_timeout_ms() / 1000

    def _maybe_complete_join(self, now: float) -> None:
        if not self.is_(GroupState.PREPARING_REBALANCE) or self.initial_delay_active:
            return
        if self.all_joined():
            self._complete_join(now)

    def _complete_join(self, now: float) -> None:
        # Members that did not rejoin in time leave (static ones too: their session decides).
        for mid in [m.member_id for m in self.members.values() if not m.awaiting_join]:
            self._remove_member(mid)
        self.pending_members.clear()
        self.rebalance_deadline = None
        self.initial_delay_active = False
        self.initial_delay_remaining_ms = 0
        if not self.members:
            self.generation += 1
            self.protocol = None
            self.leader = None
            self._transition(GroupState.EMPTY, now)
            if self.on_change:
                self.on_change(self)
            return
        self.generation += 1
        self.protocol = self.select_protocol()
        if self.leader not in self.members:
            self.leader = next(iter(self.members))
        self._transition(GroupState.COMPLETING_REBALANCE, now)
        self.rebalance_deadline = now + self.max_rebalance_timeout_ms() / 1000
        for m in self.members.values():
            cb, m.join_callback = m.join_callback, None
            m.last_heartbeat = now
            if cb:
                cb(self._join_response(m, include_members=m.member_id == self.leader))
        if self.on_change:
            self.on_change(self)

    def _join_response(self, member: Member, include_members: bool) -> dict:
        members = []
        if include_members:
            members = [
                {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "metadata": m.metadata(self.protocol or "")}
                for m in self.members.values()
            ]
        return {
            "error_code": ErrorCode.none,
            "generation_id": self.generation,
            "protocol_type": self.protocol_type,
            "protocol_name": self.protocol,
            "leader": self.leader or "",
            "member_id": member.member_id,
            "members": members,
        }

    def _remove_member(self, member_id: str) -> None:
        m = self.members.pop(member_id, None)
        if m is None:
            return
        if m.group_instance_id is not None and self.static_members.get(m.group_instance_id) == member_id:
            del self.static_members[m.group_instance_id]
        if self.leader == member_id:
            self.leader = next(iter(self.members), None)

    def _check_member(self, member_id: str, instance_id: str | None, generation: int | None) -> ErrorCode | None:
        if instance_id is not None:
            known = self.static_members.get(instance_id)
            if known is not None and known != member_id:
                return ErrorCode.fenced_instance_id
        if member_id not in self.members:
            return ErrorCode.unknown_member_id
        if generation is not None and generation != self.generation:
            return ErrorCode.illegal_generation
        return None

    def sync(self, *, now: float, member_id: str, instance_id: str | None, generation: int,
             assignments: dict[str, bytes], protocol_type: str | None, protocol_name: str | None,
             respond: Respond) -> bool:
        """Returns True when this sync completed the rebalance (the caller persists the group)."""
        if self.is_(GroupState.DEAD):
            respond({"error_code": ErrorCode.coordinator_not_available, "assignment": b""})
            return False
        err = self._check_member(member_id, instance_id, generation)
        if err is not None:
            respond({"error_code": err, "assignment": b""})
            return False
        if (protocol_type is not None and protocol_type != self.protocol_type) or (
            protocol_name is not None and protocol_name != self.protocol
        ):
            respond({"error_code": ErrorCode.inconsistent_group_protocol, "assignment": b""})
            return False
        member = self.members[member_id]
        member.last_heartbeat = now
        if self.is_(GroupState.PREPARING_REBALANCE):
            respond({"error_code": ErrorCode.rebalance_in_progress, "assignment": b""})
            return False
        if self.is_(GroupState.STABLE):
            respond(self._sync_response(member))
            return False
        # CompletingRebalance
        member.sync_callback = respond
        if member_id != self.leader:
            return False
        for m in self.members.values():
            m.assignment = assignments.get(m.member_id, b"")
        self._transition(GroupState.STABLE, now)
        self.rebalance_deadline = None
        for m in self.members.values():
            cb, m.sync_callback = m.sync_callback, None
            if cb:
                cb(self._sync_response(m))
        if self.on_change:
            self.on_change(self)
        return True

    def _sync_response(self, m: Member) -> dict:
        return {"error_code": ErrorCode.none, "protocol_type": self.protocol_type, "protocol_name": self.protocol,
                "assignment": m.assignment}

    def heartbeat(self, *, now: float, member_id: str, instance_id: str | None, generation: int) -> ErrorCode:
        if self.is_(GroupState.DEAD):
            return ErrorCode.coordinator_not_available
        if self.is_(GroupState.EMPTY):
            return ErrorCode.unknown_member_id
        err = self._check_member(member_id, instance_id, None)
        if err is not None:
            return err
        if generation != self.generation:
            return ErrorCode.illegal_generation
        self.members[member_id].last_heartbeat = now
        if self.is_(GroupState.PREPARING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    def leave(self, *, now: float, member_id: str, instance_id: str | None) -> ErrorCode:
        if self.is_(GroupState.DEAD):
            return ErrorCode.coordinator_not_available
        if instance_id is not None:
            known = self.static_members.get(instance_id)
            if known is None:
                return ErrorCode.unknown_member_id
            if member_id and known != member_id:
                return ErrorCode.fenced_instance_id
            member_id = known
        if member_id in self.pending_members:
            del self.pending_members[member_id]
            self._maybe_complete_join(now)
            return ErrorCode.none
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.unknown_member_id
        if member.join_callback:
            member.join_callback(_join_error(ErrorCode.unknown_member_id, member_id))
        if member.sync_callback:
            member.sync_callback({"error_code": ErrorCode.unknown_member_id, "assignment": b""})
        self._remove_member(member_id)
        self._member_gone(now)
        return ErrorCode.none

    def _member_gone(self, now: float) -> None:
        if self.is_(GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            if not self.members:
                self._prepare_rebalance(now)
                self._complete_join(now)
            else:
                self._prepare_rebalance(now)
                self._maybe_complete_join(now)
        elif self.is_(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(now)

    def poll(self, now: float) -> None:
        """Expire sessions and finish rebalances whose time is up."""
        for mid, deadline in list(self.pending_members.items()):
            if now >= deadline:
                del self.pending_members[mid]
        expired = [
            m.member_id
            for m in self.members.values()
            if not m.awaiting_join and not m.awaiting_sync and now >= m.last_heartbeat + m.session_timeout_ms / 1000
        ]
        for mid in expired:
            self._remove_member(mid)
        if expired:
            self._member_gone(now)
        if self.is_(GroupState.PREPARING_REBALANCE) and self.rebalance_deadline is not None and now >= self.rebalance_deadline:
            # The (initial) delay or the rebalance timeout is over: go on with whoever joined.
            self.initial_delay_active = False
            self._complete_join(now)
        elif self.is_(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(now)
        elif self.is_(GroupState.COMPLETING_REBALANCE) and self.rebalance_deadline is not None and now >= self.rebalance_deadline:
            # The leader never sent its assignment: members that did not sync leave, rebalance again.
            for mid in [m.member_id for m in self.members.values() if not m.awaiting_sync]:
                self._remove_member(mid)
            self._prepare_rebalance(now)
            self._maybe_complete_join(now)

    def next_deadline(self) -> float | None:
        ds = list(self.pending_members.values())
        ds += [m.last_heartbeat + m.session_timeout_ms / 1000 for m in self.members.values()
               if not m.awaiting_join and not m.awaiting_sync]
        if self.rebalance_deadline is not None:
            ds.append(self.rebalance_deadline)
        return min(ds) if ds else None


def _join_error(code: ErrorCode, member_id: str) -> dict:
    return {"error_code": code, "generation_id": -1, "protocol_name": None, "leader": "", "member_id": member_id,
            "members": []}


def parse_subscription_topics(metadata: bytes) -> set[str]:
    """Topics of a ConsumerProtocolSubscription (version int16, topics [string], ...)."""
    import struct

    try:
        pos = 2
        (n,) = struct.unpack_from(">i", metadata, pos)
        pos += 4
        out = set()
        for _ in range(max(n, 0)):
            (ln,) = struct.unpack_from(">h", metadata, pos)
            pos += 2
            out.add(metadata[pos : pos + ln].decode("utf-8", "replace"))
            pos += ln
        return out
    except (struct.error, UnicodeDecodeError):
        return set()
