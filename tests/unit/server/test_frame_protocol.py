"""The receive path: frames cut from the reused buffer or received in place, whatever the chunking.

A fake transport stands in for the socket here; the real-socket behaviour (fuzzed frames against a
live broker) is in test_wire_errors.py and every interop test.
"""

from __future__ import annotations

import asyncio
import struct
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from odradek.security.listeners import Listener
from odradek.server.connection import DIRECT_FRAME, MAX_FRAMES_BUFFERED, FrameProtocol


class FakeConfig:
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size

    def get(self, name: str):
        assert name == "socket.request.max.bytes"
        return self.max_size


class FakeSecurity:
    sasl_max_receive = 524288
    authorizer = None

    def listener_for(self, name: str):
        return SimpleNamespace(mechanisms=[], reauth_ms=0)


class FakeBroker:
    def __init__(self, max_size: int = 100 << 20) -> None:
        self.config = FakeConfig(max_size)
        self.connections: list = []
        self.listeners = [Listener("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 1, "127.0.0.1", 1)]
        self.security = FakeSecurity()

    def connection_made(self, conn) -> None:
        self.connections.append(conn)


class FakeTransport:
    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0

    def get_extra_info(self, name: str):
        return ("127.0.0.1", 1) if name == "peername" else None

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


def make(max_size: int = 100 << 20) -> tuple[FrameProtocol, FakeTransport, FakeBroker]:
    broker = FakeBroker(max_size)
    proto = FrameProtocol(broker)  # type: ignore[arg-type]
    transport = FakeTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport, broker


def feed(proto: FrameProtocol, data: bytes, chunks: list[int]) -> None:
    """Deliver ``data`` as the kernel would: into whatever buffer the protocol offers, in pieces."""
    pos = 0
    i = 0
    while pos < len(data):
        want = chunks[i % len(chunks)] if chunks else len(data)
        i += 1
        buf = proto.get_buffer(-1)
        assert len(buf) > 0
        n = min(len(buf), want, len(data) - pos)
        buf[:n] = data[pos:pos + n]
        proto.buffer_updated(n)
        pos += n


def frames_of(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(p)) + p for p in payloads)


def drain(proto: FrameProtocol) -> list[bytes]:
    async def run() -> list[bytes]:
        out = []
        while True:
            f = await asyncio.wait_for(proto.next_frame(), 5)
            if f is None:
                return out
            out.append(bytes(f))

    return asyncio.run(run())


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([8, 9, 100, 4000, DIRECT_FRAME - 1, DIRECT_FRAME, DIRECT_FRAME + 1, 300_000]),
                   min_size=1, max_size=12),
    chunks=st.lists(st.integers(1, 400_000), min_size=1, max_size=8),
)
def test_any_chunking_yields_the_same_frames(sizes, chunks):
    payloads = [bytes([i % 251]) * s for i, s in enumerate(sizes)]
    proto, transport, _ = make()
    feed(proto, frames_of(payloads), chunks)
    proto.eof_received()
    got = drain(proto)
    assert got == payloads
    assert proto.error is None
    assert transport.pauses == (1 if len(payloads) >= MAX_FRAMES_BUFFERED else 0)  # read all at the end


def test_large_frame_is_received_into_its_own_buffer():
    proto, _, _ = make()
    payload = b"\x00\x00" + bytes(range(256)) * 1000  # api key 0 (Produce), larger than DIRECT_FRAME
    data = frames_of([payload])
    feed(proto, data[:10], [])
    offered = proto.get_buffer(-1)
    assert len(offered) == len(payload) - 6  # exactly the rest of this frame, nothing more
    feed(proto, data[10:], [])
    frame = asyncio.run(proto.next_frame())
    assert isinstance(frame, bytearray) and frame == payload


def test_invalid_size_stops_reading_after_the_frames_before_it():
    proto, transport, _ = make(max_size=1000)
    data = frames_of([b"a" * 20]) + struct.pack(">i", 5000) + b"x" * 50
    feed(proto, data, [7])
    assert transport.paused
    assert drain(proto) == [b"a" * 20]
    assert proto.error == "invalid frame size 5000"


def test_negative_and_tiny_sizes_are_invalid():
    for size in (-1, 0, 7):
        proto, _, _ = make()
        feed(proto, struct.pack(">i", size) + b"y" * 8, [])
        assert drain(proto) == []
        assert proto.error == f"invalid frame size {size}"


def test_eof_inside_a_frame_is_reported():
    proto, _, _ = make()
    data = frames_of([b"z" * 100])
    feed(proto, data[:50], [])
    assert proto.eof_received() is True  # half-closed: earlier requests still get answers
    assert drain(proto) == []
    assert proto.error and "inside a frame" in proto.error


def test_reading_pauses_when_frames_pile_up_and_resumes_when_they_are_taken():
    proto, transport, _ = make()
    feed(proto, frames_of([b"q" * 10] * (MAX_FRAMES_BUFFERED + 4)), [])
    assert transport.paused

    async def take(n: int) -> None:
        for _ in range(n):
            assert await proto.next_frame() == b"q" * 10

    asyncio.run(take(MAX_FRAMES_BUFFERED // 2 + 5))
    assert not transport.paused


def test_drain_waits_for_resume_writing_and_fails_when_the_connection_is_lost():
    async def run() -> None:
        proto, _, _ = make()
        await proto.drain()  # not paused: returns at once
        proto.pause_writing()
        waiting = asyncio.ensure_future(proto.drain())
        await asyncio.sleep(0)
        assert not waiting.done()
        proto.resume_writing()
        await asyncio.wait_for(waiting, 5)
        proto.pause_writing()
        waiting = asyncio.ensure_future(proto.drain())
        await asyncio.sleep(0)
        proto.connection_lost(None)
        try:
            await asyncio.wait_for(waiting, 5)
        except ConnectionResetError:
            pass
        else:
            raise AssertionError("drain on a lost connection must fail")

    asyncio.run(run())
