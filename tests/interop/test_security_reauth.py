"""Re-authentication (KIP-368) with every client that does it, all at once.

Each client gets a SASL_SSL listener of its own with ``connections.max.reauth.ms=3000`` and a TCP
proxy in front of it (advertised in its place), so each connection is watched: when it opened and
closed, when the client last sent on it, and the port the broker logs for it. For ~8 s each
client produces a record every 100 ms and consumes them in a group. The broker closes any
connection that sends a request (other than SaslHandshake) after its session expired, and logs it;
so a connection that kept sending for more than two session lifetimes and was never closed for an
expired session re-authenticated on the same socket. aiokafka does not re-authenticate: its
connections are closed at expiry and it reconnects, and its work still completes. The session of
an OAUTHBEARER login ends at the token's ``exp`` even without connections.max.reauth.ms.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import go_clients
import kafka_jvm
import pytest
from interop_clients import KAFKAJS_DIR
from security_env import PASSWORDS, SecureBroker
from tcp_proxy import Proxy

from helpers import free_port, track
from odradek.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from odradek.security.oauth import unsecured_token

LIFETIME_MS = 3000
RUN_S = 8.0
CLIENTS = ["ck", "kp", "ak", "od", "java", "kjs", "franz", "oauth"]
JAVA_SOURCES = [Path(__file__).parent / "java" / "security" / "SecurityScenarios.java",
                Path(__file__).parent / "java" / "client" / "Json.java"]


def listener(client: str) -> str:
    return f"R_{client.upper()}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    proxies_ports = {c: free_port() for c in CLIENTS}
    extra = {}
    for c in CLIENTS:
        prefix = f"listener.name.{listener(c).lower()}."
        if c == "oauth":  # no connections.max.reauth.ms: the token's exp ends the session
            extra[prefix + "sasl.enabled.mechanisms"] = "OAUTHBEARER"
        else:
            extra[prefix + "sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
            extra[prefix + "connections.max.reauth.ms"] = str(LIFETIME_MS)
    sb = SecureBroker(tmp_path_factory.mktemp("secreauth"), extra=extra,
                      more_listeners={listener(c): "SASL_SSL" for c in CLIENTS},
                      advertise={listener(c): proxies_ports[c] for c in CLIENTS}).start()
    proxies = {c: Proxy(proxies_ports[c], sb.more_ports[listener(c)]) for c in CLIENTS}
    yield sb, proxies
    for p in proxies.values():
        p.stop()
    sb.stop()


def new_topic(sb, name: str) -> str:
    async def go():
        async with Admin(sb.plaintext) as a:
            await a.create_topics([NewTopic(name, 2)])

    asyncio.run(go())
    return name


def committed(sb, group: str, topic: str) -> int:
    async def go():
        async with Admin(sb.plaintext) as a:
            offs = await a.list_group_offsets(group, [TopicPartition(topic, p) for p in range(2)])
            return sum(max(o.offset, 0) for o in offs.values())

    return asyncio.run(go())


# --- one workload per client: ~RUN_S of producing a record every 100 ms while consuming them in a
# group; each returns (produced, consumed) and leaves its commits behind


async def workload(send, receive) -> tuple[int, int]:
    """The loop every client runs: ``send(i)`` produces record i (and waits for its ack) every
    100 ms for RUN_S, ``receive()`` consumes what came, commits it and returns how many; until all
    produced were consumed (30 s more at most). Either may be a plain or an async function."""

    async def call(fn, *args):
        r = fn(*args)
        return await r if inspect.iscoroutine(r) else r

    produced = consumed = 0
    start = time.monotonic()
    next_send = start
    while time.monotonic() - start < RUN_S + 30 and (time.monotonic() - start < RUN_S or consumed < produced):
        now = time.monotonic()
        if now - start < RUN_S and now >= next_send:
            await call(send, produced)
            produced += 1
            next_send = now + 0.1
        consumed += await call(receive)
    return produced, consumed


def run_ck(bootstrap, ca, topic, group):
    from confluent_kafka import Consumer as CkConsumer
    from confluent_kafka import Producer as CkProducer

    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
            "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": PASSWORDS["alice"]}
    p = CkProducer({**conf, "linger.ms": 5})
    c = CkConsumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                    "fetch.wait.max.ms": 100})
    c.subscribe([topic])

    def send(i):
        p.produce(topic, key=b"k%d" % i, value=b"ck %d" % i)
        assert p.flush(10) == 0

    def receive():
        msgs = c.consume(100, 0.05)
        for m in msgs:
            assert m.error() is None, m.error()
        if msgs:
            c.commit(asynchronous=False)
        return len(msgs)

    try:
        return asyncio.run(workload(send, receive))
    finally:
        c.close()


def run_kp(bootstrap, ca, topic, group):
    from kafka import KafkaConsumer, KafkaProducer

    kw = dict(bootstrap_servers=bootstrap, security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="SCRAM-SHA-512",
              sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"], request_timeout_ms=15000)
    p = KafkaProducer(**kw)
    c = KafkaConsumer(topic, **kw, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100)

    def receive():
        got = sum(len(v) for v in c.poll(timeout_ms=50).values())
        if got:
            c.commit()
        return got

    try:
        return asyncio.run(workload(lambda i: p.send(topic, key=b"k%d" % i, value=b"kp %d" % i).get(timeout=15), receive))
    finally:
        c.close()
        p.close(timeout=5)


def run_ak(bootstrap, ca, topic, group):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    async def go():
        kw = dict(bootstrap_servers=bootstrap, security_protocol="SASL_SSL", ssl_context=create_ssl_context(cafile=ca),
                  sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"],
                  request_timeout_ms=15000)
        p = AIOKafkaProducer(**kw, acks="all")
        c = AIOKafkaConsumer(topic, **kw, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                             fetch_max_wait_ms=100)
        await p.start()
        await c.start()

        async def receive():
            got = sum(len(v) for v in (await c.getmany(timeout_ms=50)).values())
            if got:
                await c.commit()
            return got

        try:
            return await workload(lambda i: p.send_and_wait(topic, key=b"k%d" % i, value=b"ak %d" % i), receive)
        finally:
            await c.stop()
            await p.stop()

    return asyncio.run(go())


def run_od(bootstrap, ca, topic, group, **sec):
    sec = sec or dict(sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"])

    async def go():
        kw = dict(security_protocol="SASL_SSL", ssl_cafile=ca, **sec)
        p = Producer(bootstrap, **kw)
        c = Consumer(bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100, **kw)
        await p.start()
        await c.start()
        c.subscribe([topic])

        async def receive():
            got = len(await c.poll(0.05))
            if got:
                await c.commit()
            return got

        try:
            return await workload(lambda i: p.send_and_wait(topic, b"od %d" % i, key=b"k%d" % i), receive)
        finally:
            await c.close()
            await p.close()

    return asyncio.run(go())


def run_oauth(bootstrap, ca, topic, group):
    """Odradek's client with 4-second unsigned tokens: each login gets a fresh one."""
    return run_od(bootstrap, ca, topic, group, sasl_mechanism="OAUTHBEARER",
                  sasl_oauth_token_provider=lambda: unsecured_token("carol", lifetime_s=4))


