"""Incremental fetch sessions (KIP-227).

A client that fetches many partitions can open a session with a full fetch (``session_epoch`` 0).
The broker keeps the session's partitions and their fetch positions. Later requests
(``session_epoch`` 1, 2, ...) carry only what changed: partitions added or moved, and partitions to
forget. Responses carry only the partitions with something new: records, an error, or a changed
high watermark, last stable offset or log start offset.

Epoch -1 closes a session (and is a full fetch without one); session id 0 with epoch -1 is the
sessionless full fetch every client can fall back to. Sessions live in a bounded cache
(``max.incremental.fetch.session.cache.slots``); when it is full the least recently used session
goes, and its client gets FETCH_SESSION_ID_NOT_FOUND and starts a new one.
"""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass, field
from typing import Any, Hashable

from ..protocol.errors import ErrorCode

INITIAL_EPOCH = 0
FINAL_EPOCH = -1


@dataclass
class SessionPartition:
    """What a request says about one partition, as a request topic/partition would."""

    partition: int
    fetch_offset: int
    partition_max_bytes: int
    current_leader_epoch: int = -1
    # what the last response sent said, to tell whether the next one must mention it
    high_watermark: int | None = None
    last_stable_offset: int | None = None
    log_start_offset: int | None = None


@dataclass
class SessionTopic:
    topic: str
    topic_id: Any
    partitions: list[SessionPartition]


@dataclass
class FetchSession:
    id: int
    epoch: int  # the epoch the next request must carry
    # key (topic name, or topic id from v13) -> (name, topic id, {partition index -> state})
    topics: dict[Hashable, tuple[str, Any, dict[int, SessionPartition]]] = field(default_factory=dict)

    def update(self, request_topics, forgotten, by_id: bool) -> None:
        """Apply an incremental request: partitions added or changed, partitions forgotten."""
        if request_topics or forgotten:
            self.__dict__.pop("_as_request", None)
        for t in request_topics:
            key = t.topic_id if by_id else t.topic
            entry = self.topics.get(key)
            if entry is None:
                entry = self.topics[key] = (getattr(t, "topic", "") or "", getattr(t, "topic_id", None), {})
            parts = entry[2]
            for p in t.partitions:
                old = parts.get(p.partition)
                new = SessionPartition(p.partition, p.fetch_offset, p.partition_max_bytes,
                                       getattr(p, "current_leader_epoch", -1))
                if old is not None:
                    new.high_watermark, new.last_stable_offset, new.log_start_offset = (
                        old.high_watermark, old.last_stable_offset, old.log_start_offset)
                parts[p.partition] = new
        for t in forgotten or ():
            key = t.topic_id if by_id else t.topic
            entry = self.topics.get(key)
            if entry is None:
                continue
            for idx in t.partitions:
                entry[2].pop(idx, None)
            if not entry[2]:
                del self.topics[key]

    def as_request_topics(self) -> list[SessionTopic]:
        """The session's partitions as request topics (kept until the session changes: a
        follower's session of thousands of partitions mostly asks for the same again)."""
        cached = self.__dict__.get("_as_request")
        if cached is None:
            cached = self._as_request = [SessionTopic(name, tid, list(parts.values()))
                                         for name, tid, parts in self.topics.values()]
        return cached

    def filter_response(self, topics_out: list, incremental: bool) -> list:
        """Remember what this response says; for an incremental one, keep only what changed."""
        out = []
        for key, t in zip(list(self.topics), topics_out):
            cached = self.topics[key][2]
            kept = []
            for p in t.partitions:
                c = cached.get(p.index)
                changed = c is None or (
                    p.error != 0 or p.size > 0 or c.high_watermark != p.high_watermark
                    or c.last_stable_offset != p.last_stable_offset or c.log_start_offset != p.log_start_offset
                )
                if c is not None and p.error == 0:
                    c.high_watermark, c.last_stable_offset, c.log_start_offset = (
                        p.high_watermark, p.last_stable_offset, p.log_start_offset)
                if changed or not incremental:
                    kept.append(p)
            if kept:
                out.append(t._replace(partitions=kept))
        return out


class FetchSessionCache:
    def __init__(self, slots: int = 1000) -> None:
        self.slots = slots
        self._sessions: collections.OrderedDict[int, FetchSession] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, request_topics, by_id: bool) -> FetchSession | None:
        """A new session holding these partitions; None when sessions are off (0 slots)."""
        if self.slots <= 0:
            return None
        while len(self._sessions) >= self.slots:
            self._sessions.popitem(last=False)  # least recently used
        sid = 0
        while sid == 0 or sid in self._sessions:
            sid = random.randint(1, 0x7FFFFFFF)
        session = FetchSession(sid, 1)
        session.update(request_topics, (), by_id)
        self._sessions[sid] = session
        return session

    def lookup(self, session_id: int, epoch: int) -> FetchSession:
        """The session for an incremental request; KafkaError-style code on a miss."""
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionError(ErrorCode.fetch_session_id_not_found)
        if epoch != session.epoch:
            raise SessionError(ErrorCode.invalid_fetch_session_epoch)
        self._sessions.move_to_end(session_id)
        session.epoch = epoch + 1 if epoch < 0x7FFFFFFF else 1
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)


class SessionError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
