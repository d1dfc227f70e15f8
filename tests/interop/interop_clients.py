"""Produce/consume/admin helpers for each real client the interop tests drive.

Every client gets the same two operations so tests (and the cross-client matrix) can mix them:

- ``<client>_produce(bootstrap, topic, records, codec=..., acks=...) -> list[int]``: the partition
  each record landed in, in the order given (as the client reported it), or ``None`` entries where
  the client does not say (KafkaJS batches);
- ``<client>_consume(bootstrap, topic, until) -> dict[int, list[Got]]``: reads each partition from
  its start (no consumer group) until it holds ``until[partition]`` records or a deadline passes.

Records are :class:`Rec` (what was sent) and :class:`Got` (what came back).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from helpers import wait_for
from murmur2 import partition_for

HERE = Path(__file__).resolve().parent
KAFKAJS_DIR = HERE / "kafkajs"
DRIVER = KAFKAJS_DIR / "driver.js"

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CONSUME_TIMEOUT = 30.0


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Rec:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int | None = None  # CreateTime in ms; None lets the client stamp it
    partition: int | None = None  # an explicit partition, else the client's partitioner picks


@dataclass(frozen=True)
class Got:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int | None = None


def make_records(
    tag: str,
    n: int = 24,
    *,
    keyless_every: int = 3,
    headers: bool = True,
    ts_base: int | None = None,
    ts_step: int = 10,
    value_repeat: int = 8,
) -> list[Rec]:
    """``n`` records with unique values; every ``keyless_every``-th has no key.

    Values repeat a phrase so compressed batches really shrink; keys are distinct so murmur2
    spreads them over partitions. With ``ts_base`` every record gets an explicit, increasing
    CreateTime ``ts_base + i * ts_step``.
    """
    out = []
    for i in range(n):
        keyed = not (keyless_every and i % keyless_every == keyless_every - 1)
        key = f"{tag}-key-{i}".encode() if keyed else None
        value = (f"{tag} value {i} " * value_repeat).encode()
        hdrs: tuple[tuple[str, bytes], ...] = ()
        if headers:
            hdrs = (("idx", str(i).encode()), ("bin", bytes([i % 256, 0, 255])), ("idx", b"dup"))
        ts = None if ts_base is None else ts_base + i * ts_step
        out.append(Rec(key, value, hdrs, ts))
    return out


def expected_by_partition(records: Sequence[Rec], partitions: Sequence[int | None]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r, p in zip(records, partitions):
        out.setdefault(p, []).append(r)
    return out


def counts(records: Sequence[Rec], partitions: Sequence[int], base: dict[int, int] | None = None) -> dict[int, int]:
    out = dict(base or {})
    for p in partitions:
        out[p] = out.get(p, 0) + 1
    return out


def check_murmur2(records: Sequence[Rec], partitions: Sequence[int | None], num_partitions: int) -> None:
    """Every keyed record without an explicit partition is where Java's partitioner puts it
    (records whose partition is unknown, None, are left out)."""
    wrong = [
        (r.key, p, partition_for(r.key, num_partitions))
        for r, p in zip(records, partitions)
        if r.key is not None and r.partition is None and p is not None and p != partition_for(r.key, num_partitions)
    ]
    assert not wrong, f"keyed records off their murmur2 partition (key, got, want): {wrong[:10]}"


def check_consumed(
    records: Sequence[Rec],
    partitions: Sequence[int | None] | None,
    got: dict[int, list[Got]],
    *,
    num_partitions: int | None = None,
    check_headers: bool = True,
    check_timestamps: bool = True,
    base_offsets: dict[int, int] | None = None,
) -> None:
    """``got`` holds exactly ``records``: per partition, in produce order, offsets consecutive.

    ``partitions`` says where each record went (from the producer); None entries (or None for all)
    are inferred from where the record was read, which must then be unique by value. With
    ``num_partitions``, keyed records must sit in their murmur2 partition.
    """
    where_read = {}
    for p, gs in got.items():
        for g in gs:
            where_read.setdefault(g.value, p)
    parts = []
    for i, r in enumerate(records):
        p = partitions[i] if partitions is not None else None
        if p is None:
            p = where_read.get(r.value, -1)
        parts.append(p)
    if num_partitions is not None:
        check_murmur2(records, parts, num_partitions)
    want = expected_by_partition(records, parts)
    assert -1 not in want, f"{len(want[-1])} records never read back, e.g. {want[-1][:2]}"
    for p in sorted(set(want) | set(got)):
        w = want.get(p, [])
        g = got.get(p, [])
        assert len(g) == len(w), f"partition {p}: read {len(g)} records, produced {len(w)}"
        start = (base_offsets or {}).get(p, 0)
        assert [x.offset for x in g] == list(range(start, start + len(g))), f"partition {p}: offsets {[x.offset for x in g]}"
        for i, (rw, rg) in enumerate(zip(w, g)):
            assert rg.key == rw.key, f"partition {p} #{i}: key {rg.key!r} != {rw.key!r}"
            assert rg.value == rw.value, f"partition {p} #{i}: value {rg.value!r:.60} != {rw.value!r:.60}"
            if check_headers:
                assert tuple(rg.headers) == tuple(rw.headers), f"partition {p} #{i}: headers {rg.headers} != {rw.headers}"
            if check_timestamps and rw.timestamp is not None:
                assert rg.timestamp == rw.timestamp, f"partition {p} #{i}: timestamp {rg.timestamp} != {rw.timestamp}"


def first_at_or_after(recs: Sequence[Rec], ts: int, base: int = 0) -> int | None:
    """Offset of the first record with timestamp >= ts in one partition's list, or None."""
    for i, r in enumerate(recs):
        if r.timestamp >= ts:
            return base + i
    return None


