"""Every client over TLS and SASL against one secured broker (tests/security_env.py).

Each client produces 20 keyed records, reads them back as a member of a consumer group and
commits; the committed offsets are then read through the PLAINTEXT listener, so a test passes
only when the whole produce/consume/commit path worked over the secured listener. Over SASL_SSL
with SCRAM-SHA-512 and over SSL with a client certificate for every client (confluent-kafka,
kafka-python, aiokafka, kcat, KafkaJS, the Java client 4.4, franz-go, Odradek's own); PLAIN,
OAUTHBEARER (unsigned tokens, and signed JWTs checked against a JWKS file), SCRAM-SHA-256 and
SASL_PLAINTEXT with several of them; refused credentials with each, as the non-retriable
authentication error that client reports.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path

import go_clients
import kafka_jvm
import pytest
from interop_clients import KAFKAJS_DIR, kcat
from security_env import PASSWORDS, PLAIN_USERS, SecureBroker

from odradek.client import Admin, AuthenticationFailed, BrokerUnreachable, Consumer, NewTopic, Producer, TlsHandshakeFailed, TopicPartition
from odradek.security.oauth import unsecured_token

N = 20
JAVA_SOURCES = [Path(__file__).parent / "java" / "security" / "SecurityScenarios.java",
                Path(__file__).parent / "java" / "client" / "Json.java"]


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    b = SecureBroker(tmp_path_factory.mktemp("secclients")).start()
    yield b
    b.stop()


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_topic(sb, prefix: str, partitions: int = 3) -> str:
    name = uniq(prefix)

    async def go():
        async with Admin(sb.plaintext) as a:
            await a.create_topics([NewTopic(name, partitions)])

    asyncio.run(go())
    return name


def committed(sb, group: str, topic: str) -> int:
    """What the group committed on the topic, in total (read over PLAINTEXT)."""

    async def go():
        async with Admin(sb.plaintext) as a:
            offs = await a.list_group_offsets(group, [TopicPartition(topic, p) for p in range(3)])
            return sum(max(o.offset, 0) for o in offs.values())

    return asyncio.run(go())


def check_roundtrip(sb, group: str, topic: str, consumed: int, produced: int = N) -> None:
    assert consumed == produced, f"consumed {consumed} of {produced}"
    assert committed(sb, group, topic) == produced


# --- confluent-kafka (librdkafka 2.16) ----------------------------------------------------------


def ck_roundtrip(conf: dict, topic: str, group: str) -> int:
    from confluent_kafka import Consumer as CkConsumer
    from confluent_kafka import Producer as CkProducer

    errors: list = []
    p = CkProducer({**conf, "linger.ms": 5, "error_cb": errors.append})
    for i in range(N):
        p.produce(topic, key=f"k{i}".encode(), value=f"ck {i}".encode())
    assert p.flush(30) == 0, f"undelivered; errors {errors}"
    c = CkConsumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                    "error_cb": errors.append})
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 60
        while got < N and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                got += 1
        c.commit(asynchronous=False)
    finally:
        c.close()
    return got


def ck_oauth_cb(sb):
    def cb(_config):
        return sb.jwt.token("carol"), time.time() + 3600

    return cb


@pytest.mark.parametrize("kind", ["scram", "ssl", "scram256", "plain", "oauth", "jwt", "sasl_plaintext"])
def test_confluent_kafka(sb, kind):
    topic, group = new_topic(sb, f"ck-{kind}"), uniq("ck")
    if kind == "jwt":
        conf = {"bootstrap.servers": sb.jwt_listener, "security.protocol": "SASL_SSL", "ssl.ca.location": str(sb.ca.pem),
                "sasl.mechanisms": "OAUTHBEARER", "oauth_cb": ck_oauth_cb(sb)}
    else:
        conf = sb.ck(kind)
    check_roundtrip(sb, group, topic, ck_roundtrip(conf, topic, group))


def ck_auth_error(conf: dict) -> object:
    """The error librdkafka reports when the broker refuses us (through error_cb)."""
    from confluent_kafka.admin import AdminClient

    errors: list = []
    a = AdminClient({**conf, "error_cb": errors.append})
    a.poll(0)
    deadline = time.monotonic() + 20
    while not errors and time.monotonic() < deadline:
        a.poll(0.2)
    assert errors, "no error reported"
    return errors[0]


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "forged jwt"])
def test_confluent_kafka_refused(sb, who):
    from confluent_kafka import KafkaError

    if who == "forged jwt":
        forged = _forged(sb)
        conf = {"bootstrap.servers": sb.jwt_listener, "security.protocol": "SASL_SSL", "ssl.ca.location": str(sb.ca.pem),
                "sasl.mechanisms": "OAUTHBEARER", "oauth_cb": lambda _c: (forged, time.time() + 3600)}
        mech = "OAUTHBEARER"
    else:
        conf = sb.ck("scram", **({"sasl.password": "wrong"} if who == "wrong password" else {"sasl.username": "mallory"}))
        mech = "SCRAM-SHA-512"
    err = ck_auth_error(conf)
    assert err.code() == KafkaError._AUTHENTICATION, err
    assert f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mech}" in err.str()
    assert not err.retriable()


def test_confluent_kafka_acls_round_trip(sb):
    """create_acls / describe_acls / delete_acls (librdkafka speaks the ACL APIs v2) as the super user."""
    from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    a = AdminClient(sb.ck("scram", user="admin"))
    topic = uniq("ck-acl")
    b = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ,
                   AclPermissionType.ALLOW)
    a.create_acls([b])[b].result(timeout=20)
    f = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                         AclPermissionType.ANY)
    assert a.describe_acls(f).result(timeout=20) == [b]
    assert a.delete_acls([f])[f].result(timeout=20) == [b]
    assert a.describe_acls(f).result(timeout=20) == []


# --- kafka-python 3 --------------------------------------------------------------------------------


def kp_settings(sb, kind: str, **extra) -> dict:
    ca = str(sb.ca.pem)
    base = {
        "scram": dict(bootstrap_servers=sb.sasl_ssl, security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="SCRAM-SHA-512",
                      sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"]),
        "ssl": dict(bootstrap_servers=sb.ssl, security_protocol="SSL", ssl_cafile=ca, ssl_certfile=str(sb.alice_cert.cert),
                    ssl_keyfile=str(sb.alice_cert.key)),
        "plain": dict(bootstrap_servers=sb.sasl_plaintext, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                      sasl_plain_username="bob", sasl_plain_password=PLAIN_USERS["bob"]),
    }[kind]
    return {**base, **extra}


@pytest.mark.parametrize("kind", ["scram", "ssl", "plain"])
def test_kafka_python(sb, kind):
    from kafka import KafkaConsumer, KafkaProducer

    topic, group = new_topic(sb, f"kp-{kind}"), uniq("kp")
    p = KafkaProducer(**kp_settings(sb, kind), request_timeout_ms=15000)
    try:
        for f in [p.send(topic, key=f"k{i}".encode(), value=f"kp {i}".encode()) for i in range(N)]:
            f.get(timeout=30)
    finally:
        p.close(timeout=10)
    c = KafkaConsumer(topic, **kp_settings(sb, kind), group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                      fetch_max_wait_ms=100, request_timeout_ms=15000)
    try:
        got = 0
        deadline = time.monotonic() + 60
        while got < N and time.monotonic() < deadline:
            got += sum(len(v) for v in c.poll(timeout_ms=500).values())
        c.commit()
    finally:
        c.close()
    check_roundtrip(sb, group, topic, got)


@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
def test_kafka_python_refused(sb, who, caplog):
    """kafka-python 3 logs the broker's SaslAuthenticationFailedError (not retriable) and, while
    bootstrapping, keeps trying until its bootstrap timeout."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

    kw = {"sasl_plain_password": "wrong"} if who == "wrong password" else {"sasl_plain_username": "mallory"}
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(**kp_settings(sb, "scram", **kw), request_timeout_ms=5000, bootstrap_timeout_ms=2000)
    assert not SaslAuthenticationFailedError.retriable
    refused = [r.getMessage() for r in caplog.records if "SaslAuthenticationFailedError" in r.getMessage()]
    assert refused and "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" \
        in refused[0], [r.getMessage() for r in caplog.records][-5:]


