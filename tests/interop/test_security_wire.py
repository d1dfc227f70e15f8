"""SASL on the wire, with a raw socket: Kafka's pre-authentication state machine
(SaslServerAuthenticator) as clients meet it. One secured broker for the module."""

from __future__ import annotations

import struct
import time

import pytest
from sasl_wire import RawConn, tls_context, wait_closed
from security_env import PASSWORDS, PLAIN_USERS, REAUTH_MS, SecureBroker

from odradek.protocol import messages
from odradek.protocol.errors import ErrorCode
from odradek.security.scram import ScramClient

GENERIC = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"
MECHS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"]


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    b = SecureBroker(tmp_path_factory.mktemp("secwire")).start()
    yield b
    b.stop()


def conn(sb, port=None, tls=False) -> RawConn:
    return RawConn(port or sb.ports.sasl_plaintext, tls=tls_context(sb.ca.pem) if tls else None)


def test_versions_then_handshake_then_scram_then_requests(sb):
    with conn(sb) as c:
        v = c.api_versions(3)
        assert v.error_code == 0
        ranges = {k.api_key: (k.min_version, k.max_version) for k in v.api_keys}
        assert ranges[17] == (0, 1) and ranges[36] == (0, 2)  # handshake v0 stays (librdkafka < 2.11.1)
        final = c.scram_login("alice", PASSWORDS["alice"])
        assert final.error_code == 0
        assert final.session_lifetime.total_seconds() == 0  # no connections.max.reauth.ms here
        md = c.metadata()
        assert [b.port for b in md.brokers] == [sb.ports.sasl_plaintext]  # this listener's endpoint
        # after authentication, a SaslHandshake on a session that never expires is refused, the
        # connection stays
        hs = c.handshake("SCRAM-SHA-512")
        assert hs.error_code == ErrorCode.illegal_sasl_state
        assert c.metadata().brokers


def test_successful_handshake_lists_the_mechanisms(sb):
    with conn(sb) as c:
        hs = c.handshake("PLAIN")  # as the first request: KafkaJS's second connection does this
        assert hs.error_code == 0
        assert list(hs.mechanisms) == MECHS
        r = c.authenticate(b"\x00bob\x00" + PLAIN_USERS["bob"].encode())
        assert r.error_code == 0 and bytes(r.auth_bytes) == b""
        assert c.metadata().brokers


def test_session_lifetime_is_sent_on_a_reauth_listener(sb):
    """The last SaslAuthenticate carries SessionLifetimeMs (v1+) <= connections.max.reauth.ms;
    the intermediate one carries 0, and v0 carries none."""
    with conn(sb, sb.ports.reauth, tls=True) as c:
        assert c.handshake("SCRAM-SHA-512").error_code == 0
        client = ScramClient("SCRAM-SHA-512", "alice", PASSWORDS["alice"])
        first = c.authenticate(client.first(), 1)
        assert first.error_code == 0 and first.session_lifetime.total_seconds() == 0
        final = c.authenticate(client.final(bytes(first.auth_bytes)), 1)
        assert final.error_code == 0
        lifetime_ms = final.session_lifetime.total_seconds() * 1000
        assert 0 < lifetime_ms <= REAUTH_MS
        client.verify(bytes(final.auth_bytes))
        # the session expires: re-authenticate on the same socket, then requests go on
        time.sleep(1.05)  # the broker takes a re-authentication at most once a second
        final = c.scram_login("alice", PASSWORDS["alice"], version=1)
        assert final.error_code == 0 and 0 < final.session_lifetime.total_seconds() * 1000 <= REAUTH_MS
        assert c.metadata().brokers


def test_reauthentication_as_another_user_is_refused(sb):
    with conn(sb, sb.ports.reauth, tls=True) as c:
        assert c.scram_login("alice", PASSWORDS["alice"]).error_code == 0
        time.sleep(1.05)
        final = c.scram_login("admin", PASSWORDS["admin"])
        assert final.error_code == ErrorCode.sasl_authentication_failed
        wait_closed(c)


