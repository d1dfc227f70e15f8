"""Delayed produce (acks=all) outcomes: committed, ISR shrunk after the append, leadership moved, timeout."""

from __future__ import annotations

import asyncio

from odradek.protocol.errors import ErrorCode
from odradek.protocol.produce import PartitionResult
from odradek.server.apis.produce import _wait_committed


class FakePartition:
    def __init__(self, isr):
        self.high_watermark = 0
        self.isr = isr
        self.is_leader = True
        self._watchers = []

    def watch(self, cb):
        self._watchers.append(cb)

    def unwatch(self, cb):
        if cb in self._watchers:
            self._watchers.remove(cb)

    def notify(self):
        watchers, self._watchers = self._watchers, []
        for cb in watchers:
            cb()


def run(change, timeout=2.0):
    async def main():
        part = FakePartition([1, 2, 3])
        results = [("t", [PartitionResult(0, 0, 0)])]
        waits = [(0, 0, part, 4, 2)]
        task = asyncio.ensure_future(_wait_committed(results, waits, timeout))
        await asyncio.sleep(0)
        change(part)
        part.notify()
        await asyncio.wait_for(task, 5)
        return results[0][1][0].error

    return asyncio.run(main())


def test_committed_when_the_high_watermark_passes():
    assert run(lambda p: setattr(p, "high_watermark", 5)) == 0


def test_isr_shrinking_below_min_insync_after_the_append():
    assert run(lambda p: setattr(p, "isr", [1])) == ErrorCode.not_enough_replicas_after_append


def test_isr_shrinking_to_the_leader_alone_moves_the_hw_but_is_not_a_commit():
    def shrink(p):
        p.isr = [1]
        p.high_watermark = 5  # the leader's own LEO: it is the whole ISR now

    assert run(shrink) == ErrorCode.not_enough_replicas_after_append


def test_leadership_moving_away_while_waiting():
    assert run(lambda p: setattr(p, "is_leader", False)) == ErrorCode.not_leader_or_follower


def test_timeout():
    assert run(lambda p: None, timeout=0.05) == ErrorCode.request_timed_out