# --- aiokafka 0.14 ---------------------------------------------------------------------------------


def ak_settings(sb, kind: str, **extra) -> dict:
    from aiokafka.helpers import create_ssl_context

    if kind == "scram":
        base = dict(bootstrap_servers=sb.sasl_ssl, security_protocol="SASL_SSL", ssl_context=create_ssl_context(cafile=str(sb.ca.pem)),
                    sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"])
    elif kind == "ssl":
        base = dict(bootstrap_servers=sb.ssl, security_protocol="SSL", ssl_context=create_ssl_context(
            cafile=str(sb.ca.pem), certfile=str(sb.alice_cert.cert), keyfile=str(sb.alice_cert.key)))
    else:
        raise ValueError(kind)
    return {**base, **extra}


@pytest.mark.parametrize("kind", ["scram", "ssl"])
def test_aiokafka(sb, kind):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic, group = new_topic(sb, f"ak-{kind}"), uniq("ak")

    async def go():
        p = AIOKafkaProducer(**ak_settings(sb, kind), acks="all", request_timeout_ms=15000)
        await p.start()
        try:
            for i in range(N):
                await p.send_and_wait(topic, key=f"k{i}".encode(), value=f"ak {i}".encode())
        finally:
            await p.stop()
        c = AIOKafkaConsumer(topic, **ak_settings(sb, kind), group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, fetch_max_wait_ms=100, request_timeout_ms=15000)
        await c.start()
        try:
            got = 0
            deadline = time.monotonic() + 60
            while got < N and time.monotonic() < deadline:
                got += sum(len(v) for v in (await c.getmany(timeout_ms=500)).values())
            await c.commit()
        finally:
            await c.stop()
        return got

    check_roundtrip(sb, group, topic, asyncio.run(go()))


def test_aiokafka_refused(sb, caplog):
    """aiokafka logs the broker's SaslAuthenticationFailed and gives up bootstrapping."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

    async def go():
        p = AIOKafkaProducer(**ak_settings(sb, "scram", sasl_plain_password="wrong"), request_timeout_ms=10000)
        try:
            await p.start()
        finally:
            await p.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(go())
    assert not SaslAuthenticationFailed.retriable
    refused = [r.getMessage() for r in caplog.records if "SaslAuthenticationFailed" in r.getMessage()]
    assert refused and "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" \
        in refused[0], [r.getMessage() for r in caplog.records][-5:]


# --- kcat (librdkafka 2.0.2, Debian) ----------------------------------------------------------------


def kcat_args(conf: dict) -> list[str]:
    out = ["-b", conf["bootstrap.servers"]]
    for k, v in conf.items():
        if k != "bootstrap.servers":
            out += ["-X", f"{k}={v}"]
    return out


@pytest.mark.parametrize("kind", ["scram", "ssl", "scram256"])
def test_kcat(sb, kind):
    """librdkafka 2.0.2 sends the client nonce twice in its SCRAM final message (fixed in 2.6.1):
    the broker accepts it, as Kafka 3.8.1+ does."""
    topic, group = new_topic(sb, f"kcat-{kind}"), uniq("kcat")
    args = kcat_args(sb.ck(kind))
    lines = b"".join(f"k{i}\tkcat {i}\n".encode() for i in range(N))
    kcat(["-P", *args, "-t", topic, "-K", "\t", "-X", "acks=all"], input=lines)
    out = kcat(["-C", *args, "-G", group, "-c", str(N), "-f", "%k %s\n", "-X", "auto.offset.reset=earliest", topic], timeout=90)
    got = [line for line in out.stdout.decode().splitlines() if line.strip()]
    check_roundtrip(sb, group, topic, len(got))


def test_kcat_refused(sb):
    out = kcat(["-L", *kcat_args(sb.ck("scram", **{"sasl.password": "wrong"})), "-m", "3"], check=False, timeout=60)
    assert out.returncode != 0
    assert b"Authentication failed" in out.stderr or b"SASL authentication error" in out.stderr, out.stderr[-2000:]


# --- KafkaJS 2.2.4 -----------------------------------------------------------------------------------


def test_kafkajs(sb):
    """One node process runs every KafkaJS scenario at once."""
    ca = str(sb.ca.pem)
    tls = {"ca": ca}
    scram = {"mechanism": "scram-sha-512", "username": "alice", "password": PASSWORDS["alice"]}
    scenarios = {
        "scram": dict(brokers=[sb.sasl_ssl], ssl=tls, sasl=scram),
        "ssl": dict(brokers=[sb.ssl], ssl={"ca": ca, "cert": str(sb.alice_cert.cert), "key": str(sb.alice_cert.key)}),
        "plain": dict(brokers=[sb.sasl_ssl], ssl=tls, sasl={"mechanism": "plain", "username": "bob", "password": PLAIN_USERS["bob"]}),
        "oauth": dict(brokers=[sb.sasl_ssl], ssl=tls, sasl={"mechanism": "oauthbearer", "token": unsecured_token("carol")}),
        "jwt": dict(brokers=[sb.jwt_listener], ssl=tls, sasl={"mechanism": "oauthbearer", "token": sb.jwt.token("carol")}),
        "sasl_plaintext": dict(brokers=[sb.sasl_plaintext], sasl={**scram, "mechanism": "scram-sha-256"}),
        "wrong password": dict(brokers=[sb.sasl_ssl], ssl=tls, sasl={**scram, "password": "wrong"}, retries=0),
        "unknown user": dict(brokers=[sb.sasl_ssl], ssl=tls, sasl={**scram, "username": "mallory"}, retries=0),
        "forged jwt": dict(brokers=[sb.jwt_listener], ssl=tls, retries=0, sasl={"mechanism": "oauthbearer", "token": _forged(sb)}),
    }
    good = [k for k in scenarios if k not in ("wrong password", "unknown user", "forged jwt")]
    for name, s in scenarios.items():
        s.update(name=name, topic=new_topic(sb, "kjs") if name in good else "none", group=uniq("kjs"), records=N)
    proc = subprocess.run(["node", str(KAFKAJS_DIR / "security.js")], input=json.dumps({"scenarios": list(scenarios.values())}),
                          capture_output=True, text=True, timeout=150, cwd=str(KAFKAJS_DIR))
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"security.js printed no JSON (rc {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-3000:]}") from None
    assert "fatal" not in doc, doc
    results = {r["name"]: r for r in doc["results"]}
    for name in good:
        r = results[name]
        assert r["error"] is None, (name, r, proc.stderr[-3000:])
        check_roundtrip(sb, scenarios[name]["group"], scenarios[name]["topic"], r["consumed"], r["produced"])
        assert r["produced"] == N
    for name in ("wrong password", "unknown user"):
        r = results[name]
        assert r["error"] is not None and r["authError"], (name, r)
        assert r["error"]["retriable"] is False, (name, r)
    # KafkaJS takes the broker's OAUTHBEARER error challenge (answered with error code 0, as Kafka
    # does) for a success and sends its next request, which a connection that is not authenticated
    # may not: the broker closes it. Nothing gets through.
    r = results["forged jwt"]
    assert r["error"] is not None and r["produced"] == 0, r


def _forged(sb) -> str:
    """A JWT for the right audience and issuer, signed with a key the JWKS does not hold."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return sb.jwt.token("carol", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


# --- the Java client 4.4 -------------------------------------------------------------------------------


def test_java_client(sb, tmp_path):
    """One JVM runs every Java scenario (SecurityScenarios.java), each from a properties file."""
    classes = kafka_jvm.compile_java(JAVA_SOURCES, "kafka-4")
    kinds = ["scram", "ssl", "plain", "oauth", "jwt", "sasl_plaintext", "scram256"]
    files, groups, topics = [], {}, {}
    for kind in kinds:
        topics[kind], groups[kind] = new_topic(sb, f"java-{kind}"), uniq("java")
        props = {**sb.java(kind), "scenario.name": kind, "scenario.topic": topics[kind], "scenario.group": groups[kind],
                 "scenario.records": str(N)}
        files.append(sb.write_properties(f"java-{kind}", props))
    for name, user, password in (("wrong password", "alice", "wrong"), ("unknown user", "mallory", "x")):
        props = {**sb.java("scram", user=user, password=password), "scenario.name": name, "scenario.refused": "true"}
        files.append(sb.write_properties(name.replace(" ", "-"), props))
    forged = {**sb.java("jwt", user="mallory"), "scenario.name": "forged jwt", "scenario.refused": "true"}
    (sb.root / "token-mallory.jwt").write_text(_forged(sb))
    files.append(sb.write_properties("forged-jwt", forged))
    token_dir = sb.root.as_uri()
    cmd = kafka_jvm.java_command("SecurityScenarios", [str(f) for f in files], heap="384m", extra_cp=[classes],
                                 jvm_args=[f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token_dir}/token-carol.jwt,"
                                           f"{token_dir}/token-alice.jwt,{token_dir}/token-mallory.jwt"])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["name"]] = r
    assert len(results) == len(files), f"rc {proc.returncode}: {proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    for kind in kinds:
        r = results[kind]
        assert r["error"] is None, (kind, r)
        assert r["produced"] == N and r["committed"], r
        check_roundtrip(sb, groups[kind], topics[kind], r["consumed"])
    for name, mech in (("wrong password", "SCRAM-SHA-512"), ("unknown user", "SCRAM-SHA-512"), ("forged jwt", "OAUTHBEARER")):
        r = results[name]
        assert r["authError"] and r["errorClass"] == "org.apache.kafka.common.errors.SaslAuthenticationException", json.dumps(r)
        assert f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mech}" in r["error"], r


