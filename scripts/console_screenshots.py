#!/usr/bin/env python3
"""Screenshots of the web console for docs/console.md.

Starts ZooKeeper, three brokers and a console on free loopback ports, fills the cluster with a few
topics, records and a consumer group whose lag moves, then has Debian's headless Chromium (driven
by Playwright) photograph the main pages into docs/console/; last, one broker is killed and the
cluster page photographed again. Needs what the tests need (scripts/test installs it).
Usage: python3 scripts/console_screenshots.py
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "console"))
sys.path.insert(0, str(ROOT / "src"))

from console_support import ConsoleProcess, launch_chromium  # noqa: E402
from helpers import wait_for  # noqa: E402
from zk_cluster import Cluster, ZooKeeper  # noqa: E402
from odradek.client import NewTopic, TopicPartition  # noqa: E402
from odradek.client.sync import SyncAdmin, SyncConsumer, SyncProducer  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = ROOT / "docs" / "console"


def seed(bootstrap: str) -> SyncConsumer:
    rnd = random.Random(7)
    with SyncAdmin(bootstrap) as admin:
        admin.create_topics([
            NewTopic("orders", 3, 3, config={"retention.ms": "604800000", "min.insync.replicas": "2"}), NewTopic("payments", 2, 3),
            NewTopic("audit-log", 1, 2, config={"cleanup.policy": "compact"}), NewTopic("sensor-readings", 6, 2),
        ])
    dishes = ["pizza", "sushi", "ramen", "tacos", "falafel"]
    with SyncProducer(bootstrap, linger_ms=10) as p:
        futs = []
        for i in range(300):
            order = {"order": 1000 + i, "customer": f"c-{rnd.randint(1, 40)}", "dish": rnd.choice(dishes), "qty": rnd.randint(1, 4)}
            futs.append(p.send("orders", json.dumps(order), key=order["customer"], headers={"source": "web", "schema": "order-v1"}))
        for i in range(80):
            futs.append(p.send("payments", json.dumps({"order": 1000 + i, "amount": round(rnd.uniform(5, 60), 2)}), key=f"o-{1000 + i}"))
        futs.append(p.send("audit-log", bytes(rnd.getrandbits(8) for _ in range(48)), key="binary-entry"))
        futs.append(p.send("audit-log", "<script>alert('not run')</script>", key="html-looking"))
        for i in range(600):
            futs.append(p.send("sensor-readings", f"{20 + rnd.random() * 5:.2f}", key=f"sensor-{i % 24}"))
        for f in futs:
            f.result()
    consumer = SyncConsumer(bootstrap, group_id="kitchen", auto_offset_reset="earliest", enable_auto_commit=False,
                            session_timeout_ms=10000, heartbeat_interval_ms=500, client_id="kitchen-display")
    consumer.subscribe(["orders"])
    wait_for(lambda: consumer.poll(0.2) is not None and len(consumer.assignment()) == 3, 30, what="assignment")
    return consumer


def move_lag(bootstrap: str, consumer: SyncConsumer, seconds: float) -> None:
    """More orders arrive while the kitchen catches up: the lag rises, then falls."""
    ends = {p: 0 for p in range(3)}
    committed = {p: 0 for p in range(3)}
    with SyncAdmin(bootstrap) as admin:
        for p, (_s, e) in admin.topic_offsets("orders").items():
            ends[p] = e
    deadline = time.monotonic() + seconds
    step = 0
    with SyncProducer(bootstrap) as prod:
        while time.monotonic() < deadline:
            step += 1
            if step < 8:
                for f in [prod.send("orders", json.dumps({"order": 5000 + step * 10 + i, "dish": "pizza"}), partition=i % 3) for i in range(30)]:
                    ends[f.result().partition] = f.result().offset + 1
            for p in committed:
                committed[p] = min(ends[p], committed[p] + (10 if step < 8 else 45))
            consumer.commit({TopicPartition("orders", p): o for p, o in committed.items()})
            time.sleep(0.5)
    consumer.commit({TopicPartition("orders", p): max(0, o - 12) for p, o in committed.items()})


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        zk = ZooKeeper(Path(tmp)).start()
        cluster = Cluster(Path(tmp), zk, 3, {"offsets.topic.replication.factor": "3", "default.replication.factor": "3"}).start()
        console = ConsoleProcess(cluster.bootstrap, Path(tmp), "--lag-interval", "0.5").start()
        consumer = None
        try:
            consumer = seed(cluster.bootstrap)
            move_lag(cluster.bootstrap, consumer, 9)
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.set_default_timeout(20_000)

                def shot(name: str, path: str, wait: str | None = None, full: bool = False) -> None:
                    page.goto(console.url + path)
                    if wait:
                        page.wait_for_selector(wait)
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)
                    print("wrote", OUT / f"{name}.png")

                shot("cluster", "/")
                shot("topics", "/topics")
                shot("topic", "/topics/orders")
                shot("messages", "/topics/orders/messages?partition=0&mode=earliest&limit=8&run=1", "[data-scan-status][data-state=done]")
                shot("messages-binary", "/topics/audit-log/messages?mode=earliest&run=1", "[data-scan-status][data-state=done]")
                shot("produce", "/topics/orders/produce")
                shot("groups", "/groups")
                shot("group", "/groups/kitchen", "[data-testid=lag-chart]", full=True)
                consumer.close()
                consumer = None
                shot("reset-preview", "/groups/kitchen/reset?topic=orders&strategy=earliest")
                cluster.brokers[2].kill()
                # once ZooKeeper has let the broker go: two brokers left, its partitions under-replicated
                wait_for(lambda: "<dt>Brokers</dt><dd>2</dd>" in page.goto(console.url + "/").text(), 60, what="the cluster page to see the lost broker")
                shot("cluster-degraded", "/")
                browser.close()
        finally:
            if consumer is not None:
                consumer.close()
            console.stop()
            cluster.stop()
            zk.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
