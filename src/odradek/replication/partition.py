"""One partition as this broker sees it: its log, leader epoch, replicas, ISR and high watermark."""

from __future__ import annotations

import time
from typing import Callable

from ..log.log import Log
from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import BatchHeader


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
        self._watchers: list[Callable[[], None]] = []
        if self.is_leader and self.isr == [broker_id]:
            # Alone in the ISR: everything in the log is committed.
            self.log.high_watermark = self.log.log_end_offset

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
            raise KafkaError(ErrorCode.not_leader_or_follower, f"broker {self.broker_id} is not the leader")

    def append(self, buf: bytearray, batches: list[BatchHeader], *, acks: int, min_insync: int):
        """Append produced batches as leader. Raises KafkaError; returns the log's AppendResult."""
        self.check_leader()
        if acks == -1 and len(self.isr) < min_insync:
            raise KafkaError(
                ErrorCode.not_enough_replicas,
                f"{len(self.isr)} in-sync replicas, min.insync.replicas is {min_insync}",
            )
        result = self.log.append(buf, batches, leader_epoch=self.leader_epoch, now_ms=int(self.clock() * 1000))
        self._maybe_advance_hw()
        return result

    def _maybe_advance_hw(self) -> None:
        if self.isr == [self.broker_id]:
            new_hw = self.log.log_end_offset
        else:
            return  # followers' positions drive the HW (cluster mode)
        if new_hw > self.log.high_watermark:
            self.log.high_watermark = new_hw
        self.notify()

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