# --- franz-go -----------------------------------------------------------------------------------------


def franz_args(sb, kind: str, **over) -> list[str]:
    ca = str(sb.ca.pem)
    if kind == "scram":
        a = {"brokers": sb.sasl_ssl, "tls-ca": ca, "sasl": "SCRAM-SHA-512", "user": "alice", "password": PASSWORDS["alice"]}
    elif kind == "ssl":
        a = {"brokers": sb.ssl, "tls-ca": ca, "tls-cert": str(sb.alice_cert.cert), "tls-key": str(sb.alice_cert.key)}
    elif kind == "plain":
        a = {"brokers": sb.sasl_plaintext, "sasl": "PLAIN", "user": "bob", "password": PLAIN_USERS["bob"]}
    elif kind == "jwt":
        a = {"brokers": sb.jwt_listener, "tls-ca": ca, "sasl": "OAUTHBEARER", "token": sb.jwt.token("carol")}
    else:
        raise ValueError(kind)
    a.update(over)
    return [x for k, v in a.items() for x in (f"--{k}", v)]


@pytest.mark.parametrize("kind", ["scram", "ssl", "plain", "jwt"])
def test_franz_go(sb, kind):
    topic, group = new_topic(sb, f"franz-{kind}"), uniq("franz")
    out = go_clients.run("franz", "roundtrip", *franz_args(sb, kind), "--topic", topic, "--group", group,
                         "--records", str(N), "--timeout", "60")
    assert out["error"] == "", out
    assert out["produced"] == N and out["committed"], out
    check_roundtrip(sb, group, topic, out["consumed"])


