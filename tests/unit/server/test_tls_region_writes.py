"""A file region sent over TLS goes to asyncio's TLS layer in slices of at most TLS_WRITE_SLICE
(each write is encrypted whole into an OpenSSL buffer that keeps its largest size), in order,
byte for byte, whatever the region's size and position. A fake transport records the writes; the
real thing is in tests/interop/test_tls_fetch.py (concurrent TLS consumers of one segment)."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

import pytest

from odradek.server.connection import TLS_READ_CHUNK, TLS_WRITE_SLICE, Connection


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.mark.parametrize("position,size", [(0, 10), (7, TLS_WRITE_SLICE), (3, TLS_WRITE_SLICE + 1),
                                           (1000, TLS_READ_CHUNK + 5 * TLS_WRITE_SLICE + 123)])
def test_region_is_written_in_bounded_slices_in_order(tmp_path, position, size):
    data = os.urandom(position + size + 50)
    path = tmp_path / "segment.log"
    path.write_bytes(data)
    transport = Transport()
    conn = SimpleNamespace(transport=transport, proto=SimpleNamespace(drain=None))
    with open(path, "rb") as f:
        asyncio.run(Connection._send_region_copied(conn, SimpleNamespace(file=f, position=position, size=size)))
    assert b"".join(transport.writes) == data[position:position + size]
    assert max(len(w) for w in transport.writes) <= TLS_WRITE_SLICE
    assert len(transport.writes) >= -(-size // TLS_WRITE_SLICE)
