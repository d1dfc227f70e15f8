"""A minimal raw Kafka wire client for tests: frames requests with kio, reads responses."""

from __future__ import annotations

import socket
import struct

from odradek.protocol import messages


class WireClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self._exact(4))[0]
        return self._exact(size)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return bytes(buf)

    def header(self, api_key: int, version: int, flexible: bool, client_id: str = "wire") -> bytes:
        self.correlation += 1
        cid = client_id.encode()
        head = struct.pack(">hhih", api_key, version, self.correlation, len(cid)) + cid
        return head + (b"\x00" if flexible else b"")

    def request(self, api_key: int, version: int, data: dict, body: bytes | None = None):
        flexible = messages.is_flexible(api_key, version) if body is None or api_key != 0 else version >= 9
        if body is None:
            body = messages.encode_request(api_key, version, data)
        self.send_frame(self.header(api_key, version, flexible) + body)
        frame = self.recv_frame()
        (corr,) = struct.unpack_from(">i", frame)
        assert corr == self.correlation
        resp_flexible = flexible and api_key != 18
        offset = 4 + (1 if resp_flexible else 0)
        return messages.decode_response(api_key, version, frame, offset)

    def produce(self, topic: str, records: bytes, *, acks: int = -1, timeout_ms: int = 5000, version: int = 7):
        """One Produce request of ``records`` (raw batches) to partition 0 of ``topic``."""
        return self.request(0, version, {
            "transactional_id": None, "acks": acks, "timeout": timeout_ms,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": records}]}],
        })


def ask(port: int, api_key: int, version: int, data: dict, timeout: float = 10.0):
    """One request on a connection of its own to the broker at ``port``: its decoded response."""
    c = WireClient(port, timeout=timeout)
    try:
        return c.request(api_key, version, data)
    finally:
        c.close()
