"""The fetch-session state machine (KIP-227) on its own; the wire behaviour is in
tests/interop/test_fetch_sessions.py."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from odradek.protocol.errors import ErrorCode
from odradek.protocol.fetch import FetchPartitionData, FetchTopicData
from odradek.server.fetch_sessions import FetchSessionCache, SessionError


def req(topic: str, **offsets: int):
    return [NS(topic=topic, partitions=[NS(partition=int(p[1:]), fetch_offset=o, partition_max_bytes=100)
                                        for p, o in offsets.items()])]


def answer(topic: str, *parts: FetchPartitionData):
    return [FetchTopicData(topic, None, list(parts))]


def test_epochs_advance_and_misses_are_reported():
    cache = FetchSessionCache(10)
    s = cache.create(req("t", p0=0), by_id=False)
    assert s.id > 0 and s.epoch == 1
    assert cache.lookup(s.id, 1) is s and s.epoch == 2
    with pytest.raises(SessionError) as e:
        cache.lookup(s.id, 1)
    assert e.value.code == ErrorCode.invalid_fetch_session_epoch
    with pytest.raises(SessionError) as e:
        cache.lookup(s.id + 1, 1)
    assert e.value.code == ErrorCode.fetch_session_id_not_found
    cache.remove(s.id)
    assert len(cache) == 0


def test_zero_slots_means_no_sessions():
    assert FetchSessionCache(0).create(req("t", p0=0), by_id=False) is None


def test_incremental_responses_carry_only_changes_and_errors_every_time():
    cache = FetchSessionCache(10)
    s = cache.create(req("t", p0=0, p1=0), by_id=False)
    first = s.filter_response(answer("t", FetchPartitionData(0, 0, 5, 5, 0), FetchPartitionData(1, 0, 0, 0, 0)), False)
    assert [p.index for p in first[0].partitions] == [0, 1]  # a full response has everything
    same = answer("t", FetchPartitionData(0, 0, 5, 5, 0), FetchPartitionData(1, 0, 0, 0, 0))
    assert s.filter_response(same, True) == []
    moved = s.filter_response(answer("t", FetchPartitionData(0, 0, 5, 5, 3), FetchPartitionData(1, 0, 0, 0, 0)), True)
    assert [p.index for p in moved[0].partitions] == [0]  # the log start offset moved
    err = answer("t", FetchPartitionData(0, 0, 5, 5, 3), FetchPartitionData(1, ErrorCode.not_leader_or_follower))
    for _ in range(2):  # an error is repeated until it is gone
        assert [p.index for p in s.filter_response(err, True)[0].partitions] == [1]


def test_updates_keep_what_was_sent_and_forgetting_drops_topics():
    cache = FetchSessionCache(10)
    s = cache.create(req("t", p0=0), by_id=False)
    s.filter_response(answer("t", FetchPartitionData(0, 0, 7, 7, 0)), False)
    s.update(req("t", p0=7) + req("u", p3=1), (), by_id=False)
    topics = s.as_request_topics()
    assert [(t.topic, [(p.partition, p.fetch_offset) for p in t.partitions]) for t in topics] == [("t", [(0, 7)]), ("u", [(3, 1)])]
    assert topics[0].partitions[0].high_watermark == 7  # moving the offset keeps what was last sent
    s.update((), [NS(topic="u", partitions=[3])], by_id=False)
    assert [t.topic for t in s.as_request_topics()] == ["t"]
