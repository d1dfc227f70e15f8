#!/usr/bin/env python3
"""Micro-benchmark of the metrics hooks on the request path, in-process (no broker, no sockets):
what one request and one partition cost in CPU when ``metrics.listener`` is on. Min of 7 repeats.

    python3 bench/micro_metrics.py
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
import timeit
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from odradek.metrics.loop import LoopMonitor  # noqa: E402
from odradek.metrics.registry import BrokerMetrics  # noqa: E402
from odradek.protocol.fetch import FetchPartitionData, FetchTopicData  # noqa: E402
from odradek.protocol.produce import PartitionResult  # noqa: E402
from odradek.server.router import Response  # noqa: E402


def main() -> None:
    m = BrokerMetrics(SimpleNamespace(), ("127.0.0.1", 0))  # type: ignore[arg-type]
    conn = SimpleNamespace(proto=SimpleNamespace(arrived=time.monotonic()))
    request = SimpleNamespace(replica_id=-1)
    arrivals: collections.deque = collections.deque()
    results = [("t", [PartitionResult(0, 0, 5)])]
    topics = [FetchTopicData("t", None, [FetchPartitionData(0, 0, 10, 10, 0, (), 4096)])]

    def request_path() -> None:
        # FrameProtocol stamps arrival; router times the handler; connection times the send
        arrivals.append(time.monotonic())
        conn.proto.arrived = arrivals.popleft()
        t = m.begin(conn, 0, 9, request, 1200)
        out = Response([b"x"], 1)
        t.handled(out, out)
        s = time.monotonic()
        t.finish(s, time.monotonic())

    def produce_partition() -> None:
        m.produced("t", 1200, 10)

    def produce_errors() -> None:
        m.produce_errors(results)

    def fetch_partition() -> None:
        m.fetched(topics, False)

    n = 200_000
    for name, fn in (("per request (arrival, route, send)", request_path),
                     ("per produced partition (records, bytes)", produce_partition),
                     ("per produce response (error codes, 1 partition)", produce_errors),
                     ("per fetch response (1 partition: bytes out, errors)", fetch_partition)):
        best = min(timeit.repeat(fn, number=n, repeat=7)) / n
        print(f"{name:55s} {best * 1e6:6.2f} us")
    plain = _loop_iteration(asyncio.new_event_loop())
    timed = _loop_iteration(LoopMonitor().new_event_loop())
    print(f"{'per event-loop iteration, default selector':55s} {plain * 1e6:6.2f} us")
    print(f"{'per event-loop iteration, timed selector (metrics on)':55s} {timed * 1e6:6.2f} us")


def _loop_iteration(loop) -> float:
    async def spin(n: int = 100_000) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await asyncio.sleep(0)  # one loop iteration, select() with timeout 0 included
        return (time.perf_counter() - t) / n

    try:
        return min(loop.run_until_complete(spin()) for _ in range(7))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