def test_clients_reauthenticate_on_the_same_connection(env):
    sb, proxies = env
    ca = str(sb.ca.pem)
    topics = {c: new_topic(sb, f"reauth-{c}-{uuid.uuid4().hex[:6]}") for c in CLIENTS}
    groups = {c: f"reauth-{c}-{uuid.uuid4().hex[:6]}" for c in CLIENTS}
    boot = {c: f"127.0.0.1:{proxies[c].port}" for c in CLIENTS}
    results: dict[str, object] = {}

    # the subprocess clients first (their start-up overlaps the Python ones)
    classes = kafka_jvm.compile_java(JAVA_SOURCES, "kafka-4")
    java_props = sb.write_properties("java-reauth", {**sb.java("scram"), "bootstrap.servers": boot["java"],
                                                     "scenario.name": "reauth", "scenario.topic": topics["java"],
                                                     "scenario.group": groups["java"], "scenario.run.ms": str(int(RUN_S * 1000))})
    java = track(subprocess.Popen(kafka_jvm.java_command("SecurityScenarios", [str(java_props)], heap="256m", extra_cp=[classes]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    kjs_in = {"scenarios": [{"name": "reauth", "brokers": [boot["kjs"]], "ssl": {"ca": ca},
                             "sasl": {"mechanism": "scram-sha-512", "username": "alice", "password": PASSWORDS["alice"]},
                             "topic": topics["kjs"], "group": groups["kjs"], "runMs": int(RUN_S * 1000),
                             "reauthenticationThreshold": 1000}]}
    kjs_file = sb.root / "kjs-reauth.json"
    kjs_file.write_text(json.dumps(kjs_in))
    with open(kjs_file) as kjs_stdin:
        kjs = track(subprocess.Popen(["node", str(KAFKAJS_DIR / "security.js")], stdin=kjs_stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=str(KAFKAJS_DIR)))
    franz = go_clients.GoProcess("franz", "load", "--brokers", boot["franz"], "--topic", topics["franz"], "--partitions", "2",
                                 "--rate", "10", "--timeout", "60", "--tls-ca", ca, "--sasl", "SCRAM-SHA-512",
                                 "--user", "alice", "--password", PASSWORDS["alice"])

    def thread(name, fn):
        def target():
            try:
                results[name] = fn(boot[name], ca, topics[name], groups[name])
            except BaseException as e:  # noqa: BLE001 - reported below
                results[name] = e

        t = threading.Thread(target=target, name=f"reauth-{name}")
        t.start()
        return t

    threads = [thread(n, fn) for n, fn in (("ck", run_ck), ("kp", run_kp), ("ak", run_ak), ("od", run_od), ("oauth", run_oauth))]
    time.sleep(RUN_S)  # the length of the workload itself: franz-go's load runs until told to stop
    franz_lines = franz.finish("stop", timeout=60)
    for t in threads:
        t.join(60)
    jout, jerr = java.communicate(timeout=120)
    kout, kerr = kjs.communicate(timeout=120)

    for name in ("ck", "kp", "ak", "od", "oauth"):
        r = results.get(name)
        assert isinstance(r, tuple), f"{name}: {r!r}"
        produced, consumed = r
        assert produced >= 30 and consumed == produced, (name, r)
        assert committed(sb, groups[name], topics[name]) == produced, name
    jr = json.loads(next(line for line in jout.splitlines() if line.startswith("{")))
    assert jr["error"] is None and jr["produced"] >= 30 and jr["consumed"] == jr["produced"], (jr, jerr[-3000:])
    assert committed(sb, groups["java"], topics["java"]) == jr["produced"]
    kr = json.loads(kout.strip().splitlines()[-1])["results"][0]
    assert kr["error"] is None and kr["produced"] >= 30 and kr["consumed"] == kr["produced"], (kr, kerr[-3000:])
    assert committed(sb, groups["kjs"], topics["kjs"]) == kr["produced"]
    done = franz_lines[-1]
    assert done.get("done") and done["failed"] == 0 and done["acked"] >= 30, (done, franz.stderr_text())

    log = sb.log_text()
    expired_ports = {int(m) for m in re.findall(r"closing 127\.0\.0\.1:(\d+): SASL_AUTHENTICATION_FAILED: the SASL session expired", log)}
    lifetime = LIFETIME_MS / 1000
    for name in CLIENTS:
        links = proxies[name].snapshot()
        killed = [lk for lk in links if lk.upstream_port in expired_ports]
        if name == "ak":
            # aiokafka 0.14 never re-authenticates: the broker closes its connections at expiry and
            # it opens new ones (the work above completed all the same)
            assert killed, "aiokafka's connections were never closed for an expired session"
            assert len(links) > len(killed)
            continue
        assert not killed, f"{name}: {len(killed)} connections closed for an expired session"
        # a connection that was still sending well past two session lifetimes re-authenticated
        reauthed = [lk for lk in links if lk.busy_after(2.2 * lifetime)]
        assert reauthed, f"{name}: no connection lived past {2.2 * lifetime:.1f} s while sending " \
                         f"({[(round(lk.lifetime(), 1), len(lk.sends)) for lk in links]})"