def time_records(tag: str, base: int, num_partitions: int, per_partition: int = 12) -> list[Rec]:
    """Records on explicit partitions; in partition p the timestamps are base+p plus 0, 100, 100,
    200, 300, ... (one repeated timestamp: the first of the two is the answer for it)."""
    recs = []
    for p in range(num_partitions):
        stamps = [0, 100, 100] + [100 * k for k in range(2, per_partition - 1)]
        for i, s in enumerate(stamps):
            recs.append(Rec(f"{tag}-{p}-{i}".encode(), f"{tag} {p} {i} ".encode() * 5, (), base + s + p, p))
    return recs


def time_queries(base: int, p: int) -> list[int]:
    """Times to look up in partition p of :func:`time_records`: before all, exact, the repeated
    one, between two, exact later, just after one, after all."""
    return [base - 1000, base + p, base + p + 100, base + p + 150, base + p + 1000, base + p + 1001, base + 10_000_000]


def _norm_headers(hs) -> tuple[tuple[str, bytes], ...]:
    if not hs:
        return ()
    return tuple((k, bytes(v) if v is not None else None) for k, v in hs)


# --- confluent-kafka (librdkafka 2.16) --------------------------------------------------------


def ck_config(bootstrap: str, **extra) -> dict:
    # librdkafka's log lines go to Python logging (pytest shows them with a failing test's
    # report) instead of stderr, where handles outliving their broker would repeat
    # "Connection refused" long after their test.
    conf = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10000,
        "api.version.request.timeout.ms": 5000,
        "logger": logging.getLogger("librdkafka"),
    }
    conf.update(extra)
    return conf


def ck_admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient(ck_config(bootstrap))


def ck_create_topic(bootstrap: str, topic: str, partitions: int = 3, configs: dict | None = None) -> None:
    from confluent_kafka.admin import NewTopic

    a = ck_admin(bootstrap)
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, config=configs or {})], operation_timeout=10, request_timeout=15)
    fs[topic].result(timeout=20)


def ck_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Rec],
    *,
    codec: str = "none",
    acks: int | str = "all",
    partitioner: str = "murmur2_random",
    **extra,
) -> list[int]:
    from confluent_kafka import Producer

    conf = ck_config(
        bootstrap,
        **{"compression.type": codec, "acks": str(acks), "partitioner": partitioner, "linger.ms": 20, "message.timeout.ms": 20000},
    )
    conf.update(extra)
    p = Producer(conf)
    parts: list[int | None] = [None] * len(records)
    errors: list = []

    for i, r in enumerate(records):
        def cb(err, msg, i=i):
            if err is not None:
                errors.append((i, err))
            else:
                parts[i] = msg.partition()

        kw = {}
        if r.partition is not None:
            kw["partition"] = r.partition
        p.produce(
            topic,
            value=r.value,
            key=r.key,
            headers=list(r.headers) or None,
            timestamp=r.timestamp or 0,
            on_delivery=cb,
            **kw,
        )
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} records still undelivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    return parts  # type: ignore[return-value]