def test_franz_go_refused(sb):
    out = go_clients.run("franz", "roundtrip", *franz_args(sb, "scram", password="wrong"), "--topic", "none",
                         "--group", uniq("franz"), "--timeout", "30")
    assert out["auth_error"], out
    assert "Authentication failed during authentication due to invalid credentials" in out["error"], out


# --- Odradek's own client -------------------------------------------------------------------------


def od_settings(sb, kind: str) -> tuple[str, dict]:
    ca = str(sb.ca.pem)
    if kind == "scram":
        return sb.sasl_ssl, dict(security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="SCRAM-SHA-512",
                                 sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"])
    if kind == "ssl":
        return sb.ssl, dict(security_protocol="SSL", ssl_cafile=ca, ssl_certfile=str(sb.alice_cert.cert),
                            ssl_keyfile=str(sb.alice_cert.key))
    if kind == "plain":
        return sb.sasl_plaintext, dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="bob",
                                       sasl_plain_password=PLAIN_USERS["bob"])
    if kind == "oauth":
        return sb.sasl_ssl, dict(security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="OAUTHBEARER",
                                 sasl_oauth_token_provider=lambda: unsecured_token("carol"))
    if kind == "jwt":
        return sb.jwt_listener, dict(security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="OAUTHBEARER",
                                     sasl_oauth_token_provider=lambda: sb.jwt.token("carol"))
    if kind == "java-properties":  # Kafka's client property names, as --command-config files hold them
        return sb.sasl_ssl, dict(security_config={k: v for k, v in sb.java("scram256").items() if k != "bootstrap.servers"})
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["scram", "ssl", "plain", "oauth", "jwt", "java-properties"])
def test_odradek_client(sb, kind):
    topic, group = new_topic(sb, f"od-{kind}"), uniq("od")
    bootstrap, sec = od_settings(sb, kind)

    async def go():
        async with Producer(bootstrap, **sec) as p:
            for i in range(N):
                await p.send(topic, f"od {i}".encode(), key=f"k{i}".encode())
            await p.flush()
        c = Consumer(bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **sec)
        await c.start()
        try:
            c.subscribe([topic])
            got = 0
            deadline = time.monotonic() + 60
            while got < N and time.monotonic() < deadline:
                got += len(await c.poll(0.5))
            await c.commit()
        finally:
            await c.close()
        return got

    check_roundtrip(sb, group, topic, asyncio.run(go()))


