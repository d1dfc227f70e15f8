"""Escaping: everything interpolated into a page is text unless it is Markup this package made."""

from __future__ import annotations

from odradek.client.types import ConsumerRecord, TopicPartition
from odradek.console.markup import Markup, attrs, escape, html, join, url
from odradek.console.views import Page, error_page, headers_cell, record_row, sparkline, lag_chart, topics_page

XSS = '<script>alert("x")</script><img src=x onerror=\'alert(1)\'>&'


def test_escape_and_html():
    assert escape(XSS) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#x27;alert(1)&#x27;&gt;&amp;"
    assert escape(None) == "" and escape(3) == "3"
    assert escape(Markup("<b>")) == "<b>"
    assert html("<td>{}</td>", XSS) == "<td>" + str(escape(XSS)) + "</td>"
    assert html('<a title="{t}">{0}</a>', Markup("<i>ok</i>"), t='" onmouseover="x') == '<a title="&quot; onmouseover=&quot;x"><i>ok</i></a>'
    assert html("{:>5}", 42) == "   42"
    assert join(["<a>", Markup("<b>")], "|") == "&lt;a&gt;|<b>"
    assert isinstance(Markup("<p>") + "<q>", Markup) and Markup("<p>") + "<q>" == "<p>&lt;q&gt;"
    assert "<q>" + Markup("<p>") == "&lt;q&gt;<p>"


def test_url_quotes_each_segment():
    assert url("/topics", "a b/c", "messages", query={"x": "1&2", "none": None, "empty": ""}) == "/topics/a%20b%2Fc/messages?x=1%262"
    assert url("/groups", "<g>") == "/groups/%3Cg%3E"
    assert url("/topics") == "/topics"


def test_attrs():
    assert attrs(data_testid="x", checked=True, disabled=False, class_='a"b') == ' data-testid="x" checked class="a&quot;b"'


def page(**kw) -> Page:
    return Page("127.0.0.1:9092", kw.get("read_only", False), kw.get("hide_values", False), "tok")


def test_record_row_shows_bytes_as_text_never_markup():
    r = ConsumerRecord("t", 0, 7, 1_700_000_000_000, 0, XSS.encode(), XSS.encode(), ((XSS, XSS.encode()), ("bin", b"\x00\xff")))
    row = record_row("t", r, hide_values=False)
    assert "<script" not in row and "<img" not in row
    assert row.count(escape(XSS)) == 4  # key, value, header name and value
    assert 'data-kind="hex"' in row and "00 ff" in row
    hidden = record_row("t", r, hide_values=True)
    assert "hidden (" in hidden and hidden.count(escape(XSS)) == 3


def test_long_values_are_truncated_with_a_link():
    r = ConsumerRecord("t", 0, 1, 0, 0, None, b"y" * 5000, ())
    row = record_row("t", r, hide_values=False)
    assert "y" * 1024 in row and "y" * 1025 not in row and "4.9 KiB in all" in row
    assert '<a href="/topics/t/record?partition=0&amp;offset=1">show all</a>' in row
    assert 'data-testid="key">null<' in row


def test_pages_escape_names_and_messages():
    assert "<x>" not in error_page(page(), "T", "<x>") and "&lt;x&gt;" in error_page(page(), "T", "<x>")
    assert headers_cell(()) == ""


def test_read_only_pages_have_no_changing_controls():
    class Row:
        name, internal, partitions, replication, under_replicated, offline, size = "a", False, 1, 1, 0, 0, 10

    rw = topics_page(page(), [Row()], q="", internal=False, page_no=1, per_page=100)
    ro = topics_page(page(read_only=True), [Row()], q="", internal=False, page_no=1, per_page=100)
    assert "Create topic" in rw and "Create topic" not in ro and 'data-testid="read-only"' in ro


def test_topics_are_paged_and_searched():
    class Row:
        internal, partitions, replication, under_replicated, offline, size = False, 1, 1, 0, 0, None

        def __init__(self, name):
            self.name = name

    rows = [Row(f"t{i:03d}") for i in range(250)]
    p1 = topics_page(page(), rows, q="", internal=False, page_no=1, per_page=100)
    assert p1.count('data-testid="topic-row"') == 100 and "t099" in p1 and "t100" not in p1
    p3 = topics_page(page(), rows, q="", internal=False, page_no=9, per_page=100)  # past the end: the last page
    assert p3.count('data-testid="topic-row"') == 50
    q = topics_page(page(), rows, q="T01", internal=False, page_no=1, per_page=100)
    assert q.count('data-testid="topic-row"') == 10 and "10 of 250 topics" in q