def ck_consume(bootstrap: str, topic: str, until: dict[int, int], *, timeout: float = CONSUME_TIMEOUT, start: dict[int, int] | None = None, **extra) -> dict[int, list[Got]]:
    """Assign (no subscribe, no commits) and read from the beginning."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    conf = ck_config(
        bootstrap,
        **{
            "group.id": uniq("ck-assign"),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "fetch.queue.backoff.ms": 10,
        },
    )
    conf.update(extra)
    c = Consumer(conf)
    out: dict[int, list[Got]] = {p: [] for p in until}
    try:
        c.assign([TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING)) for p in until])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(out[p]) < n for p, n in until.items()):
            msgs = c.consume(500, 0.2)
            for m in msgs:
                if m.error():
                    raise AssertionError(f"consume error: {m.error()}")
                out.setdefault(m.partition(), []).append(
                    Got(m.partition(), m.offset(), m.key(), m.value(), _norm_headers(m.headers()), m.timestamp()[1])
                )
    finally:
        c.close()
    return out


def ck_read_to_end(bootstrap: str, topic: str, isolation: str = "read_uncommitted", *, partitions: int | None = None,
                   timeout: float = 30.0, strict: bool = False) -> list[tuple[int, int, bytes | None, bytes | None, int]]:
    """Every record of ``topic`` from the start of each partition (``partitions`` of them, or as
    many as the metadata lists) to where a consumer with ``isolation`` sees its end (partition
    EOF: the last stable offset for read_committed), in the order consumed: (partition, offset,
    key, value, timestamp). ``strict``: any other consumer error is a failure (else librdkafka is
    left to retry)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": uniq("ck-reader"), "isolation.level": isolation,
                  "enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 100})
    try:
        parts = list(range(partitions)) if partitions is not None else sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        got = []
        eof: set[int] = set()

        def more() -> bool:
            for m in c.consume(1000, 0.2):
                if m.error() is None:
                    got.append((m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]))
                    eof.discard(m.partition())
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                elif strict:
                    raise AssertionError(f"reading {topic}: {m.error()}")
            return len(eof) == len(parts)

        wait_for(more, timeout, 0, what=f"{isolation} read of {topic} to its end")
        return got
    finally:
        c.close()


# --- kafka-python 3 -----------------------------------------------------------------------------

KP_CODEC = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}


def kp_acks(acks):
    return "all" if acks in ("all", -1) else int(acks)


def kp_produce(bootstrap: str, topic: str, records: Sequence[Rec], *, codec: str = "none", acks="all", **extra) -> list[int]:
    from kafka import KafkaProducer

    kw = dict(bootstrap_servers=bootstrap, acks=kp_acks(acks), compression_type=KP_CODEC[codec], linger_ms=20, request_timeout_ms=15000)
    if kp_acks(acks) != "all":
        kw["enable_idempotence"] = False  # idempotence needs acks=all
    kw.update(extra)
    p = KafkaProducer(**kw)
    try:
        futs = []
        for r in records:
            futs.append(
                p.send(topic, key=r.key, value=r.value, headers=list(r.headers) or None, timestamp_ms=r.timestamp, partition=r.partition)
            )
        p.flush(30)
        return [f.get(timeout=30).partition for f in futs]
    finally:
        p.close(timeout=10)


def kp_consumer(bootstrap: str, **extra):
    from kafka import KafkaConsumer

    kw = dict(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        request_timeout_ms=15000,
    )
    kw.update(extra)
    return KafkaConsumer(**kw)


