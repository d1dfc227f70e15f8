"""Incremental fetch sessions (KIP-227), on the wire and through kafka-python, which opens one by
default (``enable_incremental_fetch_sessions``)."""

from __future__ import annotations

import functools
import logging
import time

import pytest
from confluent_kafka import Producer

from helpers import BrokerProcess
from test_groups_support import create_topic, uniq
from wire import WireClient

pytestmark = pytest.mark.interop
NOT_FOUND, BAD_EPOCH = 70, 71


def produce(bootstrap: str, topic: str, partition: int, n: int, tag: str) -> list[bytes]:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    values = [b"%s-%d-%d" % (tag.encode(), partition, i) for i in range(n)]
    for v in values:
        p.produce(topic, value=v, partition=partition)
    assert p.flush(20) == 0
    return values


def topic_ref(w: WireClient, topic: str, version: int) -> dict:
    """How a Fetch request of this version names the topic: by name, or by topic id from v13."""
    if version < 13:
        return {"topic": topic}
    md = w.request(3, 12, {"topics": [{"name": topic, "topic_id": None}], "allow_auto_topic_creation": False,
                           "include_topic_authorized_operations": False})
    return {"topic_id": md.topics[0].topic_id}


def fetch_at(version: int, w: WireClient, topic: dict, session_id: int, epoch: int, offsets: dict[int, int] | None = None,
          forget: list[int] | None = None):
    topics = [] if not offsets else [{**topic, "partitions": [
        {"partition": p, "fetch_offset": o, "partition_max_bytes": 1 << 20, "current_leader_epoch": -1,
         "last_fetched_epoch": -1, "log_start_offset": -1} for p, o in offsets.items()]}]
    forgotten = [] if not forget else [{**topic, "partitions": forget}]
    return w.request(1, version, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                                  "isolation_level": 0, "session_id": session_id, "session_epoch": epoch,
                                  "topics": topics, "forgotten_topics_data": forgotten, "rack_id": ""})


def partitions_in(resp) -> dict[int, object]:
    return {p.partition_index: p for t in resp.responses for p in t.partitions}


@pytest.mark.parametrize("version", [7, 12, 16])
def test_a_session_sends_only_what_changed(shared_broker, version):
    name = uniq("fs")
    create_topic(shared_broker.bootstrap, name, 3)
    produce(shared_broker.bootstrap, name, 0, 2, "a")
    w = WireClient(shared_broker.port)
    topic = topic_ref(w, name, version)
    fetch = functools.partial(fetch_at, version)

    try:
        full = fetch(w, topic, 0, 0, {0: 0, 1: 0, 2: 0})
        assert full.error_code == 0 and full.session_id != 0
        sid = full.session_id
        got = partitions_in(full)
        assert set(got) == {0, 1, 2}  # a full response names every partition of the session
        assert got[0].high_watermark == 2 and got[0].records

        # nothing new, and the client moved partition 0 on: an empty answer
        inc = fetch(w, topic, sid, 1, {0: 2})
        assert inc.error_code == 0 and inc.session_id == sid
        assert partitions_in(inc) == {}

        # new data on partition 1 only: only partition 1 comes back, from the session's offset
        produce(shared_broker.bootstrap, name, 1, 3, "b")
        inc = fetch(w, topic, sid, 2)
        got = partitions_in(inc)
        assert set(got) == {1} and got[1].high_watermark == 3 and got[1].records

        # a forgotten partition is no longer fetched
        inc = fetch(w, topic, sid, 3, {1: 3}, forget=[2])
        assert partitions_in(inc) == {}
        produce(shared_broker.bootstrap, name, 2, 1, "c")
        assert partitions_in(fetch(w, topic, sid, 4)) == {}
        # added back at offset 0: it returns with its record
        got = partitions_in(fetch(w, topic, sid, 5, {2: 0}))
        assert set(got) == {2} and got[2].records

        # a wrong epoch, an unknown session
        assert fetch(w, topic, sid, 9).error_code == BAD_EPOCH
        assert fetch(w, topic, sid ^ 0x5A5A, 1).error_code == NOT_FOUND
        # the session survives a bad epoch: the right one still works
        assert fetch(w, topic, sid, 6).error_code == 0

        # epoch -1 closes it (a full, sessionless fetch); the id is gone afterwards
        closing = fetch(w, topic, sid, -1, {0: 0})
        assert closing.error_code == 0 and closing.session_id == 0 and set(partitions_in(closing)) == {0}
        assert fetch(w, topic, sid, 7).error_code == NOT_FOUND

        # session id 0, epoch -1: the legacy full fetch, no session
        legacy = fetch(w, topic, 0, -1, {0: 0, 1: 0})
        assert legacy.session_id == 0 and set(partitions_in(legacy)) == {0, 1}
    finally:
        w.close()


def test_the_least_recently_used_session_goes_when_the_cache_is_full(tmp_path):
    b = BrokerProcess(tmp_path / "data", overrides={"max.incremental.fetch.session.cache.slots": "2"}).start()
    try:
        name = uniq("fs-lru")
        create_topic(b.bootstrap, name, 1)
        w = WireClient(b.port)
        topic = topic_ref(w, name, 12)
        fetch = functools.partial(fetch_at, 12)
        ids = [fetch(w, topic, 0, 0, {0: 0}).session_id for _ in range(2)]
        assert fetch(w, topic, ids[0], 1).error_code == 0  # the first is now the most recently used
        third = fetch(w, topic, 0, 0, {0: 0}).session_id
        assert third != 0
        assert fetch(w, topic, ids[1], 1).error_code == NOT_FOUND  # evicted
        assert fetch(w, topic, ids[0], 2).error_code == 0
        assert fetch(w, topic, third, 1).error_code == 0
        w.close()
    finally:
        b.kill()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_kafka_python_consumes_through_an_incremental_session(shared_broker):
    from kafka import KafkaConsumer, TopicPartition

    topic = uniq("fs-kp")
    create_topic(shared_broker.bootstrap, topic, 6)
    expected: set[bytes] = set()
    for p in range(6):
        expected |= set(produce(shared_broker.bootstrap, topic, p, 10, "first"))

    cap = _Capture()
    fetch_log = logging.getLogger("kafka.consumer.fetcher")
    old_level = fetch_log.level
    fetch_log.setLevel(logging.DEBUG)
    fetch_log.addHandler(cap)
    c = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=100)
    try:
        c.assign([TopicPartition(topic, p) for p in range(6)])
        seen: list[bytes] = []

        def read_until(target: set[bytes]) -> None:
            deadline = time.monotonic() + 30
            while not target <= set(seen) and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=200).values():
                    seen.extend(r.value for r in recs)
            assert target <= set(seen), f"missing {len(target - set(seen))} records"

        read_until(expected)
        later = set(produce(shared_broker.bootstrap, topic, 3, 5, "later"))
        read_until(expected | later)
        last = set(produce(shared_broker.bootstrap, topic, 0, 2, "last")) | set(produce(shared_broker.bootstrap, topic, 5, 2, "last"))
        read_until(expected | later | last)
        assert len(seen) == len(set(seen)) == len(expected | later | last)  # nothing twice
    finally:
        c.close()
        fetch_log.removeHandler(cap)
        fetch_log.setLevel(old_level)
    assert any("created a new incremental fetch session" in line for line in cap.lines), cap.lines[-20:]
    assert any("Built incremental fetch" in line for line in cap.lines)
    bad = [line for line in cap.lines if "invalid" in line.lower() or "unable to process" in line]
    assert not bad, bad