def test_charts():
    assert 'data-samples="3"' in sparkline([5, None, 3, 0])
    assert "no lag samples" in sparkline([None, None])

    class S:
        def __init__(self, at, total):
            self.at_ms, self.total = at, total

    chart = lag_chart([S(1000, 10), S(2000, None), S(3000, 0)])
    assert 'data-samples="2"' in chart and "latest 0" in chart and "<polyline" in chart
    assert "No lag samples yet" in lag_chart([])


def test_cluster_health_counts_offline_and_under_replicated_partitions():
    from odradek.client import KafkaError
    from odradek.client.admin import ClusterDescription, LogDirDescription, ReplicaLogInfo
    from odradek.client.types import BrokerInfo, PartitionInfo, TopicInfo
    from odradek.console.service import build_overview
    from odradek.console.views import overview_page
    from odradek.protocol.errors import ErrorCode

    desc = ClusterDescription("cid", 1, [BrokerInfo(1, "h", 1), BrokerInfo(2, "h", 2)])
    topics = {
        "ok": TopicInfo("ok", {0: PartitionInfo(0, 1, (1, 2), (1, 2)), 1: PartitionInfo(1, 2, (2, 1), (2, 1))}),
        "urp": TopicInfo("urp", {0: PartitionInfo(0, 1, (1, 2), (1,))}),
        "gone": TopicInfo("gone", {0: PartitionInfo(0, -1, (3,), ()), 1: PartitionInfo(1, 3, (3,), (3,))}),  # broker 3 is not live
        "__consumer_offsets": TopicInfo("__consumer_offsets", {0: PartitionInfo(0, 2, (2,), (2,))}, internal=True),
    }
    dirs = {1: [LogDirDescription("/d", None, {TopicPartition("ok", 0): ReplicaLogInfo(100, 0)}, 1000, 400)],
            2: KafkaError(ErrorCode.unsupported_version, "no DescribeLogDirs")}
    ov = build_overview(desc, topics, dirs)
    assert ov.offline == [("gone", 0), ("gone", 1)] and ov.under_replicated == [("urp", 0)] and not ov.healthy
    assert (ov.topics, ov.internal_topics, ov.partitions) == (3, 1, 6)
    b1, b2 = ov.brokers
    assert (b1.controller, b1.leaders, b1.replicas, b1.log_bytes, b1.disk_total, b1.disk_usable) == (True, 2, 3, 100, 1000, 400)
    assert (b2.controller, b2.leaders, b2.replicas, b2.disk_total, b2.error) == (False, 2, 4, -1, None)
    text = overview_page(page(), ov)
    assert "2 offline, 1 under-replicated partition(s)" in text and text.count('data-testid="problems"') == 1
    healthy = build_overview(desc, {"ok": topics["ok"]}, {})
    assert healthy.healthy and "Healthy" in overview_page(page(), healthy)
    assert not build_overview(ClusterDescription("cid", -1, desc.brokers), {}, {}).healthy  # no controller
    silent = build_overview(desc, {"ok": topics["ok"]}, {2: KafkaError(ErrorCode.network_exception, "cannot connect")})
    assert silent.silent == [2] and not silent.healthy and "broker 2 not answering" in overview_page(page(), silent)


def test_lag_history_is_bounded():
    from odradek.client.admin import PartitionOffsets
    from odradek.console.parsing import ClientSettings
    from odradek.console.service import PARTITION_SAMPLES, ClusterService

    svc = ClusterService("127.0.0.1:1", ClientSettings(), lag_interval=0, lag_keep=100)
    for i in range(150):
        svc._remember("g", [PartitionOffsets("t", p, 100, i % 100) for p in range(3)], None)
    hist = list(svc.history["g"])
    assert len(hist) == 100 and all(s.total is not None for s in hist)
    assert [bool(s.partitions) for s in hist] == [False] * (100 - PARTITION_SAMPLES) + [True] * PARTITION_SAMPLES
    assert hist[-1].total == 3 * (100 - 149 % 100)
