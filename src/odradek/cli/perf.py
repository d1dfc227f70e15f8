"""``odradek perf``: producer and consumer load generators with a live progress bar and a summary.

``perf produce`` sends ``--num-records`` records of ``--record-size`` bytes (optionally capped at
``--throughput`` records/s) and measures each record's latency from ``send`` to acknowledgement.
``perf consume`` reads ``--num-records`` records from the beginning of a topic (every partition,
or in a group with ``--group``) and reports throughput from assignment (or subscription: the
group join is included, and the time to the first record is reported beside it) to the last record.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

from ..client import Consumer, Producer, TopicPartition
from ..client.errors import KafkaError
from .common import EXIT_FAILED, bootstrap, client_parent, emit_json, run, security, table


class Progress:
    """A one-line progress bar on stderr, redrawn a few times a second (only on a terminal)."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total = total
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self.done = 0
        self.bytes = 0
        self._task: asyncio.Task | None = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            self.draw()
            sys.stderr.write("\n")
            sys.stderr.flush()

    async def _run(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.2)

    def draw(self) -> None:
        elapsed = max(1e-9, time.monotonic() - self.start)
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        width = 30
        filled = int(frac * width)
        bar = "#" * filled + "-" * (width - filled)
        rate = self.done / elapsed
        mbs = self.bytes / elapsed / 1e6
        sys.stderr.write(f"\r{self.label} [{bar}] {frac * 100:5.1f}%  {self.done:,}/{self.total:,}  {rate:,.0f} rec/s  {mbs:,.1f} MB/s  {elapsed:5.1f}s ")
        sys.stderr.flush()


