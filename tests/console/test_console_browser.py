"""The console in a real browser: Debian's headless Chromium driven by Playwright, against a real
Odradek broker (reached through a proxy that can stall or refuse), one browser for the module.

Create a topic, produce through the page and see the message; a value holding <script> shows as
text; filter and cancel a scan; follow a group's lag as its consumer catches up; reset offsets
with a preview; read-only mode; an unreachable cluster and the page recovering."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from console_support import launch_chromium, wait_log
from helpers import wait_for
from odradek.client import NewTopic, TopicPartition
from odradek.client.sync import SyncAdmin, SyncConsumer, SyncProducer

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'

# generous deadlines: the machine is shared and may be loaded (assertions are on outcomes)
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture(scope="module")
def console(proxied_broker, consoles):
    return consoles(proxied_broker.bootstrap, "--lag-interval", "0.5")


@pytest.fixture(scope="module")
def ro_console(proxied_broker, consoles):
    return consoles(proxied_broker.bootstrap, "--read-only", "--lag-interval", "0")


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    errors: list = []
    dialogs: list = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()
    assert errors == [], "JavaScript errors on the page"
    assert dialogs == [], "a dialog opened (script injection?)"


def test_create_a_topic_produce_and_see_the_message(page, console, proxied_broker):
    page.goto(console.url + "/topics")
    page.get_by_test_id("create-topic").click()
    page.get_by_label("Name").fill("orders")
    page.get_by_label("Partitions").fill("2")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Topic orders")).to_be_visible()
    expect(page.get_by_test_id("notice-ok")).to_have_text("Topic orders created.")
    expect(page.get_by_test_id("partition-row")).to_have_count(2)

    page.get_by_test_id("produce-link").click()
    page.get_by_test_id("produce-partition").select_option("1")
    page.get_by_test_id("produce-key").fill("alice")
    page.get_by_test_id("produce-value").fill('{"dish": "pizza", "qty": 2}')
    page.get_by_test_id("produce-headers").fill("origin: browser")
    page.get_by_test_id("produce-send").click()
    expect(page.get_by_test_id("notice-ok")).to_contain_text("Produced to partition 1 at offset 0.")

    page.get_by_role("link", name="See it").click()
    row = page.get_by_test_id("record")
    expect(row).to_have_count(1)
    expect(page.get_by_test_id("scan-status")).to_contain_text("reached the end")
    value = row.get_by_test_id("value")
    expect(value).to_have_attribute("data-kind", "json")
    expect(value).to_have_text('{\n  "dish": "pizza",\n  "qty": 2\n}')
    expect(row.get_by_test_id("key")).to_have_text("alice")
    expect(row.locator("ul.headers")).to_have_text("origin: browser")
    assert row.get_attribute("data-partition") == "1" and row.get_attribute("data-offset") == "0"
    with SyncAdmin(proxied_broker.bootstrap) as admin:
        assert admin.topic_offsets("orders") == {0: (0, 0), 1: (0, 1)}


def test_a_value_holding_script_markup_shows_as_text(page, console, proxied_broker):
    with SyncAdmin(proxied_broker.bootstrap) as admin:
        admin.create_topics([NewTopic("xss", 1)])
    with SyncProducer(proxied_broker.bootstrap) as p:
        p.send("xss", XSS, key="<b>k</b>", headers=[("<h1>", b"<img src=x onerror=alert(3)>")]).result()
    page.goto(console.url + "/topics/xss/messages?run=1")
    row = page.get_by_test_id("record")
    expect(row).to_have_count(1)
    assert row.get_by_test_id("value").text_content() == XSS
    assert row.get_by_test_id("key").text_content() == "<b>k</b>"
    assert row.locator("ul.headers").text_content() == "<h1>: <img src=x onerror=alert(3)>"
    assert page.locator("[data-testid=records] img, [data-testid=records] script, [data-testid=records] b, [data-testid=records] h1").count() == 0
    row.get_by_role("link", name="0").click()  # the record's own page
    expect(page.get_by_test_id("value")).to_have_text(XSS)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_filter_and_cancel_a_scan(page, console, proxied_broker):
    with SyncAdmin(proxied_broker.bootstrap) as admin:
        admin.create_topics([NewTopic("menu", 2)])
    with SyncProducer(proxied_broker.bootstrap) as p:
        for f in [p.send("menu", f"dish {i}" + (" spicy" if i % 10 == 3 else ""), key=f"k{i}") for i in range(60)]:
            f.result()
    page.goto(console.url + "/topics/menu/messages")
    page.get_by_test_id("scan-mode").select_option("earliest")
    page.get_by_test_id("scan-filter").fill("SPICY")
    page.get_by_test_id("scan-run").click()
    expect(page.get_by_test_id("scan-status")).to_contain_text("6 shown, 60 looked at")
    expect(page.get_by_test_id("record")).to_have_count(6)
    assert "filter=SPICY" in page.url and "mode=earliest" in page.url  # the filter stays in the URL

    # a scan that stopped at its limit continues exactly where it stopped
    page.goto(console.url + "/topics/menu/messages?partition=1&mode=earliest&limit=5&run=1")
    expect(page.get_by_test_id("record")).to_have_count(5)
    page.get_by_test_id("scan-continue").click()
    expect(page.get_by_test_id("scan-mode")).to_have_value("cursor")
    expect(page.get_by_test_id("record")).to_have_count(5)
    expect(page.get_by_test_id("record").first).to_have_attribute("data-offset", "5")

    proxied_broker.proxy.stall()  # the cluster hangs: the scan cannot finish by itself
    try:
        page.get_by_test_id("scan-filter").fill("")
        page.get_by_test_id("scan-run").click()
        expect(page.get_by_test_id("scan-status")).to_have_text("Scanning…")
        page.get_by_test_id("scan-cancel").click()
        expect(page.get_by_test_id("scan-status")).to_have_text("Cancelled: 0 shown.")
        wait_log(console, r"scan of menu cancelled: the browser went away")
    finally:
        proxied_broker.proxy.resume()
    expect(page.get_by_test_id("scan-run")).to_be_enabled()


def test_follow_a_groups_lag_as_its_consumer_catches_up_then_reset_offsets(page, console, proxied_broker):
    b = proxied_broker.bootstrap
    with SyncAdmin(b) as admin:
        admin.create_topics([NewTopic("tickets", 2)])
    with SyncProducer(b) as p:
        for f in [p.send("tickets", f"t{i}", partition=i % 2) for i in range(40)]:
            f.result()
    consumer = SyncConsumer(b, group_id="kitchen", auto_offset_reset="earliest", enable_auto_commit=False,
                            session_timeout_ms=10000, heartbeat_interval_ms=500)
    try:
        consumer.subscribe(["tickets"])
        wait_for(lambda: consumer.poll(0.2) is not None and len(consumer.assignment()) == 2, 30, what="the consumer's assignment")
        consumer.commit({TopicPartition("tickets", 0): 5, TopicPartition("tickets", 1): 5})
        page.goto(console.url + "/groups")
        page.get_by_role("link", name="kitchen").click()
        expect(page.get_by_test_id("group-state")).to_have_text("Stable")
        expect(page.get_by_test_id("total-lag")).to_have_text("30")
        expect(page.get_by_test_id("lag-row")).to_have_count(2)

        # the consumer catches up; the page follows by itself (it refreshes the lag section)
        consumer.commit({TopicPartition("tickets", 0): 15, TopicPartition("tickets", 1): 20})
        expect(page.get_by_test_id("total-lag")).to_have_text("5")
        consumer.commit({TopicPartition("tickets", 0): 20, TopicPartition("tickets", 1): 20})
        expect(page.get_by_test_id("total-lag")).to_have_text("0")
        chart = page.get_by_test_id("lag-chart")
        wait_for(lambda: int(chart.get_attribute("data-samples") or 0) >= 3, 20, what="lag samples in the chart")
        assert re.search(r"latest 0", chart.get_attribute("aria-label"))
        expect(page.get_by_test_id("lag-row").first.locator("svg.spark polyline")).to_have_count(1)
    finally:
        consumer.close()

    # offsets reset with a preview, once the group is empty
    page.reload()
    expect(page.get_by_test_id("group-state")).to_have_text("Empty")
    page.get_by_test_id("reset-topic").select_option("tickets")
    page.get_by_test_id("reset-strategy").select_option("shift")
    page.get_by_test_id("reset-value").fill("-7")
    page.get_by_test_id("reset-preview").click()
    expect(page.get_by_test_id("reset-new")).to_have_text(["13", "13"])
    with SyncAdmin(b) as admin:
        assert {tp.partition: o.offset for tp, o in admin.list_group_offsets("kitchen").items()} == {0: 20, 1: 20}
    page.get_by_test_id("reset-apply").click()
    expect(page.get_by_test_id("notice-ok")).to_have_text("Committed new offsets for 2 partitions.")
    expect(page.get_by_test_id("total-lag")).to_have_text("14")
    with SyncAdmin(b) as admin:
        assert {tp.partition: o.offset for tp, o in admin.list_group_offsets("kitchen").items()} == {0: 13, 1: 13}


def test_read_only_mode_shows_no_changes_and_refuses_them(page, ro_console, proxied_broker):
    page.goto(ro_console.url + "/topics")
    expect(page.get_by_test_id("read-only")).to_be_visible()
    expect(page.get_by_test_id("topic-row").first).to_be_visible()
    expect(page.get_by_test_id("create-topic")).to_have_count(0)
    page.get_by_role("link", name="orders", exact=True).click()
    expect(page.get_by_test_id("partition-row")).to_have_count(2)
    for testid in ("produce-link", "config-form", "delete-form"):
        expect(page.get_by_test_id(testid)).to_have_count(0)
    page.goto(ro_console.url + "/groups/kitchen")
    expect(page.get_by_test_id("lag-section")).to_be_visible()
    expect(page.get_by_test_id("reset-form")).to_have_count(0)
    status = page.evaluate("""async () => (await fetch('/topics', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                                                               body: 'name=from-read-only'})).status""")
    assert status == 403
    page.goto(ro_console.url + "/new-topic")
    expect(page.get_by_role("alert")).to_have_text("This console is read-only: changing actions are refused.")
    with SyncAdmin(proxied_broker.bootstrap) as admin:
        assert "from-read-only" not in admin.list_topics()


def test_an_unreachable_cluster_shows_and_the_page_recovers(page, console, proxied_broker):
    proxied_broker.proxy.refuse()
    try:
        page.goto(console.url + "/topics")
        expect(page.get_by_test_id("unreachable")).to_contain_text("is unreachable")
    finally:
        proxied_broker.proxy.resume()
    # the page reloads itself every 5 s and shows the topics once the cluster answers again
    expect(page.get_by_role("heading", name="Topics")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("link", name="orders", exact=True)).to_be_visible()
