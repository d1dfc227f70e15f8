"""Fuzzing the authentication phase of a live broker: random, mutated, truncated and oversized
frames before and during SASL, in plain TCP and over TLS. After each attempt the broker has either
answered or closed the connection (never hung on a whole frame), it still serves a fresh login,
and over thousands of attempts its memory stays flat (frames before authentication are capped at
sasl.server.max.receive.size, 512 KiB: a larger size closes the connection unread)."""

from __future__ import annotations

import socket
import ssl
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sasl_wire import RawConn, tls_context
from security_env import PASSWORDS, SecureBroker

from odradek.protocol import messages
from odradek.security.scram import ScramClient

ANSWER_TIMEOUT = 5.0
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    b = SecureBroker(tmp_path_factory.mktemp("secfuzz")).start()
    yield b
    b.stop()


def frame(api_key: int, version: int, data: dict, correlation: int = 1) -> bytes:
    flexible = messages.is_flexible(api_key, version)
    head = struct.pack(">hhih", api_key, version, correlation, 4) + b"fuzz" + (b"\x00" if flexible else b"")
    body = head + messages.encode_request(api_key, version, data)
    return struct.pack(">i", len(body)) + body


VERSIONS = frame(18, 3, {"client_software_name": "fuzz", "client_software_version": "1"})
HANDSHAKE = frame(17, 1, {"mechanism": "SCRAM-SHA-512"}, 2)


def open_conn(sb, tls: bool) -> socket.socket:
    port = sb.ports.sasl_ssl if tls else sb.ports.sasl_plaintext
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
    if tls:
        sock = tls_context(sb.ca.pem).wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def answered_or_closed(sock: socket.socket) -> str:
    """'answer' when bytes came back, 'closed' when the broker closed; fails if it did neither."""
    sock.settimeout(ANSWER_TIMEOUT)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, ssl.SSLError):
        return "closed"
    except socket.timeout:
        raise AssertionError(f"the broker neither answered nor closed within {ANSWER_TIMEOUT} s") from None
    return "answer" if data else "closed"


def read_frame(sock: socket.socket) -> bytes:
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", exact(4))
    return exact(size)


def still_serves(sb, tls: bool = False) -> None:
    port = sb.ports.sasl_ssl if tls else sb.ports.sasl_plaintext
    with RawConn(port, tls=tls_context(sb.ca.pem) if tls else None) as c:
        assert c.scram_login("alice", PASSWORDS["alice"]).error_code == 0
        assert c.metadata().brokers


def rss_kb(sb) -> int:
    with open(f"/proc/{sb.broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@FUZZ
@given(payload=st.binary(min_size=0, max_size=600), tls=st.booleans())
def test_random_first_frame(sb, payload, tls):
    with open_conn(sb, tls) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        answered_or_closed(s)
    assert sb.broker.alive()


@FUZZ
@given(data=st.data(), stage=st.sampled_from(["first", "after-versions", "after-handshake", "after-client-first"]))
def test_mutated_frames_during_sasl(sb, data, stage):
    """A valid exchange up to ``stage``, then a valid next frame with random bytes flipped, cut
    or appended (its size prefix kept honest)."""
    s = open_conn(sb, False)
    try:
        nxt = VERSIONS
        client = ScramClient("SCRAM-SHA-512", "alice", PASSWORDS["alice"])
        if stage != "first":
            s.sendall(VERSIONS)
            read_frame(s)
            nxt = HANDSHAKE
        if stage in ("after-handshake", "after-client-first"):
            s.sendall(HANDSHAKE)
            read_frame(s)
            nxt = frame(36, 2, {"auth_bytes": client.first()}, 3)
        if stage == "after-client-first":
            s.sendall(nxt)
            resp = messages.decode_response(36, 2, read_frame(s), 5)
            nxt = frame(36, 2, {"auth_bytes": client.final(bytes(resp.auth_bytes))}, 4)
        # positions are drawn independently of the frame's length (the server nonce's length varies)
        body = bytearray(nxt[4:])
        for _ in range(data.draw(st.integers(0, 4), label="flips")):
            i = data.draw(st.integers(0, 1 << 16), label="at") % len(body)
            body[i] = data.draw(st.integers(0, 255), label="byte")
        cut = data.draw(st.integers(0, 1 << 16), label="keep") % (len(body) + 1)
        body = body[:cut] + data.draw(st.binary(max_size=64), label="tail")
        s.sendall(struct.pack(">i", len(body)) + bytes(body))
        answered_or_closed(s)
    finally:
        s.close()
    assert sb.broker.alive()


@FUZZ
@given(size=st.one_of(st.integers(-(2**31), 7), st.integers(524289, 2**31 - 1)), tls=st.booleans(),
       after_versions=st.booleans())
def test_invalid_or_oversized_sizes_close_the_connection_unread(sb, size, tls, after_versions):
    with open_conn(sb, tls) as s:
        if after_versions:
            s.sendall(VERSIONS)
            read_frame(s)
        s.sendall(struct.pack(">i", size) + b"\x00" * 64)
        assert answered_or_closed(s) == "closed"
    assert sb.broker.alive()


@FUZZ
@given(payload=st.binary(min_size=1, max_size=200), keep=st.integers(0, 200), tls=st.booleans())
def test_truncated_frames_then_the_client_leaves(sb, payload, keep, tls):
    """A size prefix promising more than is sent, then the client goes away: the broker lets the
    connection go and serves on."""
    whole = VERSIONS[4:] + payload
    with open_conn(sb, tls) as s:
        s.sendall(struct.pack(">i", len(whole)) + whole[: min(keep, len(whole) - 1)])
    assert sb.broker.alive()


def test_broker_still_serves_and_memory_stays_flat(sb):
    """Thousands of hostile connections (junk first frames, oversized claims, refused logins,
    half-sent frames): the broker's RSS grows by no more than a few MiB, and it still serves."""
    junk = [
        struct.pack(">i", 600_000) + b"x" * 1000,  # more than sasl.server.max.receive.size
        struct.pack(">i", 0x7FFFFFFF),
        struct.pack(">i", -1),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        frame(3, 4, {"topics": None, "allow_auto_topic_creation": False}),  # Metadata before auth
        VERSIONS + VERSIONS,
        HANDSHAKE + frame(36, 2, {"auth_bytes": b"n,,n=alice,r=" + b"A" * 400_000}, 3),  # big token under the cap
        struct.pack(">i", 400_000) + VERSIONS[4:],  # half a frame, then gone
    ]

    def round_of(n: int) -> None:
        for i in range(n):
            with socket.create_connection(("127.0.0.1", sb.ports.sasl_plaintext), timeout=ANSWER_TIMEOUT) as s:
                s.sendall(junk[i % len(junk)])
                if i % len(junk) not in (7,):
                    answered_or_closed(s)

    round_of(400)  # warm up: the allocator settles, caches fill
    still_serves(sb)
    before = rss_kb(sb)
    round_of(3000)
    still_serves(sb)
    still_serves(sb, tls=True)
    after = rss_kb(sb)
    assert after - before < 8 * 1024, f"RSS grew from {before} KiB to {after} KiB over 3000 hostile connections"
    print(f"broker RSS {before} KiB -> {after} KiB over 3000 hostile connections")


def test_nothing_went_wrong_inside(sb):
    """Bad input is the client's fault: the broker logged no internal error for any of it."""
    log = sb.log_text(5_000_000)
    assert "Traceback" not in log and "internal error" not in log, log[-5000:]
