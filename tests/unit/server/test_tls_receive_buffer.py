"""TlsProtocol: a TLS connection's buffer for encrypted bytes starts small, grows when a read fills
it, shrinks after a run of small reads, and hands every byte to OpenSSL in order whatever its size.

No handshake here: before one starts, asyncio's TLS layer only queues what it is given in OpenSSL's
input, which is where these tests read it back. Real TLS connections are in the interop tests
(test_security_*.py, test_tls_fetch.py, test_idle_connections.py)."""

from __future__ import annotations

import asyncio
import os
import ssl

import pytest

from odradek.server.connection import IDLE_BUFFER, QUIET_READS, RECEIVE_BUFFER, TlsProtocol


class App(asyncio.BufferedProtocol):
    def get_buffer(self, sizehint):  # pragma: no cover - never reached without a handshake
        raise AssertionError("no application data before the handshake")

    def buffer_updated(self, nbytes):  # pragma: no cover
        raise AssertionError("no application data before the handshake")


@pytest.fixture
def proto():
    loop = asyncio.new_event_loop()
    try:
        yield TlsProtocol(loop, App(), ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    finally:
        loop.close()


def receive(p: TlsProtocol, data: bytes) -> None:
    """What the socket transport does for one read: fill the offered buffer, report the count."""
    buf = p.get_buffer(-1)
    assert len(buf) >= len(data)
    buf[: len(data)] = data
    p.buffer_updated(len(data))


def test_starts_small_grows_on_a_full_read_and_shrinks_after_quiet_reads(proto):
    assert len(proto.get_buffer(-1)) == IDLE_BUFFER
    receive(proto, b"x" * 100)
    assert len(proto.get_buffer(-1)) == IDLE_BUFFER  # small reads keep it small
    receive(proto, b"y" * IDLE_BUFFER)  # a full read: more is probably waiting
    assert len(proto.get_buffer(-1)) == RECEIVE_BUFFER
    for i in range(QUIET_READS):
        receive(proto, b"z" * 10)
        if i == QUIET_READS // 2:
            receive(proto, b"w" * (RECEIVE_BUFFER // 2))  # a large read starts the count again
    assert len(proto.get_buffer(-1)) == RECEIVE_BUFFER
    for _ in range(QUIET_READS // 2 + 2):
        receive(proto, b"z" * 10)
    assert len(proto.get_buffer(-1)) == IDLE_BUFFER


def test_every_byte_reaches_openssl_in_order_across_buffer_changes(proto):
    sent = bytearray()
    sizes = [5, IDLE_BUFFER, 17, RECEIVE_BUFFER, 3000] + [1] * (QUIET_READS + 1) + [IDLE_BUFFER, 9]
    for n in sizes:
        chunk = os.urandom(n)
        receive(proto, chunk)
        sent += chunk
    assert proto._incoming.pending == len(sent)
    assert proto._incoming.read() == sent