def kp_consume(bootstrap: str, topic: str, until: dict[int, int], *, timeout: float = CONSUME_TIMEOUT, start: dict[int, int] | None = None, **extra) -> dict[int, list[Got]]:
    from kafka import TopicPartition

    c = kp_consumer(bootstrap, **extra)
    out: dict[int, list[Got]] = {p: [] for p in until}
    try:
        tps = [TopicPartition(topic, p) for p in until]
        c.assign(tps)
        for tp in tps:
            if start and tp.partition in start:
                c.seek(tp, start[tp.partition])
            else:
                c.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(out[p]) < n for p, n in until.items()):
            for tp, msgs in c.poll(timeout_ms=200).items():
                for m in msgs:
                    out.setdefault(tp.partition, []).append(Got(tp.partition, m.offset, m.key, m.value, _norm_headers(m.headers), m.timestamp))
    finally:
        c.close()
    return out


def kp_admin(bootstrap: str):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)


# --- aiokafka -----------------------------------------------------------------------------------

AK_CODEC = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}


def ak_produce(bootstrap: str, topic: str, records: Sequence[Rec], *, codec: str = "none", acks="all", **extra) -> list[int | None]:
    from aiokafka import AIOKafkaProducer

    async def run():
        kw = dict(bootstrap_servers=bootstrap, acks=kp_acks(acks), compression_type=AK_CODEC[codec], linger_ms=20, request_timeout_ms=15000)
        kw.update(extra)
        p = AIOKafkaProducer(**kw)
        await p.start()
        try:
            futs = []
            for r in records:
                futs.append(
                    await p.send(topic, key=r.key, value=r.value, headers=list(r.headers) or None, timestamp_ms=r.timestamp, partition=r.partition)
                )
            await p.flush()
            mds = await asyncio.wait_for(asyncio.gather(*futs), 30)
            # acks=0: aiokafka resolves each send with None, so where a record went is unknown.
            return [None if md is None else md.partition for md in mds]
        finally:
            await p.stop()

    return asyncio.run(run())


def ak_consume(bootstrap: str, topic: str, until: dict[int, int], *, timeout: float = CONSUME_TIMEOUT, start: dict[int, int] | None = None, **extra) -> dict[int, list[Got]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run():
        kw = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=15000)
        kw.update(extra)
        c = AIOKafkaConsumer(**kw)
        await c.start()
        out: dict[int, list[Got]] = {p: [] for p in until}
        try:
            tps = [TopicPartition(topic, p) for p in until]
            c.assign(tps)
            for tp in tps:
                if start and tp.partition in start:
                    c.seek(tp, start[tp.partition])
            rest = [tp for tp in tps if not (start and tp.partition in start)]
            if rest:
                await c.seek_to_beginning(*rest)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(len(out[p]) < n for p, n in until.items()):
                batch = await c.getmany(timeout_ms=200)
                for tp, msgs in batch.items():
                    for m in msgs:
                        out.setdefault(tp.partition, []).append(Got(tp.partition, m.offset, m.key, m.value, _norm_headers(m.headers), m.timestamp))
        finally:
            await c.stop()
        return out

    return asyncio.run(run())


# --- kcat (librdkafka 2.0.2) ---------------------------------------------------------------------

KCAT = shutil.which("kcat") or shutil.which("kafkacat") or "kcat"


def kcat(args: list[str], *, input: bytes | None = None, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-3000:]}")
    return proc


def kcat_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Rec],
    *,
    codec: str = "none",
    acks="all",
    partitioner: str = "murmur2_random",
    extra_args: Iterable[str] = (),
) -> list[None]:
    """``kcat -P`` with a key delimiter (a record without one has no key).

    kcat sets one header set for a whole run (-H) and cannot set timestamps, so every record
    here must carry the same headers and no timestamp. Keys and values must not hold a tab or
    newline. kcat does not say where records went: the returned list is all None.
    """
    hdrs = {r.headers for r in records}
    assert len(hdrs) <= 1, "kcat sends one header set per run"
    assert all(r.timestamp is None for r in records), "kcat cannot set timestamps"
    lines = []
    for r in records:
        assert r.value is not None and b"\n" not in r.value and b"\t" not in r.value
        assert r.partition is None
        lines.append(r.value if r.key is None else r.key + b"\t" + r.value)
    args = ["-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", f"acks={acks}", "-X", f"partitioner={partitioner}", "-m", "15"]
    if codec != "none":
        args += ["-z", codec]
    for k, v in (next(iter(hdrs)) if hdrs else ()):
        args += ["-H", f"{k}={v.decode()}"]
    args += list(extra_args)
    kcat(args, input=b"\n".join(lines) + b"\n")
    return [None] * len(records)


