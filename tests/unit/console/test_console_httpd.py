"""The console's small HTTP server, over real loopback sockets: framing, limits, keep-alive, and a
stream that stops when the client goes away."""

from __future__ import annotations

import asyncio

from odradek.console.httpd import MAX_BODY_BYTES, HttpServer, Request, Response, Router


async def _with_server(fn):
    router = Router()
    gone = asyncio.Event()

    async def echo(req: Request) -> Response:
        return Response(200, f"{req.method} {req.path} {req.query} {req.form} {req.params}", "text/plain")

    async def stream(req: Request) -> Response:
        async def gen():
            try:
                yield b"first\n"
                await asyncio.sleep(3600)  # a scan waiting on a cluster that does not answer
                yield b"never\n"
            finally:
                gone.set()

        return Response(200, b"", "text/plain", stream=gen())

    router.add("GET", r"/echo/([^/]+)", echo)
    router.add("POST", r"/echo/([^/]+)", echo)
    router.add("GET", r"/stream", stream)

    async def app(req: Request) -> Response:
        handler, params, other = router.match(req.method, req.path)
        if handler is None:
            return Response(405 if other else 404, "no\n", "text/plain")
        req.params = params
        return await handler(req)

    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        return await fn(server.port, gone)
    finally:
        await server.close()


async def _exchange(port: int, data: bytes, *, read_all: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(), 10) if read_all else await reader.read(65536)
    writer.close()
    return out


def test_requests_limits_and_keep_alive():
    async def go(port, _gone):
        two = await _exchange(port, b"GET /echo/a%2Fb?x=1&x=2&y= HTTP/1.1\r\nHost: h\r\n\r\n"
                                    b"POST /echo/z HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\na=1&b=%")
        assert two.count(b"HTTP/1.1 200 OK") == 2  # two requests on one connection
        assert b"GET /echo/a%2Fb {'x': '1', 'y': ''} {} ('a%2Fb',)" in two  # first value wins; params still encoded
        assert b"POST /echo/z {} {'a': '1', 'b': '%'} ('z',)" in two
        old = await _exchange(port, b"GET /echo/old HTTP/1.0\r\n\r\n")  # HTTP/1.0: closed after the answer
        assert old.startswith(b"HTTP/1.1 200") and b"Connection: close" in old
        head = await _exchange(port, b"HEAD /echo/h HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n") and b"Content-Length: " in head
        assert (await _exchange(port, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await _exchange(port, b"GET /echo/x HTTP/1.1\r\nbad header\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await _exchange(port, b"GET /echo/x HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n")).startswith(b"HTTP/1.1 431")
        big = f"POST /echo/x HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        assert (await _exchange(port, big)).startswith(b"HTTP/1.1 413")
        assert (await _exchange(port, b"POST /echo/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")).startswith(b"HTTP/1.1 501")
        assert (await _exchange(port, b"POST /echo/x HTTP/1.1\r\nContent-Length: -4\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await _exchange(port, b"PUT /echo/x HTTP/1.1\r\nConnection: close\r\n\r\n")).startswith(b"HTTP/1.1 405")
        assert (await _exchange(port, b"GET /elsewhere HTTP/1.1\r\nConnection: close\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await _exchange(port, b"GET http://elsewhere/ HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 400")

    asyncio.run(_with_server(go))


def test_a_stream_is_cancelled_when_the_client_goes_away():
    async def go(port, gone):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
        got = b""
        while b"first\n" not in got:
            got += await asyncio.wait_for(reader.read(4096), 10)
        assert got.startswith(b"HTTP/1.1 200") and b"Connection: close" in got
        writer.close()
        await asyncio.wait_for(gone.wait(), 10)  # the generator was stopped, not left waiting

    asyncio.run(_with_server(go))
