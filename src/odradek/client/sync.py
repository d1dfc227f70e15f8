"""A small synchronous wrapper for scripts: the asyncio clients run on a private loop thread.

::

    from odradek.client.sync import SyncProducer, SyncConsumer, SyncAdmin

    with SyncProducer("127.0.0.1:9092") as p:
        p.send("orders", b"hello", key=b"k").result()   # a concurrent.futures.Future
        p.flush()

    with SyncConsumer("127.0.0.1:9092", group_id="g", auto_offset_reset="earliest") as c:
        c.subscribe(["orders"])
        for record in c.poll(timeout=1.0):
            print(record.value)

Every method of the async class is available: coroutines are run to completion and their result
returned; plain methods are called on the loop thread. Callbacks (``on_delivery``, rebalance
listeners) run on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from .admin import Admin
from .consumer import Consumer
from .producer import Producer

__all__ = ["SyncProducer", "SyncConsumer", "SyncAdmin"]

T = TypeVar("T")


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="odradek-client-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        async def go() -> Any:
            return fn(*args, **kw)

        return self.run(go())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class _SyncWrapper(Generic[T]):
    _cls: type
    _start: bool = True

    def __init__(self, *args: Any, **kw: Any) -> None:
        self._loop = _Loop()
        self._obj: Any = self._loop.call(self._cls, *args, **kw)
        if self._start:
            self._loop.run(self._obj.start())

    @property
    def aio(self) -> Any:
        """The wrapped asyncio object."""
        return self._obj

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def method(*args: Any, **kw: Any) -> Any:
            if asyncio.iscoroutinefunction(attr):
                return self._loop.run(attr(*args, **kw))
            return self._loop.call(attr, *args, **kw)

        method.__name__ = name
        method.__doc__ = attr.__doc__
        return method

    def close(self, *args: Any, **kw: Any) -> None:
        try:
            self._loop.run(self._obj.close(*args, **kw))
        finally:
            self._loop.stop()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncProducer(_SyncWrapper[Producer]):
    """:class:`~odradek.client.Producer` for synchronous code; ``send`` returns a
    ``concurrent.futures.Future`` of :class:`~odradek.client.RecordMetadata`."""

    _cls = Producer

    def send(self, topic: str, value: Any = None, key: Any = None, **kw: Any) -> concurrent.futures.Future:
        async def go() -> asyncio.Future:
            return await self._obj.send(topic, value, key, **kw)

        fut = self._loop.run(go())
        out: concurrent.futures.Future = concurrent.futures.Future()

        def done(f: asyncio.Future) -> None:
            if f.exception() is not None:
                out.set_exception(f.exception())
            else:
                out.set_result(f.result())

        self._loop.loop.call_soon_threadsafe(fut.add_done_callback, done)
        return out

    def send_and_wait(self, topic: str, value: Any = None, key: Any = None, **kw: Any) -> Any:
        return self._loop.run(self._obj.send_and_wait(topic, value, key, **kw))


class SyncConsumer(_SyncWrapper[Consumer]):
    """:class:`~odradek.client.Consumer` for synchronous code; iterate it for records forever."""

    _cls = Consumer
    _start = True

    def __iter__(self) -> Any:
        while True:
            yield from self._loop.run(self._obj.poll(1.0))


class SyncAdmin(_SyncWrapper[Admin]):
    """:class:`~odradek.client.Admin` for synchronous code."""

    _cls = Admin