def kcat_consume(bootstrap: str, topic: str, until: dict[int, int], *, timeout: float = CONSUME_TIMEOUT, offset: str = "beginning", extra_args: Iterable[str] = ()) -> dict[int, list[Got]]:
    """``kcat -C -J -e`` per partition (group-less), from ``offset``, until its count or EOF."""
    out: dict[int, list[Got]] = {}
    for p, n in until.items():
        out[p] = []
        if n == 0:
            continue
        args = ["-C", "-b", bootstrap, "-t", topic, "-p", str(p), "-o", offset, "-c", str(n), "-e", "-J", "-m", "15", *extra_args]
        proc = kcat(args, timeout=timeout)
        for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            out[p].append(_kcat_got(d))
    return out


def _kcat_got(d: dict) -> Got:
    hs = d.get("headers") or []
    headers = tuple((hs[i], None if hs[i + 1] is None else hs[i + 1].encode("utf-8", "surrogateescape")) for i in range(0, len(hs), 2))
    key = d.get("key")
    val = d.get("payload")
    return Got(
        d["partition"],
        d["offset"],
        None if key is None else key.encode("utf-8", "surrogateescape"),
        None if val is None else val.encode("utf-8", "surrogateescape"),
        headers,
        d.get("ts"),
    )


# --- KafkaJS 2.2.4 (node driver) ---------------------------------------------------------------


def kafkajs_available() -> bool:
    return shutil.which("node") is not None and (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir()


def kjs(bootstrap: str, *ops: dict, timeout: float = 100.0, **top) -> list[dict]:
    """Run ops through driver.js; returns one {"ok", "result"|"error"} per op."""
    cmd = {"brokers": [bootstrap], "ops": list(ops), **top}
    proc = subprocess.run(["node", str(DRIVER)], input=json.dumps(cmd).encode(), capture_output=True, timeout=timeout, cwd=str(KAFKAJS_DIR))
    try:
        doc = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"driver.js gave no JSON (rc {proc.returncode}): {proc.stdout[-2000:]!r} {proc.stderr[-3000:]!r}") from None
    if doc.get("fatal"):
        raise AssertionError(f"driver.js failed: {doc['fatal']} stderr: {proc.stderr.decode(errors='replace')[-3000:]}")
    return doc["results"]


def kjs_ok(bootstrap: str, op: dict, **top):
    (res,) = kjs(bootstrap, op, **top)
    assert res["ok"], f"KafkaJS {op['op']} failed: {res['error']}"
    return res["result"]


def _b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def kjs_messages(records: Sequence[Rec]) -> list[dict]:
    out = []
    for r in records:
        m = {"key_b64": _b64(r.key), "value_b64": _b64(r.value)}
        if r.headers:
            names = [k for k, _ in r.headers]
            assert len(set(names)) == len(names), "KafkaJS headers are an object: names must be unique"
            m["headers"] = {k: _b64(v) for k, v in r.headers}
        if r.timestamp is not None:
            m["timestamp"] = r.timestamp
        if r.partition is not None:
            m["partition"] = r.partition
        out.append(m)
    return out


def kjs_produce(bootstrap: str, topic: str, records: Sequence[Rec], *, codec: str = "none", acks=-1, idempotent: bool = False, one_by_one: bool = False) -> list[int | None]:
    """Send through KafkaJS. Partitions are known per record only with ``one_by_one``."""
    acks = -1 if acks == "all" else int(acks)
    res = kjs_ok(
        bootstrap,
        {"op": "produce", "topic": topic, "messages": kjs_messages(records), "acks": acks, "compression": codec, "idempotent": idempotent, "oneByOne": one_by_one},
    )
    if one_by_one and acks != 0:
        parts = []
        for sent in res:
            assert len(sent) == 1, sent
            assert sent[0]["errorCode"] == 0, sent
            parts.append(sent[0]["partition"])
        return parts
    for sent in res:
        for md in sent:
            assert md["errorCode"] == 0, md
    return [None] * len(records)


