"""Leader-side bookkeeping with an injected clock: HW from the ISR, ISR shrink/expand, epochs."""

from __future__ import annotations

from odradek.log.config import LogConfig
from odradek.log.log import Log
from odradek.protocol import records
from odradek.protocol.record_codec import build_batch
from odradek.replication.epochs import LeaderEpochCache
from odradek.replication.partition import Partition


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def make(tmp_path, isr, clock, me=1):
    log = Log.open(tmp_path / "t-0", LogConfig())
    return Partition("t", 0, log, broker_id=me, replicas=[1, 2, 3], isr=isr, leader=me, leader_epoch=5, clock=clock)


def produce(part, n=1):
    for _ in range(n):
        buf = bytearray(build_batch([(b"k", b"v")]))
        part.append(buf, records.scan(buf), acks=1, min_insync=1)


def test_high_watermark_is_the_smallest_isr_log_end(tmp_path):
    clock = Clock()
    part = make(tmp_path, [1, 2, 3], clock)
    produce(part, 10)
    assert part.log_end_offset == 10 and part.high_watermark == 0
    part.record_follower_fetch(2, 10)
    assert part.high_watermark == 0
    part.record_follower_fetch(3, 7)
    assert part.high_watermark == 7
    part.record_follower_fetch(3, 10)
    assert part.high_watermark == 10
    # never backwards
    part.record_follower_fetch(3, 4)
    assert part.high_watermark == 10


def test_isr_shrinks_after_lag_time_and_expands_when_caught_up(tmp_path):
    clock = Clock()
    part = make(tmp_path, [1, 2, 3], clock)
    produce(part, 5)
    part.record_follower_fetch(2, 5)
    part.record_follower_fetch(3, 0)
    clock.t += 10
    part.record_follower_fetch(2, 5)
    assert part.isr_to_shrink(30000) == []
    clock.t += 25  # follower 3 not caught up for 35 s
    part.record_follower_fetch(2, 5)
    assert part.isr_to_shrink(30000) == [3]
    part.set_isr([1, 2])
    assert part.high_watermark == 5
    assert part.isr_to_expand() == []
    part.record_follower_fetch(3, 5)
    assert part.isr_to_expand() == [3]


def test_alone_in_isr_commits_at_once(tmp_path):
    part = make(tmp_path, [1], Clock())
    produce(part, 3)
    assert part.high_watermark == 3


def test_follower_appends_and_truncates_with_epochs(tmp_path):
    clock = Clock()
    leader = make(tmp_path / "l", [1], clock)
    produce(leader, 4)
    follower_log = Log.open(tmp_path / "f" / "t-0", LogConfig())
    follower = Partition("t", 0, follower_log, broker_id=2, replicas=[1, 2], isr=[1, 2], leader=1, leader_epoch=5, clock=clock)
    data = bytearray(leader.log.read(0, 1 << 20).read_bytes())
    follower.append_replicated(data, records.scan(data), leader_hw=4)
    assert follower.log_end_offset == 4 and follower.high_watermark == 4
    assert follower.epochs.latest_epoch == 5
    assert leader.end_offset_for_epoch(5) == (5, 4)
    follower.truncate_to(2)
    assert follower.log_end_offset == 2 and follower.high_watermark == 2


def test_epoch_cache_end_offsets_and_persistence(tmp_path):
    c = LeaderEpochCache(tmp_path)
    c.assign(0, 0)
    c.assign(2, 10)
    c.assign(3, 25)
    c.assign(1, 5)  # older epochs are ignored
    assert c.end_offset_for(0, 40) == (0, 10)
    assert c.end_offset_for(1, 40) == (0, 10)
    assert c.end_offset_for(2, 40) == (2, 25)
    assert c.end_offset_for(3, 40) == (3, 40)
    assert c.end_offset_for(-5, 40) == (-1, -1)
    again = LeaderEpochCache(tmp_path)
    assert again.entries == [(0, 0), (2, 10), (3, 25)]
    again.truncate_from_end(12)
    assert again.entries == [(0, 0), (2, 10)]
    assert LeaderEpochCache(tmp_path).latest_epoch == 2


def test_taking_leadership_writes_the_epoch_before_the_first_append_only(tmp_path):
    """A new leader keeps its epoch entry in memory (thousands of leaderships move at once in a
    failover) and writes it, fsynced, before the first record it appends under that epoch."""
    clock = Clock()
    part = make(tmp_path, [1, 2, 3], clock)
    path = tmp_path / "t-0" / "leader-epoch-checkpoint"
    assert part.epochs.entries == [(5, 0)] and part.epochs.pending
    assert not path.exists()
    assert part.end_offset_for_epoch(5) == (5, 0)
    produce(part, 2)
    assert not part.epochs.pending
    assert LeaderEpochCache(tmp_path / "t-0").entries == [(5, 0)]
    part.become_leader(7, [1, 2, 3], [1, 2, 3])
    assert part.epochs.entries == [(5, 0), (7, 2)] and part.epochs.pending
    assert LeaderEpochCache(tmp_path / "t-0").entries == [(5, 0)]
    produce(part)
    assert LeaderEpochCache(tmp_path / "t-0").entries == [(5, 0), (7, 2)]


def test_only_the_follower_that_fetched_joins_the_isr(tmp_path):
    """A follower that died caught up keeps its last fetch offset in the leader's memory; another
    follower's fetch must not bring it back into the ISR (Kafka adds only the fetching replica)."""
    clock = Clock()
    part = make(tmp_path, [1], clock)
    produce(part, 3)
    part.record_follower_fetch(2, 3)
    part.record_follower_fetch(3, 3)
    assert sorted(part.isr_to_expand()) == [2, 3]
    assert part.isr_to_expand({3}) == [3]
    assert part.isr_to_expand({4}) == []
