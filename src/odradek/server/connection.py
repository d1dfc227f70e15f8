"""One client connection: read size-prefixed frames, route them, write responses in order.

Requests on a connection are handled one at a time, in order (as Kafka does), so responses never
need reordering. Fetch responses go out as a few header bytes plus file regions sent with
``sendfile``. A malformed frame closes only this connection, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import TYPE_CHECKING, Any

from ..protocol import messages
from ..protocol.errors import KafkaError
from .router import Response, route

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger("odradek.connection")
_SIZE = struct.Struct(">i")


class Connection:
    def __init__(self, broker: "Broker", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.broker = broker
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.client_id: str | None = None
        self.closed = False

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
                if response is not None:
                    await self.send(response)
        except (ConnectionError, OSError) as e:
            log.debug("connection %s ended: %s", self.peer, e)
        finally:
            self.closed = True
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
