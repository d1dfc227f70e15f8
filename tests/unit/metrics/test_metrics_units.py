"""The metrics package's pieces on their own: the listener setting, the text format, Yammer's
quantiles, error counting, the per-partition hooks, request timing, the loop monitor."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from types import SimpleNamespace

import pytest

from odradek.config import ConfigError
from odradek.metrics.collector import _quantile
from odradek.metrics.exposition import Family, escape_label, labels, number
from odradek.metrics.loop import LoopMonitor
from odradek.metrics.registry import BrokerMetrics, Histogram, InFlight, RequestStats, count_errors, parse_listener_url
from odradek.protocol.errors import ErrorCode


def test_listener_setting():
    assert parse_listener_url(None) is None
    assert parse_listener_url("  ") is None
    assert parse_listener_url("http://127.0.0.1:9404") == ("127.0.0.1", 9404)
    assert parse_listener_url("HTTP://localhost:0/metrics") == ("localhost", 0)
    assert parse_listener_url("127.0.0.1:9404") == ("127.0.0.1", 9404)
    assert parse_listener_url("http://:9404") == ("", 9404)
    assert parse_listener_url("http://[::1]:9404") == ("::1", 9404)
    for bad in ("https://h:1", "http://h", "http://h:x", "http://h:70000", "http://h:1/other"):
        with pytest.raises(ConfigError, match="metrics.listener"):
            parse_listener_url(bad)


def test_text_format():
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert labels(("topic", 't"1'), ("partition", 3)) == '{topic="t\\"1",partition="3"}'
    assert labels() == ""
    assert [number(x) for x in (3, 2.0, 0.25, float("inf"), float("nan"))] == ["3", "2.0", "0.25", "+Inf", "NaN"]
    f = Family("x_seconds", "histogram", "help\nwith a newline")
    f.histogram((0.1, 1.0), [2, 0, 1], 5.5, (("request", "Produce"),))
    assert f.text().splitlines() == [
        "# HELP x_seconds help\\nwith a newline",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{request="Produce",le="0.1"} 2',
        'x_seconds_bucket{request="Produce",le="1.0"} 2',
        'x_seconds_bucket{request="Produce",le="+Inf"} 3',
        'x_seconds_sum{request="Produce"} 5.5',
        'x_seconds_count{request="Produce"} 3',
    ]


def test_histogram_bounds_are_inclusive():
    h = Histogram((1.0, 2.0))
    for v in (0.5, 1.0, 1.5, 2.0, 9.0):
        h.observe(v)
    assert h.counts == [2, 2, 1] and h.count == 5 and h.sum == 14.0


def test_quantiles_as_yammer_snapshots_compute_them():
    values = [float(v) for v in range(1, 101)]
    assert _quantile([], 0.5) == 0.0
    assert _quantile([7.0], 0.99) == 7.0
    assert _quantile(values, 0.5) == pytest.approx(50.5)
    assert _quantile(values, 0.99) == pytest.approx(99.99)
    assert _quantile(values, 0.999) == 100.0
    assert _quantile(values, 0.001) == 1.0


def test_error_codes_counted_at_every_level():
    errors: dict[int, int] = {}
    count_errors({"error_code": 0, "topics": [
        {"error_code": 3, "partitions": [{"error_code": 0}, {"error_code": 6}]},
        {"name": "x", "partitions": []},
    ], "nested": {"error_code": ErrorCode.not_coordinator}}, errors)
    assert errors == {0: 2, 3: 1, 6: 1, 16: 1}


PR = namedtuple("PR", "index error")
FP = namedtuple("FP", "index error size")
FT = namedtuple("FT", "name partitions")


def _metrics() -> BrokerMetrics:
    return BrokerMetrics(SimpleNamespace(), ("127.0.0.1", 0))  # type: ignore[arg-type]


def test_produce_and_fetch_hooks():
    m = _metrics()
    m.produced("t", 1000, 10)
    m.produced("u", 50, 1)
    m.produce_failed("t", ErrorCode.message_too_large, 7000)  # rejected, an expected error
    m.produce_failed("t", ErrorCode.invalid_record, 70)  # a failure Kafka counts
    m.produce_failed("t", ErrorCode.not_leader_or_follower, 70)  # expected: not a failure
    t = m.topics["t"]
    assert (t.messages_in, t.bytes_in, t.bytes_rejected, t.failed_produce, t.total_produce) == (10, 1000, 7000, 1, 4)
    assert (m.all_topics.messages_in, m.all_topics.bytes_in, m.all_topics.total_produce) == (11, 1050, 5)
    m.produce_errors([("t", [PR(0, 0), PR(1, 10)]), ("u", [PR(0, 0)])])
    assert m.requests["Produce"].errors == {0: 2, 10: 1}
    m.fetched([FT("t", [FP(0, 0, 300), FP(1, 6, 0), FP(2, 87, 0)]), FT("gone", [FP(0, 3, 0)])], follower=False)
    assert (t.bytes_out, t.total_fetch, t.failed_fetch) == (300, 3, 1)
    assert "gone" not in m.topics  # an unknown topic gets no meters
    assert m.requests["Fetch"].errors == {0: 1, 6: 1, 87: 1, 3: 1}
    m.fetched([FT("t", [FP(0, 0, 500)])], follower=True)
    assert (t.bytes_out, m.replication_bytes_out, t.total_fetch) == (300, 500, 4)


def test_request_timing_parts():
    m = _metrics()
    stats = (m.requests["FetchConsumer"], m.requests["Fetch"])
    rec = InFlight(m, stats, 1, 11, arrival=100.0, nbytes=64)
    rec.start, rec.local_end, rec.remote_end = 100.5, 101.0, 103.0
    rec.finish(103.25, 104.0)
    for s in stats:
        assert s.count == 1 and s.versions == {11: 1}
        assert s.samples()[0] == (0.5, 0.5, 2.0, 0.25, 0.75, 4.0, 64)
        assert s.total.count == 1 and s.total.sum == 4.0 and s.local.sum == 0.5
    # a handler that answers at once: no remote time; answers without a response finish then
    rec = m.begin(SimpleNamespace(proto=SimpleNamespace(arrived=0.0)), 3, 12, None, 10)  # its stats made now
    rec.handled({"error_code": 0, "topics": [{"error_code": 3}]}, None)
    s = m.requests["Metadata"]
    assert s.count == 1 and s.errors == {0: 1, 3: 1}
    queue, local, remote, rqueue, send, total, size = s.samples()[0]
    assert remote == 0 and rqueue == 0 and send == 0 and size == 10 and total == pytest.approx(local + queue)


def test_ring_keeps_the_last_requests():
    s = RequestStats("X")
    for i in range(1500):
        s.record((0, 0, 0, 0, 0, float(i), 0), 1)
    kept = sorted(x[5] for x in s.samples())
    assert len(kept) == 1024 and kept[0] == 476.0 and kept[-1] == 1499.0 and s.count == 1500


def test_loop_monitor_measures_idle_time_and_lag():
    mon = LoopMonitor()
    loop = mon.new_event_loop()

    async def main():
        mon.start()
        assert mon.timed
        await asyncio.sleep(0.35)  # idle
        t = loop.time()
        while loop.time() - t < 0.15:  # busy: the ticker runs late
            pass
        await asyncio.sleep(0.15)
        mon.stop()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert mon.idle_seconds() >= 0.3
    assert mon.lag.count >= 3
    assert mon.lag.counts[-1] + sum(mon.lag.counts[i] for i, b in enumerate(mon.lag.bounds) if b > 0.05) >= 1


def test_loop_monitor_on_a_foreign_loop_reports_no_idle_fraction():
    mon = LoopMonitor()

    async def main():
        return mon.timed, mon.idle_fraction()

    assert asyncio.run(main()) == (False, None)
