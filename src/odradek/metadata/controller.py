"""The controller: the one broker (elected through the ephemeral /controller znode) that elects
partition leaders when brokers come and go, and moves leadership back to preferred replicas.

It decides from the store's view (live brokers, partition states) and writes new states with
compare-and-set; a lost race re-reads and decides again. Every change it makes bumps the leader
epoch, so leaders and followers notice it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from .store import PartitionState

log = logging.getLogger("odradek.controller")


class Controller:
    def __init__(self, store, broker_id: int, unclean_allowed: Callable[[str], bool]) -> None:
        self.store = store
        self.broker_id = broker_id
        self.unclean_allowed = unclean_allowed
        self.epoch: int | None = None  # set while this broker is the controller

    @property
    def active(self) -> bool:
        return self.epoch is not None

    def elect(self) -> bool:
        """Try to become controller (when /controller is free). True when this broker is it."""
        if self.active:
            if self.store.controller_id() != self.broker_id:
                log.warning("broker %d is no longer the controller", self.broker_id)
                self.epoch = None
            return self.active
        if self.store.controller_id() not in (-1, None):
            return False
        epoch = self.store.try_become_controller()
        if epoch is not None:
            self.epoch = epoch
            log.info("broker %d is the controller (epoch %d)", self.broker_id, epoch)
        return self.active

    def on_change(self) -> int:
        """Elect leaders for partitions whose leader is gone; drop dead brokers from ISRs."""
        if not self.active:
            return 0
        live = set(self.store.live_brokers())
        changes = 0
        for name, meta in list(self.store.topics().items()):
            for st in list(meta.partitions.values()):
                new = self._decide(name, st, live)
                if new is not None and self.store.update_partition_state(name, new):
                    changes += 1
                    log.info("%s-%d: leader %d -> %d, epoch %d, isr %s", name, st.partition, st.leader, new.leader,
                             new.leader_epoch, new.isr)
        return changes

    def _decide(self, topic: str, st: PartitionState, live: set[int]) -> PartitionState | None:
        live_isr = [r for r in st.isr if r in live]
        if st.leader not in live:
            candidates = [r for r in st.replicas if r in live_isr]
            if candidates:
                leader = candidates[0]
                return replace(st, leader=leader, leader_epoch=st.leader_epoch + 1, isr=live_isr,
                               controller_epoch=self.epoch or 0)
            if self.unclean_allowed(topic):
                alive = [r for r in st.replicas if r in live]
                if alive:
                    log.warning("%s-%d: unclean leader election of %d", topic, st.partition, alive[0])
                    return replace(st, leader=alive[0], leader_epoch=st.leader_epoch + 1, isr=[alive[0]],
                                   controller_epoch=self.epoch or 0)
            if st.leader != -1:
                # No in-sync replica lives: the partition stays offline rather than lose data.
                return replace(st, leader=-1, leader_epoch=st.leader_epoch + 1, controller_epoch=self.epoch or 0)
            return None
        if len(live_isr) != len(st.isr):
            return replace(st, isr=live_isr, leader_epoch=st.leader_epoch + 1, controller_epoch=self.epoch or 0)
        return None

    def preferred_election(self, only: set[tuple[str, int]] | None = None) -> int:
        """Move leadership to each partition's first replica where it is alive and in sync."""
        if not self.active:
            return 0
        live = set(self.store.live_brokers())
        moved = 0
        for name, meta in list(self.store.topics().items()):
            for st in list(meta.partitions.values()):
                if only is not None and (name, st.partition) not in only:
                    continue
                preferred = st.replicas[0] if st.replicas else -1
                if st.leader != preferred and preferred in live and preferred in st.isr:
                    new = replace(st, leader=preferred, leader_epoch=st.leader_epoch + 1, controller_epoch=self.epoch or 0)
                    if self.store.update_partition_state(name, new):
                        moved += 1
                        log.info("%s-%d: preferred leader %d restored", name, st.partition, preferred)
        return moved