def kjs_consume(bootstrap: str, topic: str, expected: int, timeout: float = CONSUME_TIMEOUT) -> dict[int, list[Got]]:
    res = kjs_ok(bootstrap, {"op": "consume", "topic": topic, "groupId": uniq("kjs"), "expected": expected, "timeoutMs": int(timeout * 1000)})
    out: dict[int, list[Got]] = {}
    for m in res:
        hs = tuple((k, None if v is None else base64.b64decode(v)) for k, v in m.get("headers") or [])
        out.setdefault(m["partition"], []).append(
            Got(
                m["partition"],
                m["offset"],
                None if m["key_b64"] is None else base64.b64decode(m["key_b64"]),
                None if m["value_b64"] is None else base64.b64decode(m["value_b64"]),
                hs,
                m["timestamp"],
            )
        )
    for v in out.values():
        v.sort(key=lambda g: g.offset)
    return out


# --- waiting on the broker ------------------------------------------------------------------------


async def od_read_to_end(bootstrap: str, topic: str, partitions: Iterable[int] | None = None,
                         timeout: float = 30.0) -> tuple[list, dict[int, tuple[int, int]]]:
    """Odradek's client reads ``partitions`` of ``topic`` (all by default) from the beginning until
    its position reaches the end offset each had when asked: (the records, which may run past
    those ends, and {partition: (log start, end)})."""
    from odradek.client import Admin, Consumer, TopicPartition

    async with Admin(bootstrap) as admin:
        offsets = await admin.topic_offsets(topic)
    if partitions is not None:
        offsets = {p: offsets[p] for p in partitions}
    tps = [TopicPartition(topic, p) for p in offsets]
    out: list = []
    async with Consumer(bootstrap, auto_offset_reset="earliest", enable_auto_commit=False) as c:
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while any([await c.position(tp) < offsets[tp.partition][1] for tp in tps]):
            ends = {p: end for p, (_start, end) in offsets.items()}
            assert time.monotonic() < deadline, f"could not read {topic} to its end {ends}"
            out += await c.poll(1.0)
    return out, offsets


