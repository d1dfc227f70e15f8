"""One partition as this broker sees it: its log, leader epoch, replicas, ISR and high watermark.

As leader it tracks each follower's log end offset (the offset it fetches from) and when it was
last caught up; the high watermark is the smallest log end offset in the ISR and never moves back.
The ISR changes it wants (shrink a follower that lags more than ``replica.lag.time.max.ms``, expand
one that caught up) are returned to the caller, which records them in the control plane.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..log.log import Log
from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import BatchHeader
from .epochs import LeaderEpochCache


@dataclass
class FollowerState:
    log_end_offset: int = -1
    last_caught_up: float = 0.0  # seconds (clock)
    last_fetch: float = 0.0
    leader_leo_at_last_fetch: int = -1


class Partition:
    def __init__(
        self,
        topic: str,
        index: int,
        log: Log,
        *,
        broker_id: int,
        replicas: list[int],
        isr: list[int],
        leader: int,
        leader_epoch: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.broker_id = broker_id
        self.replicas = list(replicas)
        self.isr = list(isr)
        self.leader = leader
        self.leader_epoch = leader_epoch
        self.clock = clock
        self.epochs = LeaderEpochCache(log.dir)
        self.followers: dict[int, FollowerState] = {}
        self.zk_version = 0
        self._watchers: list[Callable[[], None]] = []
        self.pending_isr: list[int] | None = None  # an ISR change being written
        if self.is_leader:
            self.become_leader(leader_epoch, isr, replicas)

    @property
    def key(self) -> tuple[str, int]:
        return (self.topic, self.index)

    @property
    def is_leader(self) -> bool:
        return self.leader == self.broker_id

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    def check_leader(self) -> None:
        if not self.is_leader:
            raise KafkaError(ErrorCode.not_leader_or_follower, f"broker {self.broker_id} is not the leader of {self.topic}-{self.index}")

    # --- role changes -----------------------------------------------------------------------------

    def become_leader(self, epoch: int, isr: list[int], replicas: list[int]) -> None:
        now = self.clock()
        new_term = not self.is_leader or epoch != self.leader_epoch or not self.followers
        self.leader = self.broker_id
        self.leader_epoch = epoch
        self.isr = list(isr)
        self.replicas = list(replicas)
        self.epochs.assign(epoch, self.log.log_end_offset, durable=False)  # written before the first append
        if new_term:
            old = self.followers
            self.followers = {}
            for r in replicas:
                if r == self.broker_id:
                    continue
                prev = old.get(r)
                st = FollowerState()
                if prev is not None:
                    st.log_end_offset = prev.log_end_offset
                st.last_caught_up = now if r in isr else 0.0
                st.last_fetch = now
                self.followers[r] = st
        self._maybe_advance_hw()
        self.notify()

    def become_follower(self, leader: int, epoch: int, isr: list[int], replicas: list[int]) -> None:
        self.leader = leader
        self.leader_epoch = epoch
        self.isr = list(isr)
        self.replicas = list(replicas)
        self.followers = {}
        self.notify()

    # --- leader: appends ------------------------------------------------------------------------

    def append(self, buf: bytearray, batches: list[BatchHeader], *, acks: int, min_insync: int,
               from_coordinator: bool = False):
        """Append produced batches as leader. Raises KafkaError; returns the log's AppendResult.
        ``from_coordinator``: a coordinator's own write (no producer sequence checks)."""
        self.check_leader()
        self._check_isr(acks, min_insync)
        if self.epochs.pending:
            self.epochs.flush()
        result = self.log.append(buf, batches, leader_epoch=self.leader_epoch, now_ms=int(self.clock() * 1000),
                                 from_coordinator=from_coordinator)
        self._maybe_advance_hw()
        self.notify()
        return result

    def append_marker(self, producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                      *, min_insync: int):
        """Append a transaction marker as leader (acks=all rules). Returns (AppendResult, CompletedTxn|None)."""
        self.check_leader()
        self._check_isr(-1, min_insync)
        if self.epochs.pending:
            self.epochs.flush()
        result = self.log.append_marker(producer_id, producer_epoch, commit, coordinator_epoch,
                                        leader_epoch=self.leader_epoch, now_ms=int(self.clock() * 1000))
        self._maybe_advance_hw()
        self.notify()
        return result

    def _check_isr(self, acks: int, min_insync: int) -> None:
        if acks == -1 and len(self.isr) < min_insync:
            raise KafkaError(
                ErrorCode.not_enough_replicas,
                f"{len(self.isr)} in-sync replicas, min.insync.replicas is {min_insync}",
            )

    def _maybe_advance_hw(self) -> bool:
        if not self.is_leader:
            return False
        hw = self.log.log_end_offset
        for r in self.isr:
            if r == self.broker_id:
                continue
            st = self.followers.get(r)
            hw = min(hw, st.log_end_offset if st is not None and st.log_end_offset >= 0 else self.log.high_watermark)
        if hw > self.log.high_watermark:
            self.log.high_watermark = hw
            return True
        return False

    # --- leader: followers ------------------------------------------------------------------------

    def record_follower_fetch(self, replica_id: int, fetch_offset: int) -> None:
        """A follower fetched from ``fetch_offset``: that is its log end offset."""
        now = self.clock()
        st = self.followers.setdefault(replica_id, FollowerState())
        leo = self.log.log_end_offset
        if fetch_offset >= leo:
            st.last_caught_up = now
        elif fetch_offset >= st.leader_leo_at_last_fetch >= 0:
            st.last_caught_up = max(st.last_caught_up, st.last_fetch)
        st.log_end_offset = fetch_offset
        st.last_fetch = now
        st.leader_leo_at_last_fetch = leo
        if self._maybe_advance_hw():
            self.notify()

    def isr_to_expand(self, fetched: "set[int] | None" = None) -> list[int]:
        """Followers outside the ISR that have caught up to the high watermark (and this epoch).
        ``fetched``: only these (the followers that just fetched: as in Kafka, a follower joins
        the ISR on a fetch of its own, never on what it last said before it went quiet)."""
        if not self.is_leader:
            return []
        epoch_start = self.epochs.entries[-1][1] if self.epochs.entries else 0
        out = []
        for r, st in self.followers.items():
            if r in self.isr or r not in self.replicas or (fetched is not None and r not in fetched):
                continue
            if st.log_end_offset >= self.high_watermark and st.log_end_offset >= epoch_start:
                out.append(r)
        return out

    def isr_to_shrink(self, lag_time_max_ms: int) -> list[int]:
        """ISR followers not caught up within ``lag_time_max_ms``."""
        if not self.is_leader:
            return []
        now = self.clock()
        out = []
        for r in self.isr:
            if r == self.broker_id:
                continue
            st = self.followers.get(r)
            if st is None or now - st.last_caught_up > lag_time_max_ms / 1000:
                out.append(r)
        return out

    def set_isr(self, isr: list[int]) -> None:
        self.isr = list(isr)
        self._maybe_advance_hw()
        self.notify()

    # --- follower -------------------------------------------------------------------------------

    def append_replicated(self, buf: bytearray, batches: list[BatchHeader], leader_hw: int) -> None:
        for h in batches:
            if h.partition_leader_epoch > self.epochs.latest_epoch:
                self.epochs.assign(h.partition_leader_epoch, h.base_offset)
        if batches:
            self.log.append_as_follower(buf, batches)
        self.update_follower_hw(leader_hw)

    def update_follower_hw(self, leader_hw: int) -> None:
        hw = min(leader_hw, self.log.log_end_offset)
        if hw > self.log.high_watermark:
            self.log.high_watermark = hw
            self.notify()

    def truncate_to(self, offset: int) -> None:
        if offset < self.log.log_end_offset:
            self.log.truncate_to(offset)
            self.epochs.truncate_from_end(self.log.log_end_offset)
        if self.log.high_watermark > self.log.log_end_offset:
            self.log.high_watermark = self.log.log_end_offset

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self.epochs.end_offset_for(epoch, self.log.log_end_offset)

    # --- waiting --------------------------------------------------------------------------------

    def watch(self, callback: Callable[[], None]) -> None:
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        try:
            self._watchers.remove(callback)
        except ValueError:
            pass

    def notify(self) -> None:
        watchers, self._watchers = self._watchers, []
        for cb in watchers:
            cb()
