"""One asyncio connection to a Kafka-protocol broker, with pipelined requests.

Requests are dicts encoded by kio for the version asked for (see
:func:`odradek.protocol.messages.encode_request`); responses are kio entities. Several requests may
be in flight; responses are matched by correlation id in order, as the protocol guarantees.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import struct
from typing import Any

from ..protocol import messages
from ..protocol.errors import ErrorCode, KafkaError

_SIZE = struct.Struct(">i")
_HEAD = struct.Struct(">hhi")
API_VERSIONS = 18


class ConnectionClosed(ConnectionError):
    pass


class AuthenticationFailed(KafkaError):
    """The broker refused this client's SASL credentials (SASL_AUTHENTICATION_FAILED, with the
    broker's message), or its mechanism (UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE). Not
    retriable: the same credentials would be refused again (Kafka's AuthenticationException)."""


class TlsHandshakeFailed(AuthenticationFailed):
    """TLS with the broker failed: its certificate was not trusted or did not name the host, or it
    refused ours (Kafka's SslAuthenticationException). Carries NETWORK_EXCEPTION's code; not
    retriable."""

    def __init__(self, message: str = "") -> None:
        super().__init__(ErrorCode.network_exception, message)


class RequestTimedOut(KafkaError, TimeoutError):
    """No response in time: a KafkaError (REQUEST_TIMED_OUT) that is also a TimeoutError."""

    def __init__(self, message: str = "") -> None:
        super().__init__(ErrorCode.request_timed_out, message)


class BrokerConnection:
    """``ssl``: an SSLContext for SSL / SASL_SSL; ``sasl``: ClientCredentials for SASL_* (the
    connection authenticates with SaslHandshake v1 + SaslAuthenticate, and re-authenticates on its
    own before the session the broker gave expires, KIP-368)."""

    def __init__(self, host: str, port: int, *, client_id: str = "odradek", timeout: float = 30.0,
                 ssl=None, sasl=None) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.timeout = timeout
        self.ssl = ssl
        self.sasl = sasl
        self._reauth_at: float | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation = 0
        self._pending: dict[int, tuple[asyncio.Future, int, int]] = {}
        self._read_task: asyncio.Task | None = None
        self.versions: dict[int, tuple[int, int]] = {}
        self.closed = False
        self._answered = False  # a response came on this connection

    async def connect(self, negotiate: bool = True) -> "BrokerConnection":
        async with asyncio.timeout(self.timeout):
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20, ssl=self.ssl, server_hostname=self.host if self.ssl else None)
        self._read_task = asyncio.create_task(self._read_loop())
        try:
            if self.sasl is not None:
                await self._authenticate()
            if negotiate:
                resp = await self.request(API_VERSIONS, 3, {"client_software_name": "odradek", "client_software_version": "0.1"})
                if resp.error_code != ErrorCode.none:
                    raise KafkaError(resp.error_code, "ApiVersions failed")
                self.versions = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        except BaseException:
            await self.close()
            raise
        return self

    async def _authenticate(self) -> None:
        """SaslHandshake v1, then SaslAuthenticate exchanges until the mechanism is done."""
        import time

        from ..security.sasl import ClientMechanism

        from ..security.scram import ScramError

        mech = ClientMechanism(self.sasl)
        resp = await self.request(17, 1, {"mechanism": mech.mechanism}, _auth=True)
        if resp.error_code != ErrorCode.none:
            raise AuthenticationFailed(resp.error_code, f"SASL mechanism {mech.mechanism} refused by {self.host}:{self.port}; "
                                                        f"it offers {', '.join(resp.mechanisms) or 'none'}")
        token: bytes | None = mech.initial()
        lifetime = 0
        while token is not None:
            resp = await self.request(36, 1, {"auth_bytes": token}, _auth=True)
            if resp.error_code != ErrorCode.none:
                raise AuthenticationFailed(resp.error_code, resp.error_message or "SASL authentication failed")
            lifetime = int(resp.session_lifetime.total_seconds() * 1000)
            try:
                token = mech.respond(bytes(resp.auth_bytes))
            except (ScramError, ValueError, KeyError) as e:
                # the broker's answer did not prove it knows the credential (SCRAM server signature)
                raise AuthenticationFailed(ErrorCode.sasl_authentication_failed, f"{mech.mechanism} with {self.host}:{self.port}: {e}") from None
        # re-authenticate at 85% of the session the broker gave (Java does 85-95 %)
        self._reauth_at = time.monotonic() + lifetime * 0.85 / 1000 if lifetime > 0 else None

    async def _maybe_reauthenticate(self) -> None:
        import time

        if self._reauth_at is None or time.monotonic() < self._reauth_at:
            return
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if self._reauth_at is not None and time.monotonic() >= self._reauth_at:
                await self._authenticate()

    def version_for(self, api_key: int, ours: tuple[int, int]) -> int:
        """The highest version both sides speak."""
        theirs = self.versions.get(api_key)
        if theirs is None:
            raise KafkaError(ErrorCode.unsupported_version, f"broker does not offer api key {api_key}")
        hi = min(ours[1], theirs[1])
        if hi < max(ours[0], theirs[0]):
            raise KafkaError(ErrorCode.unsupported_version, f"no common version for api key {api_key}")
        return hi

    async def request(
        self, api_key: int, version: int, data: dict, *, expect_response: bool = True, timeout: float | None = None,
        _auth: bool = False,
    ) -> Any:
        """Send one request; await its response (kio entity), or ``None`` when none is expected.

        ``timeout`` (seconds) overrides the connection's default for this request: long polls
        and JoinGroup wait on the broker for longer than an ordinary request.
        """
        if self.closed or self._writer is None:
            raise ConnectionClosed(f"connection to {self.host}:{self.port} is closed")
        if not _auth and self._reauth_at is not None:
            await self._maybe_reauthenticate()
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        corr = self._correlation
        flexible = messages.is_flexible(api_key, version)
        cid = self.client_id.encode()
        head = _HEAD.pack(api_key, version, corr) + struct.pack(">h", len(cid)) + cid + (b"\x00" if flexible else b"")
        body = messages.encode_request(api_key, version, data)
        fut: asyncio.Future | None = None
        if expect_response:
            fut = asyncio.get_running_loop().create_future()
            self._pending[corr] = (fut, api_key, version)
        self._writer.write(_SIZE.pack(len(head) + len(body)) + head + body)
        await self._writer.drain()
        if fut is None:
            return None
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives together
        # with the response, and a replica fetcher being stopped would then never stop
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                return await fut
        except TimeoutError:
            raise RequestTimedOut(f"no response from {self.host}:{self.port} to api key {api_key}") from None
        finally:
            self._pending.pop(corr, None)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                (size,) = _SIZE.unpack(await self._reader.readexactly(4))
                frame = await self._reader.readexactly(size)
                (corr,) = struct.unpack_from(">i", frame)
                self._answered = True
                entry = self._pending.pop(corr, None)
                if entry is None:
                    continue
                fut, api_key, version = entry
                flexible = messages.is_flexible(api_key, version) and api_key != API_VERSIONS
                try:
                    resp = messages.decode_response(api_key, version, frame, 5 if flexible else 4)
                except Exception as e:  # noqa: BLE001
                    if not fut.done():
                        fut.set_exception(KafkaError(ErrorCode.corrupt_message, f"undecodable response: {e}"))
                    continue
                if not fut.done():
                    fut.set_result(resp)
        except _ssl.SSLError as e:
            if self._answered or isinstance(e, (_ssl.SSLEOFError, _ssl.SSLZeroReturnError)):
                # an established session that ended (a broker gone): retriable like any lost connection
                self._fail(ConnectionClosed(f"connection to {self.host}:{self.port} lost: {e}"))
            else:
                # a TLS alert before any answer: e.g. TLS 1.3 servers refuse a client certificate here
                self._fail(TlsHandshakeFailed(f"TLS with {self.host}:{self.port} failed: {e.reason or e}"))
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            hint = ""
            if self.ssl is not None and not self._answered:
                # asyncio servers (Odradek's) close without a TLS alert when they refuse a certificate
                hint = " (closed before any answer: does the listener require a client certificate, or refuse this one?)"
            self._fail(ConnectionClosed(f"connection to {self.host}:{self.port} lost: {e}{hint}"))
        except asyncio.CancelledError:
            self._fail(ConnectionClosed("connection closed"))
            raise

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        for fut, _k, _v in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    async def close(self) -> None:
        self.closed = True
        if self._read_task is not None:
            self._read_task.cancel()
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self._fail(ConnectionClosed("connection closed"))