def end_offsets(bootstrap: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """High watermarks through confluent-kafka's AdminClient (ListOffsets latest)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    a = ck_admin(bootstrap)
    fs = a.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}, request_timeout=10)
    return {tp.partition: f.result(timeout=15).offset for tp, f in fs.items()}


def wait_end_offsets(bootstrap: str, topic: str, want: dict[int, int], timeout: float = 15.0) -> None:
    from helpers import wait_for

    last: dict = {}

    def ok():
        last["v"] = end_offsets(bootstrap, topic, want)
        return last["v"] == want

    try:
        wait_for(ok, timeout, interval=0.1, what=f"end offsets {want}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen {last.get('v')}") from None


def wait_topic_partitions(bootstrap: str, topic: str, n: int, timeout: float = 10.0) -> None:
    """Metadata (confluent-kafka) lists ``topic`` with ``n`` partitions."""
    from helpers import wait_for

    a = ck_admin(bootstrap)

    def ok():
        md = a.list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        return t is not None and t.error is None and len(t.partitions) == n

    wait_for(ok, timeout, interval=0.1, what=f"{topic} with {n} partitions in metadata")



# --- produce rounds, stored batches -------------------------------------------------------------


def total_end_offset(bootstrap: str, topic: str, num_partitions: int) -> int:
    return sum(end_offsets(bootstrap, topic, range(num_partitions)).values())


def wait_total(bootstrap: str, topic: str, num_partitions: int, total: int, timeout: float = 15.0) -> None:
    """Wait until the partitions' high watermarks add up to ``total`` (acks=0 sends are async)."""
    from helpers import wait_for

    last: dict = {}

    def ok():
        last["v"] = total_end_offset(bootstrap, topic, num_partitions)
        return last["v"] == total

    try:
        wait_for(ok, timeout, interval=0.05, what=f"{total} records in {topic}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last total {last.get('v')}") from None


def produce_rounds(produce, bootstrap: str, topic: str, tag: str, *, num_partitions: int, codec: str, acks_list=(0, 1, "all"), n: int = 24, ts_base: int | None = None, **kw):
    """One producer per acks setting, ``n`` records each (keyed and keyless, with headers and
    increasing timestamps). Waits after each round until the broker holds it, so rounds from
    different connections cannot interleave. Returns (records, partitions)."""
    if ts_base is None:
        ts_base = int(time.time() * 1000) - 3_600_000
    allr: list[Rec] = []
    allp: list[int | None] = []
    for j, acks in enumerate(acks_list):
        recs = make_records(f"{tag}-a{acks}", n, ts_base=ts_base + j * n * 10, **kw)
        parts = produce(bootstrap, topic, recs, codec=codec, acks=acks)
        allr += recs
        allp += parts
        wait_total(bootstrap, topic, num_partitions, len(allr))
    return allr, allp


def produce_time_rounds(produce, bootstrap: str, topic: str, recs: list[Rec], num_partitions: int, codec: str) -> dict[int, list[Rec]]:
    """Records with timestamps in three produce calls, the middle one with ``codec``: several
    batches per partition and a time lookup that lands inside a compressed batch. Waits until the
    broker holds them all; returns what was sent, per partition."""
    by_p = {p: [r for r in recs if r.partition == p] for p in range(num_partitions)}
    sent: dict[int, list[Rec]] = {p: [] for p in range(num_partitions)}
    for lo, hi, c in ((0, 4, "none"), (4, 8, codec), (8, 99, "none")):
        batch = [r for p in range(num_partitions) for r in by_p[p][lo:hi]]
        produce(bootstrap, topic, batch, codec=c)
        for r in batch:
            sent[r.partition].append(r)
    wait_end_offsets(bootstrap, topic, {p: len(v) for p, v in sent.items()})
    return sent


def until_from(bootstrap: str, topic: str, num_partitions: int) -> dict[int, int]:
    return end_offsets(bootstrap, topic, range(num_partitions))


COMPRESSION_IDS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def stored_batches(data_dir: Path, topic: str, partition: int) -> list[dict]:
    """Batch headers as stored in the broker's segment files (``<topic>-<p>/*.log``, Kafka's
    layout): base offset, record count and codec. Shows what the client sent went to disk as is."""
    import struct

    out = []
    d = Path(data_dir) / f"{topic}-{partition}"
    for seg in sorted(d.glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length <= 0:
                break
            (attrs,) = struct.unpack_from(">h", data, pos + 21)
            (last_delta,) = struct.unpack_from(">i", data, pos + 23)
            (count,) = struct.unpack_from(">i", data, pos + 57)
            producer_id, producer_epoch, base_seq = struct.unpack_from(">qhi", data, pos + 43)
            out.append(
                {
                    "base_offset": base,
                    "count": count,
                    "last_offset_delta": last_delta,
                    "codec": COMPRESSION_IDS.get(attrs & 7, attrs & 7),
                    "magic": data[pos + 16],
                    "producer_id": producer_id,
                    "producer_epoch": producer_epoch,
                    "base_sequence": base_seq,
                }
            )
            pos += 12 + length
    return out


def stored_codecs(data_dir: Path, topic: str, num_partitions: int) -> set[str]:
    return {b["codec"] for p in range(num_partitions) for b in stored_batches(data_dir, topic, p)}


# --- what the broker advertises ---------------------------------------------------------------------

GROUP_APIS = {10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup"}


def advertised_apis(bootstrap: str) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 over a raw socket: {api_key: (min_version, max_version)}."""
    import socket
    import struct

    host, port = bootstrap.rsplit(":", 1)
    client_id = b"odradek-interop"
    req = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        head = b""
        while len(head) < 4:
            chunk = s.recv(4 - len(head))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            head += chunk
        (size,) = struct.unpack(">i", head)
        body = b""
        while len(body) < size:
            chunk = s.recv(size - len(body))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            body += chunk
    cid, err, n = struct.unpack_from(">ihi", body, 0)
    assert cid == 7 and err == 0, (cid, err)
    return {k: (lo, hi) for k, lo, hi in (struct.unpack_from(">hhh", body, 10 + 6 * i) for i in range(n))}


def skip_without_groups(bootstrap: str) -> None:
    """Skip the calling test unless the broker advertises the consumer-group APIs."""
    import pytest

    missing = [name for key, name in GROUP_APIS.items() if key not in advertised_apis(bootstrap)]
    if missing:
        pytest.skip(f"needs consumer groups (issue 3): the broker does not advertise {', '.join(missing)}")
