"""One client connection: read size-prefixed frames, route them, write responses in order.

Frames are received by a :class:`FrameProtocol` (an ``asyncio.BufferedProtocol``): small ones are
cut out of one reused receive buffer, a large one (a produce request full of batches) is received
by the kernel straight into a buffer of its own, which the produce path then patches in place and
writes to the log, with no copy in Python. Requests are decoded in order; a response that must
wait (delayed produce, long poll, join) does not hold up the requests behind it, and responses go
out in request order. Fetch responses go out as a few header bytes plus file regions sent with
``sendfile`` (over TLS, copied with ``pread``). A malformed frame closes only this connection, with a log line.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import collections
import logging
import os
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from ..protocol import messages
from ..protocol.errors import KafkaError
from .router import Deferred, Response, route

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger("odradek.connection")
_SIZE = struct.Struct(">i")
MAX_QUEUED = 64  # requests taken in while earlier ones wait; past this, reading pauses
RECEIVE_BUFFER = 256 * 1024  # the reused buffer small frames are cut from, once traffic asks for it
IDLE_BUFFER = 4 * 1024  # what a connection starts with (and goes back to when it quiets down)
QUIET_READS = 64  # small reads in a row on an empty big buffer before it shrinks
DIRECT_FRAME = 64 * 1024  # frames larger than this are received into a buffer of their own
MAX_FRAMES_BUFFERED = 16  # frames received but not yet routed; past this (or the bytes), reading pauses
MAX_BYTES_BUFFERED = 64 * 1024 * 1024
TLS_READ_CHUNK = 1024 * 1024  # file regions sent over TLS are read this much at a time
TLS_LOOP_READ = 64 * 1024  # reads up to this size are done on the loop (page cache), larger ones in the executor
# Over TLS, writes are handed to asyncio's TLS layer at most this much at a time: it encrypts each
# write whole into an OpenSSL memory buffer, which keeps its largest size for the connection's life.
TLS_WRITE_SLICE = 64 * 1024


class FrameProtocol(asyncio.BufferedProtocol):
    """Receives size-prefixed frames for one :class:`Connection` and handles write flow control."""

    def __init__(self, broker: "Broker", listener=None) -> None:
        self.broker = broker
        self.listener = listener if listener is not None else broker.listeners[0]
        # Before a SASL connection is authenticated, frames are capped at sasl.server.max.receive.size
        self.max_size: int = (broker.security.sasl_max_receive if self.listener.sasl
                              else broker.config.get("socket.request.max.bytes"))
        self.transport: asyncio.Transport | None = None
        # An idle connection holds a small buffer; it grows when a read fills it or a frame needs
        # more room, and shrinks back after a run of small reads (10,000 idle clients stay cheap).
        self._buf = bytearray(IDLE_BUFFER)
        self._mv = memoryview(self._buf)
        self._quiet = 0
        self._start = 0  # first byte of self._buf not yet cut into a frame
        self._end = 0  # end of the received bytes in self._buf
        self._big: bytearray | None = None  # a large frame being received in place
        self._big_mv: memoryview | None = None
        self._filled = 0
        self._frames: collections.deque[bytearray] = collections.deque()
        # arrival times of the frames, when metrics are on (request queue time)
        self._arrivals: collections.deque[float] | None = (
            collections.deque() if getattr(broker, "metrics", None) is not None else None)
        self.arrived = 0.0  # arrival time of the frame next_frame() returned last
        self._frame_bytes = 0
        self._waiter: asyncio.Future | None = None
        self._reading_paused = False
        self.ended = False
        self.error: str | None = None  # why reading stopped, when it was the client's fault
        self._writing_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._lost = False

    # --- asyncio callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = Connection(self.broker, self)
        except ValueError as e:  # a client certificate no principal mapping rule matches
            log.warning("closing %s: %s", transport.get_extra_info("peername"), e)
            transport.close()
            return
        self.broker.connection_made(conn)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._big_mv is not None:
            return self._big_mv[self._filled:]
        return self._mv[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        if self.ended:
            self._start = self._end = 0  # after a bad frame size: nothing more is read
            return
        if self._big is not None:
            self._filled += nbytes
            if self._filled == len(self._big):
                frame = self._big
                self._big_mv.release()  # type: ignore[union-attr]
                self._big = self._big_mv = None
                self._deliver(frame)
            return
        self._end += nbytes
        self._quiet = self._quiet + 1 if nbytes < IDLE_BUFFER // 2 else 0
        self._cut_frames()

    def eof_received(self) -> bool:
        if self._big is not None or self._end > self._start:
            size = len(self._big) if self._big is not None else self._end - self._start
            self.error = self.error or f"connection ended inside a frame ({size} bytes expected or held)"
        self._finish()
        # half-closed: what was asked before the EOF is still answered (TLS cannot half-close)
        return not self.listener.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._finish()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError("connection lost"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # --- frames -----------------------------------------------------------------------------------

    def _cut_frames(self) -> None:
        buf, mv, start, end = self._buf, self._mv, self._start, self._end
        while end - start >= 4:
            (size,) = _SIZE.unpack_from(buf, start)
            if size < 8 or size > self.max_size:
                self.error = f"invalid frame size {size}"
                self._start = self._end = 0
                self._finish()
                self.transport.pause_reading()  # type: ignore[union-attr]
                return
            held = end - start - 4
            if held >= size:
                self._deliver(bytearray(mv[start + 4:start + 4 + size]))
                start += 4 + size
                continue
            if size > DIRECT_FRAME:
                big = bytearray(size)
                big[:held] = mv[start + 4:end]
                self._big, self._big_mv, self._filled = big, memoryview(big), held
                start = end = 0
            break
        if start == end:
            start = end = 0
            if len(buf) > IDLE_BUFFER and self._quiet > QUIET_READS:
                self._resize(IDLE_BUFFER, 0, 0)
                self._start = self._end = 0
                return
        elif start > 0:  # a partial frame (at most DIRECT_FRAME bytes) moves to the front
            rest = end - start
            buf[:rest] = mv[start:end]
            start, end = 0, rest
        if len(buf) < RECEIVE_BUFFER and self._big is None:
            need = end + 1
            if end - start >= 4:
                need = max(need, start + 4 + _SIZE.unpack_from(buf, start)[0])
            if need > len(buf) or end == len(buf):
                self._resize(RECEIVE_BUFFER, start, end)
                start, end = 0, end - start
        self._start, self._end = start, end

    def _resize(self, size: int, start: int, end: int) -> None:
        """A new receive buffer of ``size`` holding the pending bytes [start, end) at its front."""
        new = bytearray(size)
        new[: end - start] = self._mv[start:end]
        self._mv.release()
        self._buf, self._mv = new, memoryview(new)

    def _deliver(self, frame: bytearray) -> None:
        if self.ended:
            return
        self._frames.append(frame)
        if self._arrivals is not None:
            self._arrivals.append(time.monotonic())
        self._frame_bytes += len(frame)
        if not self._reading_paused and (len(self._frames) >= MAX_FRAMES_BUFFERED or self._frame_bytes >= MAX_BYTES_BUFFERED):
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def _finish(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def next_frame(self) -> bytearray | None:
        """The next whole frame, or None when the connection ended (see ``error``)."""
        while not self._frames:
            if self.ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.popleft()
        if self._arrivals is not None:
            self.arrived = self._arrivals.popleft()
        self._frame_bytes -= len(frame)
        if self._reading_paused and len(self._frames) < MAX_FRAMES_BUFFERED // 2 and self._frame_bytes < MAX_BYTES_BUFFERED // 2:
            self._reading_paused = False
            if not self.ended:
                self.transport.resume_reading()  # type: ignore[union-attr]
        return frame

    def pending_frames(self) -> int:
        """Frames received and not yet taken by the connection (metrics)."""
        return len(self._frames)

    # --- writing ----------------------------------------------------------------------------------

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("connection lost")
        if not self._writing_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None




class TlsProtocol(asyncio.sslproto.SSLProtocol):
    """A TLS listener's connection: asyncio's own TLS layer (what ``create_server(ssl=...)`` puts
    in front of the protocol), with a receive buffer for the encrypted bytes that follows
    FrameProtocol's policy. asyncio gives every TLS connection a 256 KiB buffer up front (its
    ``max_size``), so an idle TLS connection cost the broker about 285 KiB; this one starts at
    IDLE_BUFFER, grows to RECEIVE_BUFFER when a read fills it (a burst: the next reads take as
    much as before) and shrinks back after QUIET_READS small reads in a row."""

    max_size = IDLE_BUFFER  # the buffer asyncio's constructor allocates

    def __init__(self, loop: asyncio.AbstractEventLoop, app: FrameProtocol, context) -> None:
        super().__init__(loop, app, context, None, server_side=True)
        self._quiet_reads = 0

    def get_buffer(self, n: int) -> memoryview:
        return self._ssl_buffer_view

    def buffer_updated(self, nbytes: int) -> None:
        size = len(self._ssl_buffer)
        super().buffer_updated(nbytes)  # copies the bytes into OpenSSL's input first of all
        if nbytes == size:
            if size < RECEIVE_BUFFER:
                self._set_ssl_buffer(RECEIVE_BUFFER)
            self._quiet_reads = 0
        elif size > IDLE_BUFFER:
            self._quiet_reads = self._quiet_reads + 1 if nbytes < IDLE_BUFFER // 2 else 0
            if self._quiet_reads > QUIET_READS:
                self._set_ssl_buffer(IDLE_BUFFER)

    def _set_ssl_buffer(self, size: int) -> None:
        self._ssl_buffer = bytearray(size)
        self._ssl_buffer_view = memoryview(self._ssl_buffer)


class Connection:
    def __init__(self, broker: "Broker", proto: FrameProtocol) -> None:
        from .security import ANONYMOUS, SaslSession

        self.broker = broker
        self.proto = proto
        self.transport: asyncio.Transport = proto.transport  # type: ignore[assignment]
        peer = self.transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.client_host = peer[0] if peer else ""
        self.listener = proto.listener
        self.security = broker.security.listener_for(self.listener.name)
        self.client_id: str | None = None
        # The principal: User:ANONYMOUS on PLAINTEXT, the mapped certificate subject on SSL, the
        # SASL identity once a SASL connection is authenticated.
        self.principal = ANONYMOUS
        if self.listener.tls and not self.listener.sasl:
            from ..security.tls import TlsConfigError

            try:
                self.principal = self.security.ssl_principal(self.transport.get_extra_info("ssl_object"))
            except TlsConfigError as e:
                raise ValueError(str(e)) from None
        self.sasl = SaslSession(self.security) if self.listener.sasl else None
        self.refusing = False  # authentication failed: nothing more is read
        self.counted_ip: str | None = None  # set by ConnectionLimits while counted
        self.last_active = time.monotonic()
        self.closed = False
        # Responses waiting to be written in request order, behind a deferred one.
        self._queue: collections.deque = collections.deque()
        self._writer_task: asyncio.Task | None = None
        self._drained = asyncio.Event()
        self.task: asyncio.Task | None = None

    def close(self) -> None:
        self.transport.close()

    def log_fields(self, frame: bytes | None = None) -> dict:
        """What a log line about this connection carries (``--log-format json``): the connection,
        its listener and principal, the client id, and the request's API when ``frame`` is given."""
        fields = {"connection": self.peer, "listener": self.listener.name, "client_id": self.client_id,
                  "principal": str(self.principal)}
        if frame is not None and len(frame) >= 4:
            fields["api_key"], fields["api_version"] = struct.unpack_from(">hh", frame)
        return {"fields": fields}

    def idle(self) -> bool:
        """Nothing in progress: no response waiting to be written."""
        return not self._queue

    def pending_responses(self) -> tuple[list[int], int]:
        """(api keys of the deferred answers still waiting, responses ready but not yet written)."""
        waiting, ready = [], 0
        for item in self._queue:
            if isinstance(item, Deferred) and not item.task.done():
                waiting.append(item.api_key)
            else:
                ready += 1
        return waiting, ready

    def fail_authentication(self, reason: str) -> None:
        """Log once (no secrets), answer what was asked, then close after
        connection.failed.authentication.delay.ms (Kafka's delay, which slows guessing)."""
        if self.refusing:
            return
        self.refusing = True
        log.warning("authentication failed for %s on listener %s: %s", self.peer, self.listener.name, reason,
                    extra=self.log_fields())
        asyncio.get_running_loop().call_later(self.broker.security.failed_auth_delay_ms / 1000, self.close)

    def authenticated(self) -> None:
        """SASL authentication completed: the principal is set, full-size frames are allowed."""
        self.principal = self.sasl.principal
        self.proto.max_size = self.broker.config.get("socket.request.max.bytes")

    def authorize(self, op: int, rtype: int, name: str) -> bool:
        """Whether this connection's principal may do ``op`` on the resource (always, without an
        authorizer)."""
        security = self.broker.security
        authorizer = security.authorizer
        if authorizer is None:
            return True
        security.refresh_acls()
        return authorizer.authorize(self.principal, self.client_host, op, rtype, name)

    async def serve(self) -> None:
        try:
            while True:
                frame: bytes | bytearray | None = await self.proto.next_frame()
                if frame is None:
                    if self.proto.error:
                        log.warning("closing %s: %s", self.peer, self.proto.error, extra=self.log_fields())
                    return
                self.last_active = time.monotonic()
                if self.refusing:
                    continue  # authentication failed: the connection closes after the delay
                if self.sasl is not None and self.sasl.raw_tokens and self.sasl.state == 3:
                    await self._raw_sasl_token(bytes(frame))  # SaslHandshake v0: bare token frames
                    continue
                if frame[0] or frame[1]:
                    # Only Produce (api key 0) works on its frame in place; every other request
                    # is decoded from immutable bytes (small frames: the copy is cheap).
                    frame = bytes(frame)
                try:
                    response = await route(self, frame)
                except KafkaError as e:
                    log.warning("closing %s: %s", self.peer, e, extra=self.log_fields(frame))
                    return
                except Exception:
                    api = messages.parse_header_prefix(frame)
                    log.exception("closing %s: internal error on request api_key=%d v%d", self.peer, api[0], api[1],
                                  extra=self.log_fields(frame))
                    return
                if isinstance(response, Deferred) or self._queue:
                    self._queue.append(response)
                    if self._writer_task is None or self._writer_task.done():
                        self._writer_task = asyncio.create_task(self._write_queued())
                    if len(self._queue) > MAX_QUEUED:
                        self._drained.clear()
                        await self._drained.wait()
                    if self.closed:
                        return
                elif response is not None:
                    await self.send(response)
        except (ConnectionError, OSError) as e:
            log.debug("connection %s ended: %s", self.peer, e)
        finally:
            self.closed = True
            if self._writer_task is not None and not self._writer_task.done():
                if self._queue:
                    try:
                        await self._writer_task  # answer what was already taken in
                    except Exception:  # noqa: BLE001
                        pass
                else:
                    self._writer_task.cancel()
            self.transport.close()

    async def _raw_sasl_token(self, token: bytes) -> None:
        """A SASL token after a v0 SaslHandshake: the reply goes back as a bare frame; a failure
        closes the connection without a reply (as Kafka does)."""
        from ..security.sasl import AuthenticationFailed

        sess = self.sasl
        try:
            reply = sess.step(token)
        except AuthenticationFailed as e:
            self.fail_authentication(str(e))
            return
        if sess.principal is not None and sess.state == 4:
            self.authenticated()
            sess.raw_tokens = False
        await self.send(Response.of(reply))

    async def _write_queued(self) -> None:
        """Write queued responses in order, waiting for each deferred one."""
        try:
            while self._queue:
                item = self._queue[0]  # stays queued until written, so nothing overtakes it
                if isinstance(item, Deferred):
                    try:
                        item = await item.task
                    except KafkaError as e:
                        log.warning("closing %s: %s", self.peer, e, extra=self.log_fields())
                        self._abort()
                        return
                    except Exception:
                        log.exception("closing %s: internal error in a delayed request", self.peer,
                                      extra=self.log_fields())
                        self._abort()
                        return
                if item is not None:
                    await self.send(item)
                self._queue.popleft()
                if len(self._queue) <= MAX_QUEUED // 2:
                    self._drained.set()
        except (ConnectionError, OSError) as e:
            log.debug("connection %s ended: %s", self.peer, e)
            self._abort()
        finally:
            self._drained.set()

    def _abort(self) -> None:
        self.closed = True
        for item in self._queue:
            if isinstance(item, Deferred):
                item.task.cancel()
        self._queue.clear()
        self._drained.set()
        self.transport.close()

    async def send(self, response: Response) -> None:
        timing = response.timing
        if timing is not None:
            started = time.monotonic()
        chunks = response.chunks
        head = _SIZE.pack(response.size)
        transport = self.transport
        if len(chunks) == 1 and isinstance(chunks[0], (bytes, bytearray)):
            transport.write(head + chunks[0])
        else:
            pending: list[Any] = [head]
            for c in chunks:
                if isinstance(c, (bytes, bytearray, memoryview)):
                    pending.append(c)
                else:
                    if pending:
                        transport.writelines(pending)
                        pending = []
                    await self._sendfile(c)
            if pending:
                transport.writelines(pending)
        if transport.get_write_buffer_size() > 1 << 20:
            await self.proto.drain()
        if timing is not None:
            timing.finish(started, time.monotonic())

    async def _sendfile(self, region: Any) -> None:
        if self.listener.tls:
            await self._send_region_copied(region)
            return
        loop = asyncio.get_running_loop()
        await loop.sendfile(self.transport, region.file, region.position, region.size)

    async def _send_region_copied(self, region: Any) -> None:
        """A file region on a TLS connection, where the kernel cannot send it: read it with ``pread``
        at explicit positions and write it to the transport, which encrypts it. Not asyncio's sendfile
        fallback: that seeks the file object, which every reader of the segment shares, and reads on
        from its position across awaits (two fetches of one segment at once sent each other's bytes),
        16 KiB per thread hop. Small reads stay on the loop, as the log's own header reads do; larger
        ones go to the executor a chunk at a time. A region the file no longer holds in full (a
        segment truncated meanwhile) ends the connection: its frame's size is already out."""
        loop = asyncio.get_running_loop()
        transport = self.transport
        fd = region.file.fileno()
        pos, end = region.position, region.position + region.size
        while pos < end:
            n = min(TLS_READ_CHUNK, end - pos)
            if n <= TLS_LOOP_READ:
                data = os.pread(fd, n, pos)
            else:
                data = await loop.run_in_executor(None, os.pread, fd, n, pos)
            if not data:
                raise ConnectionError(f"file region ends early ({pos - region.position} of {region.size} bytes)")
            if len(data) <= TLS_WRITE_SLICE:
                transport.write(data)
            else:  # in slices: an idle consumer must not keep a chunk-sized encrypted buffer (see above)
                view = memoryview(data)
                for i in range(0, len(data), TLS_WRITE_SLICE):
                    transport.write(view[i:i + TLS_WRITE_SLICE])
            pos += len(data)
            if transport.get_write_buffer_size() > 1 << 20:
                await self.proto.drain()
