"""A small HTTP/1.1 server on asyncio (standard library only), enough for the console.

Requests: GET/HEAD/POST with ``Content-Length`` bodies (urlencoded forms), keep-alive, bounded
header and body sizes, timeouts on idle connections. Responses: a whole body, or a stream (an
async iterator of bytes; the connection closes after it). A streaming handler learns that the
browser went away (cancel button, closed tab) through :attr:`Request.disconnected`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("odradek.console")

__all__ = ["Request", "Response", "HttpServer", "Router"]

MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
HEADER_TIMEOUT = 15.0
IDLE_TIMEOUT = 75.0

_ids = itertools.count(1)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    remote: str
    version: str = "HTTP/1.1"
    id: int = field(default_factory=lambda: next(_ids))
    params: tuple[str, ...] = ()
    user: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _form: dict[str, str] | None = None

    @property
    def form(self) -> dict[str, str]:
        """The urlencoded body (first value of each name)."""
        if self._form is None:
            ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
            out: dict[str, str] = {}
            if ctype == "application/x-www-form-urlencoded":
                for k, v in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
                    out.setdefault(k, v)
            self._form = out
        return self._form

    @property
    def cookies(self) -> dict[str, str]:
        raw = self.headers.get("cookie")
        if not raw:
            return {}
        c = SimpleCookie()
        try:
            c.load(raw)
        except CookieError:
            return {}
        return {k: m.value for k, m in c.items()}


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None

    def header(self, name: str, value: str) -> "Response":
        self.headers.append((name, value))
        return self


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Routes by method and a regular expression over the (still percent-encoded) path; the groups
    become :attr:`Request.params`."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"\Z"), handler))

    def match(self, method: str, path: str) -> tuple[Handler | None, tuple[str, ...], bool]:
        """(handler, params, path known for another method)."""
        other = False
        for m, rx, h in self.routes:
            mt = rx.match(path)
            if mt is None:
                continue
            if m == method or (method == "HEAD" and m == "GET"):
                return h, mt.groups(), False
            other = True
        return None, (), other


class HttpServer:
    """Serves ``app(request) -> Response`` on one listening socket."""

    def __init__(self, app: Handler, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEADER_BYTES, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        remote = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            while True:
                try:
                    req = await self._read_request(reader, remote)
                except HttpError as e:
                    await self._write(writer, Response(e.status, e.message + "\n", "text/plain; charset=utf-8"), "GET", close=True)
                    return
                if req is None:
                    return
                keep = self._keep_alive(req)
                resp = await self.app(req)
                if resp.stream is not None:
                    await self._write_stream(reader, writer, req, resp)
                    return
                await self._write(writer, resp, req.method, close=not keep)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad connection never stops the server
            log.exception("http connection %s failed", remote)
        finally:
            self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    @staticmethod
    def _keep_alive(req: Request) -> bool:
        conn = req.headers.get("connection", "").lower()
        if req.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    async def _read_request(self, reader: asyncio.StreamReader, remote: str) -> Request | None:
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                first = await reader.readline()
        except (asyncio.LimitOverrunError, ValueError):
            raise HttpError(431, "request line too long") from None
        if not first:
            return None
        head_lines: list[bytes] = []
        total = len(first)
        try:
            async with asyncio.timeout(HEADER_TIMEOUT):
                while True:
                    raw = await reader.readline()
                    if not raw:
                        return None
                    total += len(raw)
                    if total > MAX_HEADER_BYTES:
                        raise HttpError(431, "request headers too large")
                    if raw in (b"\r\n", b"\n"):
                        break
                    head_lines.append(raw)
        except (asyncio.LimitOverrunError, ValueError):
            raise HttpError(431, "request headers too large") from None
        line = first.decode("latin-1").rstrip("\r\n")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "bad request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for raw_line in head_lines:
            raw = raw_line.decode("latin-1").rstrip("\r\n")
            name, sep, value = raw.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, "bad header line")
            headers[name.lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked request bodies are not supported")
        body = b""
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise HttpError(400, "bad Content-Length") from None
            if length < 0:
                raise HttpError(400, "bad Content-Length")
            if length > MAX_BODY_BYTES:
                raise HttpError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
            async with asyncio.timeout(HEADER_TIMEOUT):
                body = await reader.readexactly(length)
        if not target.startswith("/"):
            raise HttpError(400, "bad request target")
        split = urlsplit(target)
        query: dict[str, str] = {}
        for k, v in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(k, v)
        return Request(method.upper(), target, split.path, query, headers, body, remote, version=version)

    @staticmethod
    def _head(resp: Response, length: int | None, close: bool) -> bytes:
        try:
            reason = HTTPStatus(resp.status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {resp.status} {reason}", f"Content-Type: {resp.content_type}"]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        lines += [f"{k}: {v}" for k, v in resp.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _write(self, writer: asyncio.StreamWriter, resp: Response, method: str, *, close: bool) -> None:
        body = resp.body.encode() if isinstance(resp.body, str) else resp.body
        writer.write(self._head(resp, len(body), close) + (b"" if method == "HEAD" else body))
        await writer.drain()

    async def _write_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request, resp: Response) -> None:
        """Write the stream; stop it when the client closes the connection (an EOF on the reading
        side, or a failed write)."""
        assert resp.stream is not None
        stream = resp.stream

        async def watch() -> None:
            try:
                while await reader.read(4096):
                    pass
            except (ConnectionError, OSError):
                pass
            req.disconnected.set()

        watcher = asyncio.create_task(watch())
        gone = asyncio.ensure_future(req.disconnected.wait())
        try:
            writer.write(self._head(resp, None, True))
            await writer.drain()
            while True:
                # the next chunk, unless the client goes away first: a stream waiting on a cluster
                # that does not answer is cancelled as soon as nobody wants it any more
                nxt = asyncio.ensure_future(stream.__anext__())
                await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    try:
                        await nxt
                    except (asyncio.CancelledError, StopAsyncIteration, Exception):  # noqa: BLE001
                        pass
                    break
                try:
                    chunk = nxt.result()
                except StopAsyncIteration:
                    break
                if writer.is_closing():
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            req.disconnected.set()
            watcher.cancel()
            gone.cancel()
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except RuntimeError:
                    pass


def monotonic_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)
