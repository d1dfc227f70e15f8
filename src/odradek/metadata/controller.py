"""The controller: the one broker (elected through the ephemeral /controller znode) that elects
partition leaders when brokers come and go, and moves leadership back to preferred replicas.

It decides from the store's view (live brokers, partition states) and writes new states with
compare-and-set; a lost race re-reads and decides again. Every change it makes bumps the leader
epoch, so leaders and followers notice it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Callable

from .store import Changes, PartitionState

log = logging.getLogger("odradek.controller")


class Controller:
    def __init__(self, store, broker_id: int, unclean_allowed: Callable[[str], bool]) -> None:
        self.store = store
        self.broker_id = broker_id
        self.unclean_allowed = unclean_allowed
        self.epoch: int | None = None  # set while this broker is the controller
        self._seen_live: set[int] = set()  # the live brokers when partitions were last decided
        self.unclean_elections = 0  # leaders elected from outside the ISR (metrics)

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

    def on_change(self, changes: "Changes | None" = None) -> int:
        """Elect leaders for partitions whose leader is gone; drop dead brokers from ISRs; move
        reassignments on. With ``changes``, only what they touch is looked at, unless brokers
        came or went (then every partition is)."""
        if not self.active:
            return 0
        n = self._elect_missing_leaders(changes)
        n += self._advance_reassignments()
        return n

    def _elect_missing_leaders(self, changes: "Changes | None" = None) -> int:
        """Decide every partition that needs a new leader or ISR, then write them all at once
        (the store pipelines the compare-and-sets); lost races are decided again next time."""
        started = time.monotonic()
        live = set(self.store.live_brokers())
        topics = self.store.topics()
        if changes is None or changes.full or changes.brokers or not self._seen_live == live:
            candidates = ((name, st) for name, meta in topics.items() for st in meta.partitions.values())
        else:
            keys = changes.partition_keys(topics)
            candidates = ((t, topics[t].partitions[p]) for t, p in keys if t in topics and p in topics[t].partitions)
        self._seen_live = live
        batch = []
        for name, st in list(candidates):
            new = self._decide(name, st, live)
            if new is not None:
                batch.append((name, st, new))
        if not batch:
            return 0
        decided = time.monotonic()
        results = self.store.update_partition_states([(name, new) for name, _st, new in batch])
        written = time.monotonic()
        changed = 0
        for (name, st, new), ok in zip(batch, results):
            if ok:
                changed += 1
                if new.leader >= 0 and new.leader != st.leader and new.leader not in st.isr:
                    self.unclean_elections += 1
                log.info("%s-%d: leader %d -> %d, epoch %d, isr %s", name, st.partition, st.leader, new.leader,
                         new.leader_epoch, new.isr)
        log.info("controller: %d partition state(s) changed (decided in %.2f s, written in %.2f s), %d lost a race",
                 changed, decided - started, written - decided, len(batch) - changed)
        return changed

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

    def preferred_election(self) -> int:
        """Move leadership to each partition's first replica where it is alive and in sync (all
        the moves written at once)."""
        if not self.active:
            return 0
        items = [(name, st) for name, meta in list(self.store.topics().items()) for st in list(meta.partitions.values())
                 # being reassigned: its first replica is a target that may not be in sync
                 if not (st.adding or st.removing)]
        return sum(1 for code in elect_preferred_many(self.store, items, self.epoch or 0) if code is None)

    def _advance_reassignments(self) -> int:
        """Kafka's reassignment steps (KIP-455): the replicas become the target followed by the
        original ones not in it (adding and removing recorded with them), the new ones catch up,
        and once the whole target is in sync the old ones go (leadership moving first if the
        leader is among them). A cancelled reassignment (its request gone while replicas are
        still being added) goes back to the original replicas."""
        pending = self.store.reassignments()
        moving = {(name, st.partition) for name, meta in self.store.topics().items()
                  for st in meta.partitions.values() if st.adding or st.removing}
        if not pending and not moving:
            return 0
        live = set(self.store.live_brokers())
        done: dict[tuple[str, int], None] = {}
        changes = 0
        for topic, p in sorted(set(pending) | moving):
            target = pending.get((topic, p))
            meta = self.store.topics().get(topic)
            st = meta.partitions.get(p) if meta else None
            if st is None:
                if target is not None:
                    done[(topic, p)] = None
                continue
            original = [r for r in st.replicas if r not in st.adding]
            if target is None:
                changes += self._revert(topic, st, original, live)
                continue
            if st.replicas == target and not st.adding and not st.removing:
                done[(topic, p)] = None
                continue
            full = target + [r for r in original if r not in target]
            adding = [r for r in target if r not in original]
            removing = [r for r in original if r not in target]
            if (st.replicas, st.adding, st.removing) != (full, adding, removing):
                if self.store.set_replicas(topic, p, full, adding, removing):
                    # a new epoch makes every replica reconcile (the new ones start following)
                    self.store.update_partition_state(topic, replace(st, leader_epoch=st.leader_epoch + 1,
                                                                     controller_epoch=self.epoch or 0))
                    changes += 1
                continue
            if not all(r in st.isr for r in target):
                continue  # still catching up; an ISR change brings us back here
            leader = st.leader if st.leader in target else next((r for r in target if r in st.isr and r in live), -1)
            new = replace(st, replicas=list(target), leader=leader, leader_epoch=st.leader_epoch + 1,
                          isr=[r for r in st.isr if r in target], controller_epoch=self.epoch or 0)
            if self.store.update_partition_state(topic, new) and self.store.set_replicas(topic, p, target, [], []):
                log.info("%s-%d: reassigned to %s", topic, p, target)
                done[(topic, p)] = None
                changes += 1
        if done:
            self.store.change_reassignments(done)
        return changes

    def _revert(self, topic: str, st: PartitionState, original: list[int], live: set[int]) -> int:
        """Cancel: back to the original replicas; the ones being added leave the ISR (and their copies go)."""
        isr = [r for r in st.isr if r in original]
        leader = st.leader if st.leader in original else next((r for r in original if r in isr and r in live), -1)
        new = replace(st, replicas=list(original), leader=leader, leader_epoch=st.leader_epoch + 1,
                      isr=isr or [r for r in original if r in live][:1], controller_epoch=self.epoch or 0)
        if self.store.update_partition_state(topic, new) and self.store.set_replicas(topic, st.partition, original, [], []):
            log.info("%s-%d: reassignment cancelled, back to %s", topic, st.partition, original)
            return 1
        return 0


def elect_preferred(store, topic: str, st: PartitionState, controller_epoch: int) -> int | None:
    """Make the first replica leader when it is alive and in sync. None when it was done, else the
    Kafka error code saying why not (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE)."""
    return elect_preferred_many(store, [(topic, st)], controller_epoch)[0]


def elect_preferred_many(store, items: list[tuple[str, PartitionState]], controller_epoch: int) -> list[int | None]:
    """:func:`elect_preferred` for many partitions: decided first, then every move written at
    once (pipelined compare-and-sets). One result per item."""
    from ..protocol.errors import ErrorCode

    live = store.live_brokers()
    out: list[int | None] = []
    moves: list[tuple[int, str, PartitionState]] = []
    for topic, st in items:
        preferred = st.replicas[0] if st.replicas else -1
        if st.leader == preferred:
            out.append(ErrorCode.election_not_needed)
        elif preferred not in live or preferred not in st.isr:
            out.append(ErrorCode.preferred_leader_not_available)
        else:
            out.append(None)
            moves.append((len(out) - 1, topic, replace(st, leader=preferred, leader_epoch=st.leader_epoch + 1,
                                                       controller_epoch=controller_epoch)))
    if moves:
        results = store.update_partition_states([(topic, new) for _i, topic, new in moves])
        for (i, topic, new), ok in zip(moves, results):
            if not ok:
                out[i] = ErrorCode.preferred_leader_not_available
        done = sum(results)
        if done:
            log.info("preferred leaders elected for %d partition(s)", done)
    return out


def elect_unclean(store, topic: str, st: PartitionState, controller_epoch: int) -> int | None:
    """kafka-leader-election --election-type unclean: for a partition without a live leader, the
    first live in-sync replica, else (losing what only the old ISR had) the first live replica,
    which becomes the whole ISR. None when done, else ELECTION_NOT_NEEDED (it has a leader) or
    ELIGIBLE_LEADERS_NOT_AVAILABLE (no replica lives), as Kafka answers."""
    from ..protocol.errors import ErrorCode

    live = store.live_brokers()
    if st.leader in live:
        return ErrorCode.election_not_needed
    clean = [r for r in st.replicas if r in live and r in st.isr]
    alive = [r for r in st.replicas if r in live]
    if not alive:
        return ErrorCode.eligible_leaders_not_available
    leader = (clean or alive)[0]
    isr = [r for r in st.isr if r in live] if clean else [leader]
    new = replace(st, leader=leader, leader_epoch=st.leader_epoch + 1, isr=isr, controller_epoch=controller_epoch)
    if not store.update_partition_state(topic, new):
        return ErrorCode.eligible_leaders_not_available
    if clean:
        log.info("%s-%d: leader %d elected from the ISR", topic, st.partition, leader)
    else:
        log.warning("%s-%d: unclean leader election of %d (asked for)", topic, st.partition, leader)
    return None
