"""A raw Kafka-protocol connection for the SASL wire tests: frames, optional TLS, SASL by hand."""

from __future__ import annotations

import socket
import ssl
import struct
import time

from odradek.protocol import messages
from odradek.security.scram import ScramClient


class Closed(Exception):
    """The broker closed the connection (no response)."""


class RawConn:
    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 10.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls is not None else sock
        self.correlation = 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- frames ----------------------------------------------------------------------------------

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._exact(4))
        return self._exact(size)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (ConnectionResetError, ssl.SSLError) as e:
                raise Closed(str(e)) from None
            if not chunk:
                raise Closed(f"closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def closed_without_response(self, timeout: float = 5.0) -> bool:
        """True when the broker closes the connection without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        return data == b""

    # --- requests --------------------------------------------------------------------------------

    def header(self, api_key: int, version: int) -> bytes:
        self.correlation += 1
        flexible = messages.is_flexible(api_key, version)
        return struct.pack(">hhih", api_key, version, self.correlation, 4) + b"wire" + (b"\x00" if flexible else b"")

    def send(self, api_key: int, version: int, data: dict) -> None:
        self.send_frame(self.header(api_key, version) + messages.encode_request(api_key, version, data))

    def response(self, api_key: int, version: int):
        frame = self.recv_frame()
        (corr,) = struct.unpack_from(">i", frame)
        assert corr == self.correlation, (corr, self.correlation)
        flexible = messages.is_flexible(api_key, version) and api_key != 18
        return messages.decode_response(api_key, version, frame, 5 if flexible else 4)

    def request(self, api_key: int, version: int, data: dict):
        self.send(api_key, version, data)
        return self.response(api_key, version)

    # --- SASL --------------------------------------------------------------------------------------

    def api_versions(self, version: int = 3):
        data = {"client_software_name": "wire", "client_software_version": "1"} if version >= 3 else {}
        return self.request(18, version, data)

    def handshake(self, mechanism: str, version: int = 1):
        return self.request(17, version, {"mechanism": mechanism})

    def authenticate(self, token: bytes, version: int = 2):
        return self.request(36, version, {"auth_bytes": token})

    def scram_login(self, user: str, password: str, mechanism: str = "SCRAM-SHA-512", version: int = 2):
        """Handshake v1 and the two SCRAM rounds; returns the last SaslAuthenticate response."""
        hs = self.handshake(mechanism)
        assert hs.error_code == 0, hs
        client = ScramClient(mechanism, user, password)
        first = self.authenticate(client.first(), version)
        if first.error_code != 0:
            return first
        final = self.authenticate(client.final(bytes(first.auth_bytes)), version)
        if final.error_code == 0:
            client.verify(bytes(final.auth_bytes))
        return final

    def metadata(self, version: int = 4):
        return self.request(3, version, {"topics": None, "allow_auto_topic_creation": False})


def tls_context(ca_pem) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_pem))
    return ctx


def wait_closed(conn: RawConn, timeout: float = 5.0) -> float:
    """Seconds until the broker closed ``conn`` (which must not send anything more)."""
    t0 = time.monotonic()
    assert conn.closed_without_response(timeout), "the broker kept the connection open"
    return time.monotonic() - t0
