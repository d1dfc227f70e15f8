"""The event loop's health: how much of the time it sits idle in ``select()`` and how late it
wakes up.

One loop does all of a broker's network and request work, so the idle fraction is what Kafka's
NetworkProcessorAvgIdlePercent and RequestHandlerAvgIdlePercent measure for its thread pools. It
needs a loop made by :meth:`LoopMonitor.new_event_loop` (``odradek serve`` makes one when
``metrics.listener`` is set): a :class:`asyncio.SelectorEventLoop` over a selector that adds up the
time spent blocked in ``select()``. Lag is measured by a ticker that asks to run every 100 ms and
records how late it runs.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from time import monotonic

from .registry import Histogram

TICK = 0.1  # s between lag probes
WINDOW = 5.0  # s between updates of the idle average (as Yammer meters tick)
_ALPHA = 1.0 - math.exp(-WINDOW / 60.0)  # a one-minute exponentially weighted average
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class TimedSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """The platform's default selector, adding up the seconds ``select()`` blocked."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = 0.0

    def select(self, timeout=None):
        t = monotonic()
        try:
            return super().select(timeout)
        finally:
            self.idle += monotonic() - t


class LoopMonitor:
    def __init__(self) -> None:
        self.selector: TimedSelector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_idle = 0.0
        self.lag = Histogram(LAG_BUCKETS)
        self.idle_average: float | None = None  # one-minute average of the idle fraction
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._window_start = 0.0
        self._window_idle = 0.0
        self._started = 0.0

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        self.selector = TimedSelector()
        self._loop = asyncio.SelectorEventLoop(self.selector)
        return self._loop

    @property
    def timed(self) -> bool:
        """Whether the running loop is ours (else idle time is unknown)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._loop is not None and loop is self._loop

    def idle_seconds(self) -> float:
        return self.selector.idle if self.selector is not None else 0.0

    def idle_fraction(self) -> float | None:
        """The one-minute average, or the fraction since start before the first window closed."""
        if not self.timed:
            return None
        if self.idle_average is not None:
            return self.idle_average
        elapsed = monotonic() - self._started
        return min(1.0, (self.idle_seconds() - self._start_idle) / elapsed) if elapsed > 0 else 1.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        now = monotonic()
        self._started = self._window_start = now
        self._start_idle = self._window_idle = self.idle_seconds()
        self._due = loop.time() + TICK
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.lag.observe(max(0.0, now - self._due))
        mono = monotonic()
        if mono - self._window_start >= WINDOW and self.selector is not None:
            idle = self.idle_seconds()
            frac = min(1.0, max(0.0, (idle - self._window_idle) / (mono - self._window_start)))
            self.idle_average = frac if self.idle_average is None else self.idle_average + _ALPHA * (frac - self.idle_average)
            self._window_start, self._window_idle = mono, idle
        self._due = now + TICK
        self._handle = loop.call_at(self._due, self._tick)