def test_odradek_client_refusals(sb):
    async def attempt(bootstrap, **sec):
        async with Admin(bootstrap, request_timeout_ms=5000, **sec) as a:
            await a.list_topics()

    bootstrap, sec = od_settings(sb, "scram")
    for bad in ({"sasl_plain_password": "wrong"}, {"sasl_plain_username": "mallory"}):
        with pytest.raises(AuthenticationFailed) as e:
            asyncio.run(attempt(bootstrap, **{**sec, **bad}))
        assert e.value.name == "SASL_AUTHENTICATION_FAILED"
        assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in e.value.message
    forged = _forged(sb)
    with pytest.raises(AuthenticationFailed) as e:  # a JWT signed by a key the JWKS does not hold
        asyncio.run(attempt(sb.jwt_listener, security_protocol="SASL_SSL", ssl_cafile=str(sb.ca.pem),
                            sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=lambda: forged))
    assert e.value.name == "SASL_AUTHENTICATION_FAILED" and "OAUTHBEARER" in e.value.message
    with pytest.raises(AuthenticationFailed) as e:  # a mechanism the listener does not offer
        asyncio.run(attempt(sb.jwt_listener, **sec))
    assert e.value.name == "UNSUPPORTED_SASL_MECHANISM" and "OAUTHBEARER" in e.value.message
    other_ca = sb.root / "other-ca"
    from tls_certs import CA

    with pytest.raises(TlsHandshakeFailed):  # a broker certificate no trusted CA signed
        asyncio.run(attempt(bootstrap, **{**sec, "ssl_cafile": str(CA(other_ca).pem)}))
    # the SSL listener requires a client certificate: without one the broker closes the connection
    # (an asyncio server sends no TLS alert then, so this is a lost connection, retried until the
    # request timeout, with a hint)
    async def no_certificate():
        async with Admin(sb.ssl, request_timeout_ms=2000, security_protocol="SSL", ssl_cafile=str(sb.ca.pem)):
            pass

    with pytest.raises(BrokerUnreachable) as e:
        asyncio.run(no_certificate())
    assert "does the listener require a client certificate" in str(e.value)