def test_an_expired_session_is_closed_on_its_next_request(sb):
    with conn(sb, sb.ports.reauth, tls=True) as c:
        final = c.scram_login("alice", PASSWORDS["alice"])
        deadline = time.monotonic() + final.session_lifetime.total_seconds() + 0.2
        assert c.metadata().brokers
        while time.monotonic() < deadline:  # waiting for a deadline the broker set, not for state
            time.sleep(0.05)
        c.send(3, 4, {"topics": None, "allow_auto_topic_creation": False})
        wait_closed(c)
    assert "the SASL session expired without re-authentication" in sb.log_text()


def test_second_api_versions_before_authentication_closes(sb):
    with conn(sb) as c:
        assert c.api_versions(3).error_code == 0
        c.send(18, 3, {"client_software_name": "wire", "client_software_version": "1"})
        wait_closed(c)


def test_unsupported_api_versions_version_is_answered_and_the_client_may_retry(sb):
    with conn(sb) as c:
        c.send_frame(struct.pack(">hhih", 18, 99, 7, 4) + b"wire")
        frame = c.recv_frame()
        corr, code = struct.unpack_from(">ih", frame)
        assert (corr, code) == (7, ErrorCode.unsupported_version)
        assert c.api_versions(3).error_code == 0
        assert c.scram_login("alice", PASSWORDS["alice"]).error_code == 0


@pytest.mark.parametrize("api", ["metadata", "produce", "authenticate"])
def test_other_requests_before_authentication_close_without_a_response(sb, api):
    with conn(sb) as c:
        if api == "metadata":
            c.send(3, 4, {"topics": None, "allow_auto_topic_creation": False})
        elif api == "produce":
            c.api_versions(3)
            c.send(0, 7, {"transactional_id": None, "acks": 1, "timeout": 1000, "topic_data": []})
        else:
            c.send(36, 2, {"auth_bytes": b"n,,n=alice,r=abc"})
        wait_closed(c)


def test_unknown_mechanism_gets_the_list_then_the_connection_closes(sb):
    with conn(sb) as c:
        hs = c.handshake("GSSAPI")
        assert hs.error_code == ErrorCode.unsupported_sasl_mechanism
        assert list(hs.mechanisms) == MECHS
        wait_closed(c)
    with conn(sb) as c:
        hs = c.handshake("scram-sha-512")  # mechanism names are case-sensitive, as in Kafka
        assert hs.error_code == ErrorCode.unsupported_sasl_mechanism
        wait_closed(c)


def test_sasl_handshake_on_a_plaintext_listener_is_illegal_and_the_connection_stays(sb):
    with conn(sb, sb.ports.plaintext) as c:
        hs = c.handshake("PLAIN")
        assert hs.error_code == ErrorCode.illegal_sasl_state
        assert c.metadata().brokers
        r = c.authenticate(b"\x00bob\x00x")
        assert r.error_code == ErrorCode.illegal_sasl_state
        assert c.metadata().brokers


@pytest.mark.parametrize("user, password", [("alice", "wrong"), ("mallory", "whatever")])
def test_wrong_password_and_unknown_user_get_the_generic_message_then_close(sb, user, password):
    with conn(sb) as c:
        c.api_versions(3)
        final = c.scram_login(user, password)
        assert final.error_code == ErrorCode.sasl_authentication_failed
        assert final.error_message == GENERIC.format("SCRAM-SHA-512")
        # the connection closes after connection.failed.authentication.delay.ms (100 ms)
        assert wait_closed(c) < 3
    with conn(sb) as c:
        assert c.handshake("PLAIN").error_code == 0
        r = c.authenticate(b"\x00bob\x00wrong")
        assert r.error_code == ErrorCode.sasl_authentication_failed
        assert r.error_message == GENERIC.format("PLAIN")
        wait_closed(c)


