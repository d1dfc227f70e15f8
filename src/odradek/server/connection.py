"""One client connection: read size-prefixed frames, route them, write responses in order.

Requests on a connection are handled one at a time, in order (as Kafka does), so responses never
need reordering. Fetch responses go out as a few header bytes plus file regions sent with
``sendfile``. A malformed frame closes only this connection, with a log line.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
from typing import TYPE_CHECKING, Any

from ..protocol import messages
from ..protocol.errors import KafkaError
from .router import Deferred, Response, route

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger("odradek.connection")
_SIZE = struct.Struct(">i")
MAX_QUEUED = 64  # requests taken in while earlier ones wait; past this, reading pauses


class Connection:
    def __init__(self, broker: "Broker", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.broker = broker
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.client_id: str | None = None
        self.closed = False
        # Responses waiting to be written in request order, behind a deferred one.
        self._queue: collections.deque = collections.deque()
        self._writer_task: asyncio.Task | None = None
        self._drained = asyncio.Event()

    async def serve(self) -> None:
        max_size = self.broker.config.get("socket.request.max.bytes")
        try:
            while True:
                try:
                    prefix = await self.reader.readexactly(4)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                (size,) = _SIZE.unpack(prefix)
                if size < 8 or size > max_size:
                    log.warning("closing %s: invalid frame size %d", self.peer, size)
                    return
                try:
                    frame = await self.reader.readexactly(size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    log.warning("closing %s: connection ended inside a %d-byte frame", self.peer, size)
                    return
                try:
                    response = await route(self, frame)
                except KafkaError as e:
                    log.warning("closing %s: %s", self.peer, e)
                    return
                except Exception:
                    api = messages.parse_header_prefix(frame)
                    log.exception("closing %s: internal error on request api_key=%d v%d", self.peer, api[0], api[1])
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
            self.writer.close()

    async def _write_queued(self) -> None:
        """Write queued responses in order, waiting for each deferred one."""
        try:
            while self._queue:
                item = self._queue[0]  # stays queued until written, so nothing overtakes it
                if isinstance(item, Deferred):
                    try:
                        item = await item.task
                    except KafkaError as e:
                        log.warning("closing %s: %s", self.peer, e)
                        self._abort()
                        return
                    except Exception:
                        log.exception("closing %s: internal error in a delayed request", self.peer)
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
        self.writer.close()

    async def send(self, response: Response) -> None:
        chunks = response.chunks
        head = _SIZE.pack(response.size)
        if len(chunks) == 1 and isinstance(chunks[0], (bytes, bytearray)):
            self.writer.write(head + chunks[0])
        else:
            pending: list[Any] = [head]
            for c in chunks:
                if isinstance(c, (bytes, bytearray, memoryview)):
                    pending.append(c)
                else:
                    if pending:
                        self.writer.writelines(pending)
                        pending = []
                    await self._sendfile(c)
            if pending:
                self.writer.writelines(pending)
        if self.writer.transport.get_write_buffer_size() > 1 << 20:
            await self.writer.drain()

    async def _sendfile(self, region: Any) -> None:
        loop = asyncio.get_running_loop()
        await loop.sendfile(self.writer.transport, region.file, region.position, region.size)
