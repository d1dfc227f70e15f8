"""A tiny HTTP/1.1 server on the broker's event loop that answers ``GET /metrics`` (and ``HEAD``).

Anything else is refused: another path with 404, another method with 405, a malformed or oversized
request with 400 and a closed connection. Connections may be kept alive (Prometheus reuses them);
an idle or slow one is closed after ``IDLE_TIMEOUT``, and at most ``MAX_CLIENTS`` are served at once.
"""

from __future__ import annotations

import asyncio
import logging

from .exposition import CONTENT_TYPE

log = logging.getLogger("odradek.metrics")
MAX_HEADER = 8192
MAX_CLIENTS = 16
IDLE_TIMEOUT = 30.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class MetricsServer:
    def __init__(self, collector, host: str, port: int) -> None:
        self.collector = collector
        self.host = host
        self.port = port
        self.server: asyncio.base_events.Server | None = None
        self.clients: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host or None, self.port, limit=MAX_HEADER,
                                                 reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self.clients):
            t.cancel()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self.clients) >= MAX_CLIENTS:
            try:
                await self._answer(writer, 503, b"too many metrics clients\n", close=True)
            except (ConnectionError, OSError):
                pass
            writer.close()
            return
        self.clients.add(task)  # type: ignore[arg-type]
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    await self._answer(writer, 400, b"request header too large\n", close=True)
                    return
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                keep = await self._request(head, writer)
                if not keep:
                    return
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001  (a bug here must not take the broker down)
            log.exception("metrics request failed")
        finally:
            self.clients.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _request(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            await self._answer(writer, 400, b"malformed request line\n", close=True)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            k, sep, v = line.partition(":")
            if not sep:
                await self._answer(writer, 400, b"malformed header\n", close=True)
                return False
            headers[k.strip().lower()] = v.strip()
        if not version.startswith("HTTP/1."):
            await self._answer(writer, 400, b"unsupported HTTP version\n", close=True)
            return False
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            await self._answer(writer, 400, b"a request body is not accepted\n", close=True)
            return False
        conn = headers.get("connection", "").lower()
        keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        path = target.split("?", 1)[0]
        if path != "/metrics":
            await self._answer(writer, 404, b"only /metrics is served here\n", close=not keep)
            return keep
        if method not in ("GET", "HEAD"):
            await self._answer(writer, 405, b"use GET\n", close=not keep, extra="Allow: GET, HEAD\r\n")
            return keep
        body = await self.collector.render()
        await self._answer(writer, 200, body, close=not keep, content_type=CONTENT_TYPE, head_only=method == "HEAD")
        return keep

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, *, close: bool,
                      content_type: str = "text/plain; charset=utf-8", extra: str = "", head_only: bool = False) -> None:
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n{extra}" + ("Connection: close\r\n" if close else "") + "\r\n")
        writer.write(head.encode("latin-1"))
        if not head_only:
            writer.write(body)
        await writer.drain()