def test_a_client_that_ignores_the_failure_is_never_served(sb):
    """Tansu's bypass: a forged SCRAM proof, then Metadata as if nothing happened."""
    with conn(sb) as c:
        assert c.handshake("SCRAM-SHA-512").error_code == 0
        client = ScramClient("SCRAM-SHA-512", "alice", "not-her-password")
        first = c.authenticate(client.first())
        assert first.error_code == 0
        c.send(36, 2, {"auth_bytes": client.final(bytes(first.auth_bytes))})
        auth_corr = c.correlation
        c.send(3, 4, {"topics": None, "allow_auto_topic_creation": False})  # sent before the answer came
        frame = c.recv_frame()
        assert struct.unpack_from(">i", frame)[0] == auth_corr
        resp = messages.decode_response(36, 2, frame, 5)
        assert resp.error_code == ErrorCode.sasl_authentication_failed
        wait_closed(c)  # and the Metadata request is never answered


def test_v0_handshake_takes_raw_plain_and_scram_tokens(sb):
    with conn(sb) as c:
        c.api_versions(0)
        hs = c.handshake("PLAIN", version=0)
        assert hs.error_code == 0
        c.send_frame(b"\x00bob\x00" + PLAIN_USERS["bob"].encode())
        assert c.recv_frame() == b""
        assert c.metadata().brokers
    with conn(sb) as c:
        assert c.handshake("SCRAM-SHA-256", version=0).error_code == 0
        client = ScramClient("SCRAM-SHA-256", "alice", PASSWORDS["alice"])
        c.send_frame(client.first())
        c.send_frame(client.final(c.recv_frame()))
        client.verify(c.recv_frame())
        assert c.metadata().brokers
    with conn(sb) as c:  # a refused raw token gets no answer at all: the connection closes
        assert c.handshake("PLAIN", version=0).error_code == 0
        c.send_frame(b"\x00bob\x00wrong")
        wait_closed(c)


def test_sasl_ssl_listener_does_the_same_over_tls(sb):
    with conn(sb, sb.ports.sasl_ssl, tls=True) as c:
        assert c.api_versions(3).error_code == 0
        assert c.scram_login("alice", PASSWORDS["alice"], mechanism="SCRAM-SHA-256").error_code == 0
        assert [b.port for b in c.metadata().brokers] == [sb.ports.sasl_ssl]


def test_concurrent_tls_fetches_of_one_segment_get_their_own_bytes(sb):
    """Fetch responses over TLS are copied from the segment file: many connections reading the
    same segment at once each get exactly their records (asyncio's sendfile fallback seeks the
    file object every connection shares, and mixed their bytes)."""
    import asyncio

    from odradek.client import Admin, Consumer, NewTopic, Producer, TopicPartition

    topic = "tls-fetch-race"
    values = [(b"%05d:" % i) + bytes([65 + i % 26]) * 2000 for i in range(300)]

    async def go():
        async with Admin(sb.plaintext) as a:
            await a.create_topics([NewTopic(topic, 1)])
        async with Producer(sb.plaintext, linger_ms=0, batch_size=8192) as p:
            for v in values:
                await p.send(topic, v)
            await p.flush()

        async def read_all(k: int) -> list[bytes]:
            c = Consumer(sb.ssl, security_protocol="SSL", ssl_cafile=str(sb.ca.pem), ssl_certfile=str(sb.alice_cert.cert),
                         ssl_keyfile=str(sb.alice_cert.key), max_partition_fetch_bytes=16384 + 1000 * k, fetch_max_wait_ms=50)
            await c.start()
            try:
                c.assign([TopicPartition(topic, 0)])
                c.seek(TopicPartition(topic, 0), 0)
                got: list[bytes] = []
                deadline = asyncio.get_running_loop().time() + 60
                while len(got) < len(values) and asyncio.get_running_loop().time() < deadline:
                    got += [r.value for r in await c.poll(0.2)]
                return got
            finally:
                await c.close()

        return await asyncio.gather(*(read_all(k) for k in range(12)))

    for got in asyncio.run(go()):
        assert got == values
