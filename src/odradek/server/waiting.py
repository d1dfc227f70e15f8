"""Waiting on partitions without polling: delayed produce, long-poll fetch, coordinator writes.

Partitions call their watchers when the log end or the high watermark moves; a waiter registers a
callback that resolves a future, re-checks its condition, and gives up at its deadline.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Iterable


async def wait_until(partitions: Iterable, done: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``done()`` holds, woken by any of ``partitions``; False when ``timeout`` passes first."""
    parts = list(partitions)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        fut = loop.create_future()

        def wake(fut=fut) -> None:
            if not fut.done():
                fut.set_result(None)

        for part in parts:
            part.watch(wake)
        try:
            async with asyncio.timeout(remaining):
                await fut
        except TimeoutError:
            pass
        finally:
            for part in parts:
                part.unwatch(wake)
    return True
