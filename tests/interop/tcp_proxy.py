"""A TCP forwarder that watches connections without reading them (they may be TLS): when each one
opened and closed, when bytes last went each way, and the local port of its upstream side (the
peer port the broker logs)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Link:
    opened: float
    upstream_port: int = 0
    closed: float | None = None
    to_broker: int = 0
    to_client: int = 0
    last_to_broker: float = 0.0
    sends: list[float] = field(default_factory=list)  # when client bytes arrived, one entry per 100 ms at most

    def lifetime(self, now: float | None = None) -> float:
        return (self.closed or now or time.monotonic()) - self.opened

    def busy_after(self, seconds: float) -> bool:
        """Client bytes went to the broker more than ``seconds`` after this connection opened."""
        return any(t - self.opened > seconds for t in self.sends)


class Proxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>, in a thread of its own."""

    def __init__(self, port: int, target: int) -> None:
        self.port = port
        self.target = target
        self.links: list[Link] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"proxy-{port}")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"proxy on {port} did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        link = Link(time.monotonic())
        with self._lock:
            self.links.append(link)
        try:
            breader, bwriter = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            cwriter.close()
            link.closed = time.monotonic()
            return
        link.upstream_port = bwriter.get_extra_info("sockname")[1]

        async def pump(reader, writer, to_broker: bool) -> None:
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    now = time.monotonic()
                    if to_broker:
                        link.to_broker += len(data)
                        if not link.sends or now - link.sends[-1] >= 0.1:
                            link.sends.append(now)
                        link.last_to_broker = now
                    else:
                        link.to_client += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    writer.close()
                except (ConnectionError, OSError, RuntimeError):
                    pass

        await asyncio.gather(pump(creader, bwriter, True), pump(breader, cwriter, False))
        link.closed = time.monotonic()

    def snapshot(self) -> list[Link]:
        with self._lock:
            return list(self.links)

    def stop(self) -> None:
        def shut() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shut)
        self._thread.join(10)