def _tune_gc() -> None:
    """A load generator allocates a future and a record per send: collect the young generation
    less often (as a long-lived service would tune it) so the figures measure the client, not the
    cyclic collector."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


async def perf_produce(args: argparse.Namespace) -> int:
    n, size = args.num_records, args.record_size
    payload = (os.urandom(min(size, 64)) * (size // 64 + 1))[:size] if not args.compressible else (b"odradek perf " * (size // 13 + 1))[:size]
    latencies: list[float] = []
    failures: list[KafkaError] = []
    producer = Producer(
        bootstrap(args), acks=args.acks, compression=args.compression, linger_ms=args.linger_ms, batch_size=args.batch_size,
        enable_idempotence=args.acks in ("all", "-1") and not args.no_idempotence, request_timeout_ms=int(args.timeout * 1000),
        **security(args),
    )
    await producer.start()
    _tune_gc()
    loop_time = time.perf_counter
    progress = Progress(n, "produce", True if args.progress else None)
    sent_at: list[float] = [0.0] * n

    def done_cb(i: int) -> Any:
        def cb(err: KafkaError | None, md: Any) -> None:
            if err is not None:
                failures.append(err)
            else:
                latencies.append(loop_time() - sent_at[i])
                progress.done += 1
                progress.bytes += size

        return cb

    start = loop_time()
    with progress:
        for i in range(n):
            if args.throughput > 0:
                ahead = i / args.throughput - (loop_time() - start)
                if ahead > 0.002:
                    await asyncio.sleep(ahead)
            sent_at[i] = loop_time()
            key = str(i).encode() if args.keyed else None
            await producer.send(args.topic, payload, key, on_delivery=done_cb(i))
            if i % 1000 == 999:
                await asyncio.sleep(0)
        await producer.flush()
    elapsed = loop_time() - start
    await producer.close()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    summary = {
        "topic": args.topic, "records": n, "record_size": size, "acks": args.acks, "compression": args.compression,
        "linger_ms": args.linger_ms, "batch_size": args.batch_size, "failed": len(failures),
        "seconds": round(elapsed, 3), "records_per_sec": round(len(latencies) / elapsed, 1), "mb_per_sec": round(len(latencies) * size / elapsed / 1e6, 2),
        "latency_ms": {"avg": round(sum(ms) / len(ms), 2) if ms else None, **{f"p{q:g}": round(percentile(ms, q), 2) for q in (50, 95, 99, 99.9)}, "max": round(ms[-1], 2) if ms else None},
    }
    _report(args, summary)
    return EXIT_FAILED if failures else 0


async def perf_consume(args: argparse.Namespace) -> int:
    n = args.num_records
    consumer = Consumer(
        bootstrap(args), group_id=args.group, auto_offset_reset="earliest", enable_auto_commit=args.group is not None,
        request_timeout_ms=int(args.timeout * 1000), max_poll_records=args.max_poll_records, fetch_max_wait_ms=100,
        max_partition_fetch_bytes=args.max_partition_fetch_bytes, session_timeout_ms=10000, heartbeat_interval_ms=1000,
        **security(args),
    )
    await consumer.start()
    _tune_gc()
    t0 = time.perf_counter()
    if args.group:
        consumer.subscribe([args.topic])
    else:
        parts = await consumer.partitions_for(args.topic)
        if not parts:
            await consumer.close()
            raise KafkaError(3, f"topic {args.topic!r} does not exist")
        tps = [TopicPartition(args.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
    got = 0
    nbytes = 0
    first: float | None = None
    e2e: list[float] = []
    progress = Progress(n, "consume", True if args.progress else None)
    deadline = time.monotonic() + args.max_seconds
    with progress:
        while got < n and time.monotonic() < deadline:
            records = await consumer.poll(1.0)
            if not records:
                continue
            now_ms = time.time() * 1000
            if first is None:
                first = time.perf_counter()
            for r in records:
                nbytes += len(r.value or b"") + len(r.key or b"")
            if len(e2e) < 200000:
                e2e.extend(now_ms - r.timestamp for r in records[:: max(1, len(records) // 50)])
            got += len(records)
            progress.done = got
            progress.bytes = nbytes
    end = time.perf_counter()
    await consumer.close()
    elapsed = end - t0  # from assignment (or subscribe: group join included) to the last record
    e2e.sort()
    summary = {
        "topic": args.topic, "records": got, "bytes": nbytes, "group": args.group,
        "seconds_to_first_record": round((first - t0) if first else float("nan"), 3),
        "seconds": round(elapsed, 3), "records_per_sec": round(got / elapsed, 1) if elapsed > 0 else None,
        "mb_per_sec": round(nbytes / elapsed / 1e6, 2) if elapsed > 0 else None,
        "record_age_ms": {f"p{q:g}": round(percentile(e2e, q), 1) for q in (50, 99)},
    }
    _report(args, summary)
    return 0 if got >= n else EXIT_FAILED


def _report(args: argparse.Namespace, summary: dict) -> None:
    if args.output == "json":
        emit_json(summary)
        return
    rows = []
    for k, v in summary.items():
        if isinstance(v, dict):
            rows += [[f"{k} {kk}", vv] for kk, vv in v.items()]
        else:
            rows.append([k, v])
    table(["metric", "value"], [[k.replace("_", " "), f"{v:,}" if isinstance(v, (int, float)) and not isinstance(v, bool) else v] for k, v in rows])


def register(sub: argparse._SubParsersAction) -> None:
    parent = client_parent()
    perf = sub.add_parser("perf", help="producer and consumer load generators", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    psub = perf.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = psub.add_parser("produce", parents=[parent], help="send records as fast as allowed; report throughput and latency percentiles")
    p.set_defaults(func=lambda a: run(perf_produce, a))
    p.add_argument("topic")
    p.add_argument("-n", "--num-records", type=int, default=100000)
    p.add_argument("-s", "--record-size", type=int, default=100)
    p.add_argument("--throughput", type=float, default=0, help="cap in records/s (0: none)")
    p.add_argument("--acks", default="all", choices=["all", "-1", "0", "1"])
    p.add_argument("-z", "--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    p.add_argument("--linger-ms", type=float, default=5)
    p.add_argument("--batch-size", type=int, default=65536)
    p.add_argument("--keyed", action="store_true", help="give each record a key (its number)")
    p.add_argument("--compressible", action="store_true", help="repetitive values instead of random bytes")
    p.add_argument("--no-idempotence", action="store_true")
    p.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is not a terminal")
    p = psub.add_parser("consume", parents=[parent], help="read records from the beginning; report throughput")
    p.set_defaults(func=lambda a: run(perf_consume, a))
    p.add_argument("topic")
    p.add_argument("-n", "--num-records", type=int, default=100000)
    p.add_argument("-g", "--group", default=None)
    p.add_argument("--max-poll-records", type=int, default=5000)
    p.add_argument("--max-partition-fetch-bytes", type=int, default=4 * 1024 * 1024)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is not a terminal")
