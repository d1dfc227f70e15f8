"""The console over HTTP against a real Odradek broker: CSRF, read-only, hidden values, basic auth,
bad input, bounded scans, produce, configs, groups and offset resets, a cluster that hangs or goes
away. (The same pages in a real browser: test_console_browser.py.)"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest

from console_support import Session, wait_log
from helpers import ROOT, wait_for
from odradek.client import NewTopic, TopicPartition
from odradek.client.sync import SyncAdmin, SyncConsumer, SyncProducer
from odradek.console.security import hash_password

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def cluster(proxied_broker):
    b = proxied_broker.bootstrap
    with SyncAdmin(b) as admin:
        admin.create_topics([NewTopic("web", 3), NewTopic("many", 2), NewTopic("secret", 1)])
    with SyncProducer(b, linger_ms=20) as p:
        p.send("web", XSS, key="<b>key</b>", partition=0, headers=[("<h>", b"<i>header</i>")]).result()
        p.send("web", '{"dish": "pizza", "n": 1}', key="alice", partition=1).result()
        p.send("web", bytes(range(200)), key=None, partition=2).result()
        p.send("web", "x" * 5000, key="big", partition=2).result()
        futs = [p.send("many", f"value-{i:03d}" + (" needle" if i % 50 == 7 else ""), key=f"k{i}", partition=i % 2) for i in range(300)]
        for f in futs:
            f.result()
        p.send("secret", "the-password-is-swordfish", key="visible-key").result()
    return proxied_broker


@pytest.fixture(scope="module")
def console(cluster, consoles):
    return consoles(cluster.bootstrap, "--lag-interval", "0.5", "--log-format", "json")


@pytest.fixture
def s(console):
    return Session(console.url)


def stream(s: Session, topic: str, **params) -> list[dict]:
    from urllib.parse import urlencode

    r = s.get(f"/topics/{topic}/messages/stream?" + urlencode(params))
    events = r.lines()
    assert events, r.text
    return events


def records(events: list[dict]) -> list[tuple[int, int]]:
    out = []
    for e in events:
        if e["type"] == "record":
            m = re.search(r'data-partition="(\d+)" data-offset="(\d+)"', e["html"])
            out.append((int(m.group(1)), int(m.group(2))))
    return out


# ---------------------------------------------------------------------------- pages and escaping


def test_pages_render_and_values_are_escaped(s, cluster):
    r = s.get("/")
    assert r.status == 200 and 'data-testid="health"' in r.text and "Healthy" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert "odradek_csrf" in s.cookies
    r = s.get("/topics")
    assert r.status == 200 and all(f">{t}</a>" in r.text for t in ("web", "many", "secret"))
    r = s.get("/topics?q=MAN")
    assert ">many</a>" in r.text and ">web</a>" not in r.text
    r = s.get("/topics/web")
    assert r.status == 200 and r.text.count('data-testid="partition-row"') == 3
    assert "retention.ms" in r.text and "High watermark" in r.text

    events = stream(s, "web", mode="newest", limit=10)
    html = "".join(e["html"] for e in events if e["type"] == "record")
    assert events[-1]["type"] == "done" and events[-1]["reason"] == "end" and len(records(events)) == 4
    assert "<script>" not in html and "<img" not in html and "<b>key" not in html and "<i>header" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in html
    assert "&lt;h&gt;" in html and "&lt;i&gt;header&lt;/i&gt;" in html
    assert 'data-kind="json"' in html and '{\n  &quot;dish&quot;: &quot;pizza&quot;,\n' in html  # pretty-printed JSON
    assert 'data-kind="hex"' in html and "00 01 02 03" in html
    assert "4.9 KiB in all" in html and "show all" in html  # truncated, with a way to see more

    r = s.get("/topics/web/record?partition=2&offset=1")
    assert r.status == 200 and "x" * 5000 in r.text
    r = s.get("/topics/web/record/raw?partition=2&offset=0&part=value")
    assert r.status == 200 and r.body == bytes(range(200)) and "attachment" in r.headers["content-disposition"]


def test_bad_input_gets_a_clear_message(s, cluster):
    r = s.get("/topics/bad%20name")
    assert r.status == 400 and "is not a topic name" in r.text and "ASCII" in r.text
    r = s.get("/topics/no-such-topic")
    assert r.status == 404 and "Topic &#x27;no-such-topic&#x27; does not exist." in r.text
    r = s.get("/topics/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status == 400 and "<script>alert" not in r.text
    r = s.get("/topics/web/messages/stream?mode=offset&offset=abc")
    assert r.status == 400 and r.lines() == [{"type": "error", "message": "The offset must be a whole number, not 'abc'."}]
    r = s.get("/topics/web/messages/stream?mode=timestamp&timestamp=yesterday")
    assert "Cannot read the timestamp 'yesterday'" in r.lines()[0]["message"]
    r = s.get("/topics/web/messages/stream?mode=newest&partition=7")
    assert r.lines() == [{"type": "error", "message": "Topic 'web' has partitions 0 to 2; there is no partition 7."}]
    r = s.get("/topics/web/messages?run=1&mode=offset&offset=-3")
    assert r.status == 200 and "must be at least 0" in r.text
    r = s.get("/topics/web/record?partition=0&offset=99")
    assert r.status == 200 and "past the end of partition 0" in r.text
    r = s.get("/topics/web/record?partition=x&offset=0")
    assert r.status == 400 and "The partition must be a whole number" in r.text
    r = s.get("/nowhere")
    assert r.status == 404


def test_only_loopback_host_names_are_served(s, consoles, cluster):
    """A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) cannot read the console."""
    assert s.get("/topics", headers={"Host": "attacker.example:80"}).status == 403
    assert s.get("/topics", headers={"Host": f"localhost:{s.port}"}).status == 200
    assert s.get("/topics", headers={"Host": f"127.0.0.1:{s.port}"}).status == 200
    c = consoles(cluster.bootstrap, "--allow-host", "console.internal", "--lag-interval", "0")
    assert Session(c.url).get("/", headers={"Host": "console.internal"}).status == 200
    assert Session(c.url).get("/", headers={"Host": "other.internal"}).status == 403


def test_changes_need_a_csrf_token_from_this_site(s, cluster):
    token = s.get("/new-topic").csrf()
    r = s.post("/topics", {"name": "csrf-less", "partitions": "1"}, follow=False)
    assert r.status == 403 and "reload the page" in r.text
    r = s.post("/topics", {"name": "csrf-less", "partitions": "1", "_csrf": "0" * 64}, follow=False)
    assert r.status == 403
    r = s.post("/topics", {"name": "csrf-less", "partitions": "1", "_csrf": token}, headers={"Origin": "http://evil.example"}, follow=False)
    assert r.status == 403
    other = Session(s.base)  # another browser: its own cookie, so this token is not valid for it
    other.get("/")
    assert other.post("/topics", {"name": "csrf-less", "partitions": "1", "_csrf": token}, follow=False).status == 403
    with SyncAdmin(cluster.bootstrap) as admin:
        assert "csrf-less" not in admin.list_topics()
    r = s.post("/topics", {"name": "csrf-ok", "partitions": "2", "configs": "retention.ms=3600000", "_csrf": token}, follow=False)
    assert r.status == 303 and r.headers["location"].startswith("/topics/csrf-ok?flash=")
    r = s.get(r.headers["location"])
    assert "Topic csrf-ok created." in r.text and r.text.count('data-testid="partition-row"') == 2
    with SyncAdmin(cluster.bootstrap) as admin:
        assert admin.describe_configs("topic", "csrf-ok", ["retention.ms"])["retention.ms"].value == "3600000"


def test_create_topic_errors_are_shown_in_the_form(s, cluster):
    token = s.get("/new-topic").csrf()
    r = s.post("/topics", {"name": "bad/name", "_csrf": token})
    assert r.status == 400 and "ASCII" in r.text and 'value="bad/name"' in r.text
    r = s.post("/topics", {"name": "zero", "partitions": "0", "_csrf": token})
    assert r.status == 400 and "The number of partitions must be at least 1, not 0." in r.text
    r = s.post("/topics", {"name": "web", "_csrf": token})
    assert r.status == 400 and "TOPIC_ALREADY_EXISTS" in r.text
    r = s.post("/topics", {"name": "badcfg", "configs": "retention.ms=soon", "_csrf": token})
    assert r.status == 400 and "INVALID_CONFIG" in r.text


def test_produce_through_the_form(s, cluster):
    page = s.get("/topics/web/produce")
    token = page.csrf()
    r = s.post("/topics/web/produce", {"partition": "1", "key": "bob", "value": "sushi", "headers": "origin: form\ntrace: 42", "_csrf": token})
    assert r.status == 200 and "Produced to partition 1 at offset" in r.text
    offset = int(re.search(r'data-testid="produced-offset">(\d+)<', r.text).group(1))
    r = s.post("/topics/web/produce", {"partition": "1", "key": "bob", "null_value": "1", "_csrf": token})
    assert "Produced to partition 1" in r.text
    with SyncConsumer(cluster.bootstrap) as c:
        tp = TopicPartition("web", 1)
        c.assign([tp])
        c.seek(tp, offset)
        got = []
        wait_for(lambda: got.extend(c.poll(0.5)) or len(got) >= 2, 20, what="the produced records")
    assert (got[0].key, got[0].value, got[0].headers) == (b"bob", b"sushi", (("origin", b"form"), ("trace", b"42")))
    assert got[1].value is None
    r = s.post("/topics/web/produce", {"partition": "9", "value": "v", "_csrf": token})
    assert r.status == 400 and "there is no partition 9" in r.text
    r = s.post("/topics/web/produce", {"value": "v", "headers": "no colon here", "_csrf": token})
    assert r.status == 400 and "Header line 1 must be" in r.text and "no colon here" in r.text


def test_topic_configs_are_edited_and_topics_deleted(s, cluster):
    with SyncAdmin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("doomed", 1)])
        token = s.get("/topics/doomed").csrf()
        r = s.post("/topics/doomed/config", {"key": "retention.ms", "value": "7200000", "op": "set", "_csrf": token})
        assert r.status == 200 and "retention.ms set to" in r.text
        assert admin.describe_configs("topic", "doomed", ["retention.ms"])["retention.ms"].value == "7200000"
        r = s.post("/topics/doomed/config", {"key": "retention.ms", "value": "soon", "op": "set", "_csrf": token})
        assert r.status == 400 and "INVALID_CONFIG" in r.text and 'value="soon"' in r.text
        r = s.post("/topics/doomed/config", {"key": "retention.ms", "op": "delete", "_csrf": token})
        assert r.status == 200 and "reverted to its default" in r.text
        assert admin.describe_configs("topic", "doomed", ["retention.ms"])["retention.ms"].default
        r = s.post("/topics/doomed/delete", {"confirm": "doome", "_csrf": token})
        assert r.status == 400 and "exact name" in r.text
        assert "doomed" in admin.list_topics()
        r = s.post("/topics/doomed/delete", {"confirm": "doomed", "_csrf": token})
        assert r.status == 200 and "Topic doomed deleted." in r.text
        assert "doomed" not in admin.list_topics()


# ---------------------------------------------------------------------------- scans


def test_scans_are_bounded_and_continue_where_they_stopped(s, cluster):
    events = stream(s, "many", mode="earliest", limit=100)
    done = events[-1]
    assert done["type"] == "done" and done["reason"] == "limit" and done["matched"] == 100
    first = records(events)
    assert len(first) == 100
    more = done["more_url"]
    assert "mode=cursor" in more
    events = s.get(more.replace("/messages?", "/messages/stream?", 1)).lines()
    second = records(events)
    assert len(second) == 100 and not set(first) & set(second)
    for p in (0, 1):  # each partition continues right after what the first page showed: no gap, no repeat
        offsets = sorted(o for q, o in first + second if q == p)
        assert offsets == list(range(len(offsets)))

    events = stream(s, "many", mode="earliest", limit=50, filter="NEEDLE")
    assert len(records(events)) == 6 and events[-1]["reason"] == "end" and events[-1]["scanned"] == 300
    events = stream(s, "many", mode="newest", limit=3, filter="needle")
    assert records(events) == [(1, 128), (1, 103), (1, 78)] and events[-1]["reason"] == "end"  # newest first
    events = stream(s, "many", mode="newest", limit=4, partition=1)
    assert records(events) == [(1, 149), (1, 148), (1, 147), (1, 146)]
    events = stream(s, "many", mode="offset", offset=140, partition=1, limit=5)
    assert records(events) == [(1, o) for o in range(140, 145)]
    events = stream(s, "many", mode="offset", offset=1000, partition=1)
    assert records(events) == [] and "past the end of partition 1" in events[-1]["note"]
    events = stream(s, "many", mode="timestamp", timestamp="-1d", limit=2, partition=0)
    assert records(events) == [(0, 0), (0, 1)]
    events = stream(s, "many", mode="timestamp", timestamp=str(int(time.time() * 1000) + 3_600_000))
    assert records(events) == [] and events[-1]["reason"] == "end"


def test_a_scan_stops_when_the_browser_goes_away(console, cluster):
    """The cluster hangs (the proxy stops passing its answers) while a scan runs; the browser
    closes the connection; the console stops the scan at once rather than at its time limit."""
    cluster.proxy.stall()
    try:
        with socket.create_connection(("127.0.0.1", console.port), timeout=10) as sock:
            sock.sendall(f"GET /topics/many/messages/stream?mode=earliest HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\n\r\n".encode())
            head = sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 200") and b"application/x-ndjson" in head
        started = time.monotonic()
        line = wait_log(console, r"scan of many cancelled")
        assert time.monotonic() - started < 10
        assert json.loads(line)["connection"].startswith("127.0.0.1:")
    finally:
        cluster.proxy.resume()


# ---------------------------------------------------------------------------- groups


def test_group_lag_and_offset_reset(s, cluster):
    b = cluster.bootstrap
    c = SyncConsumer(b, group_id="billing", auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
    c.subscribe(["many"])
    got: list = []
    wait_for(lambda: got.extend(c.poll(0.5)) or len(got) >= 300, 30, what="the group to read everything")
    c.commit({TopicPartition("many", 0): 100, TopicPartition("many", 1): 120})
    r = s.get("/groups")
    assert r.status == 200 and ">billing</a>" in r.text
    r = s.get("/groups/billing")
    assert r.status == 200 and 'data-testid="total-lag">80<' in r.text and "Stable" in r.text

    # a preview changes nothing; applying while the consumer is in the group is refused
    r = s.get("/groups/billing/reset?topic=many&strategy=earliest")
    token = r.csrf()
    assert r.status == 200 and r.text.count('data-testid="reset-row"') == 2 and "applying will be refused" in r.text
    r = s.post("/groups/billing/reset", {"offsets": "many:0:0,many:1:0", "_csrf": token})
    assert r.status == 409 and "can only be reset while group &#x27;billing&#x27; is inactive" in r.text
    c.close()

    def committed():
        with SyncAdmin(b) as admin:
            return {tp.partition: om.offset for tp, om in admin.list_group_offsets("billing").items()}

    assert committed() == {0: 100, 1: 120}
    r = s.get("/groups/billing/reset?topic=many&partition=1&strategy=shift&value=-500")
    assert re.findall(r'data-testid="reset-new">(\d+)<', r.text) == ["0"] and "before the log start" in r.text
    r = s.get("/groups/billing/reset?topic=many&strategy=offset&value=140")
    assert re.findall(r'data-testid="reset-new">(\d+)<', r.text) == ["140", "140"]
    r = s.get("/groups/billing/reset?strategy=latest")
    assert re.findall(r'data-testid="reset-new">(\d+)<', r.text) == ["150", "150"]
    r = s.get("/groups/billing/reset?topic=many&strategy=timestamp&value=-1d")
    assert re.findall(r'data-testid="reset-new">(\d+)<', r.text) == ["0", "0"]
    r = s.get("/groups/billing/reset?topic=many&strategy=offset&value=x1")
    assert r.status == 400 and "The offset must be a whole number" in r.text
    r = s.get("/groups/billing/reset?topic=many&strategy=sideways")
    assert r.status == 400 and "Unknown reset strategy" in r.text
    assert committed() == {0: 100, 1: 120}

    r = s.get("/groups/billing/reset?topic=many&strategy=shift&value=-10")
    plan = re.search(r'name="offsets" value="([^"]+)"', r.text).group(1)
    assert plan == "many:0:90,many:1:110"
    r = s.post("/groups/billing/reset", {"offsets": plan, "_csrf": token})
    assert r.status == 200 and "Committed new offsets for 2 partitions." in r.text
    assert committed() == {0: 90, 1: 110}
    assert 'data-testid="total-lag">100<' in s.get("/groups/billing").text
    r = s.get("/groups/no-such-group")
    assert r.status == 404 and "does not exist" in r.text


# ---------------------------------------------------------------------------- modes


def test_read_only_refuses_and_hides_changes(cluster, consoles, s):
    ro = consoles(cluster.bootstrap, "--read-only", "--lag-interval", "0")
    r = Session(ro.url)
    for path in ("/", "/topics", "/topics/web", "/topics/web/messages", "/groups"):
        page = r.get(path)
        assert page.status == 200 and 'data-testid="read-only"' in page.text
        assert 'method="post"' not in page.text and "Create topic" not in page.text and "Produce" not in page.text
    assert r.get("/new-topic").status == 403
    assert r.get("/topics/web/produce").status == 403
    assert r.get("/groups/billing/reset?strategy=earliest").status == 403
    token = s.get("/new-topic").csrf()  # a valid token from the read-write console is no use here either
    r.cookies = dict(s.cookies)
    for path, form in (("/topics", {"name": "ro-topic"}), ("/topics/web/produce", {"value": "v"}), ("/topics/web/delete", {"confirm": "web"}),
                       ("/topics/web/config", {"key": "retention.ms", "value": "1"}), ("/groups/billing/reset", {"offsets": "many:0:0"})):
        resp = r.post(path, dict(form, _csrf=token), follow=False)
        assert resp.status == 403 and "read-only" in resp.text, path
    with SyncAdmin(cluster.bootstrap) as admin:
        assert "ro-topic" not in admin.list_topics() and "web" in admin.list_topics()


def test_hide_values(cluster, consoles):
    hv = consoles(cluster.bootstrap, "--hide-values", "--lag-interval", "0")
    s = Session(hv.url)
    events = stream(s, "secret", mode="newest")
    html = "".join(e["html"] for e in events if e["type"] == "record")
    assert "visible-key" in html and "hidden (25 B)" in html and "swordfish" not in html
    # a filter cannot be used to guess values
    assert records(stream(s, "secret", mode="earliest", filter="swordfish")) == []
    assert len(records(stream(s, "secret", mode="earliest", filter="visible"))) == 1
    page = s.get("/topics/secret/record?partition=0&offset=0")
    assert "swordfish" not in page.text and "visible-key" in page.text
    assert s.get("/topics/secret/record/raw?partition=0&offset=0&part=value").status == 403
    assert s.get("/topics/secret/record/raw?partition=0&offset=0&part=key").body == b"visible-key"


def test_basic_auth(cluster, consoles, tmp_path):
    pw = tmp_path / "passwords"
    pw.write_text(f"# console users\nalice:wonderland\nbob:{hash_password('builder', iterations=1000)}\n")
    c = consoles(cluster.bootstrap, "--password-file", str(pw), "--lag-interval", "0")
    assert Session(c.url).get("/").status == 401
    assert 'Basic realm="Odradek console"' in Session(c.url).get("/topics").headers["www-authenticate"]
    assert Session(c.url, auth=("alice", "wrong")).get("/").status == 401
    assert Session(c.url, auth=("mallory", "wonderland")).get("/").status == 401
    assert Session(c.url).get("/healthz").status == 200
    page = Session(c.url, auth=("alice", "wonderland")).get("/")
    assert page.status == 200 and ">alice<" in page.text
    assert Session(c.url, auth=("bob", "builder")).get("/topics").status == 200
    assert Session(c.url, auth=("bob", "wonderland")).get("/topics").status == 401


def run_console(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "odradek", "console", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))


def test_start_up_refusals(tmp_path):
    r = run_console("--listen", "0.0.0.0:0")
    assert r.returncode == 2 and "not a loopback address, without --password-file" in r.stderr
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n")
    r = run_console("--command-config", str(props))
    assert r.returncode == 2 and "PLAIN needs a user name and a password" in r.stderr
    props.write_text("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=secret\n")
    r = run_console("--command-config", str(props))
    assert r.returncode == 2 and "sasl.jaas.config: a JAAS entry starts with a login module class" in r.stderr
    r = run_console("--password-file", str(tmp_path / "missing"))
    assert r.returncode == 2 and "cannot read the password file" in r.stderr
    r = run_console("--listen", "localhost")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    r = subprocess.run([sys.executable, "-m", "odradek", "console", "--hash-password"], input="s3cret\n", capture_output=True, text=True,
                       timeout=60, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, cwd=str(ROOT))
    assert r.returncode == 0 and r.stdout.startswith("pbkdf2_sha256$")


def test_client_settings_and_json_logs(cluster, consoles, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("client.id=ops-console\nrequest.timeout.ms=5000\nlinger.ms=3\n")
    c = consoles(cluster.bootstrap, "--command-config", str(props), "--log-format", "json", "--lag-interval", "0")
    Session(c.url).get("/topics/web")
    wait_log(c, r'"path": "/topics/web"')
    lines = [json.loads(x) for x in c.log_text().splitlines() if x.strip()]
    assert any(x.get("msg", "").startswith("console listening") and x["client_id"] == "ops-console" for x in lines)
    assert any("linger.ms is not used" in x["msg"] for x in lines)
    access = [x for x in lines if x["logger"] == "odradek.console.access" and x["path"] == "/topics/web"]
    assert access and access[0]["status"] == 200 and access[0]["connection"].startswith("127.0.0.1:")


def test_an_unreachable_cluster_shows_and_the_page_recovers(cluster, console):
    s = Session(console.url)
    assert s.get("/").status == 200
    cluster.proxy.refuse()
    try:
        started = time.monotonic()
        r = s.get("/topics")
        assert r.status == 503 and 'data-testid="unreachable"' in r.text and 'http-equiv="refresh"' in r.text
        assert time.monotonic() - started < 5  # said at once, not after the request timeout
        line = json.loads(wait_log(console, r"cluster unreachable"))
        assert line["client_id"] == "odradek-console" and line["connection"].startswith("127.0.0.1:") and line["path"] == "/topics"
        assert s.get("/groups/billing?fragment=lag").status == 503
    finally:
        cluster.proxy.resume()
    wait_for(lambda: s.get("/topics").status == 200, 30, what="the console to reach the cluster again")
    assert ">web</a>" in s.get("/topics").text


def test_admin_describe_log_dirs(cluster):
    """The client call behind the sizes and disk figures the console shows."""
    with SyncAdmin(cluster.bootstrap) as admin:
        dirs = admin.describe_log_dirs()
        only = admin.describe_log_dirs(topics=["web"])
    (node, result), = dirs.items()
    assert node == 0 and len(result) == 1 and result[0].error is None
    d = result[0]
    assert d.total_bytes > 0 and 0 <= d.usable_bytes <= d.total_bytes
    assert d.replicas[TopicPartition("many", 0)].size > 0 and d.replicas[TopicPartition("many", 0)].offset_lag == 0
    assert {tp.topic for tp in only[0][0].replicas} == {"web"} and len(only[0][0].replicas) == 3


def test_console_over_sasl_ssl(consoles, tmp_path):
    """--command-config with Kafka's client properties (SASL_SSL, SCRAM-SHA-512, a PEM trust
    store): the console's admin, producer and message browser log in as that user."""
    from security_env import SecureBroker

    sb = SecureBroker(tmp_path / "secure").start()
    try:
        props = sb.write_properties("console", sb.java("scram", user="admin"))
        c = consoles(sb.sasl_ssl, "--command-config", str(props))
        s = Session(c.url)
        token = s.get("/new-topic").csrf()
        r = s.post("/topics", {"name": "sec-web", "partitions": "1", "_csrf": token})
        assert r.status == 200, r.text
        wait_for(lambda: "sec-web" in s.get("/topics").text, 20, what="the topic listed")
        token = s.get("/topics/sec-web/produce").csrf()
        r = s.post("/topics/sec-web/produce", {"partition": "0", "key": "k", "value": "over-tls", "_csrf": token})
        assert r.status == 200 and "Produced to partition 0" in r.text, r.text
        events = stream(s, "sec-web", mode="newest", n="5")
        assert any("over-tls" in e.get("html", "") for e in events if e["type"] == "record"), events
    finally:
        sb.stop()
