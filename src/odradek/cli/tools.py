"""The operator subcommands: topic, produce, consume, group, cluster (perf lives in perf.py)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import sys
import time
from typing import Any

from ..client import Admin, Consumer, NewTopic, Producer, TopicPartition
from ..client.errors import ErrorCode, KafkaError
from ..client.types import EARLIEST, LATEST
from .common import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
    CommandError,
    add_command,
    bootstrap,
    client_parent,
    emit_json,
    parse_kv,
    run,
    security,
    stop_on_signals,
    table,
)


def _admin(args: argparse.Namespace) -> Admin:
    return Admin(bootstrap(args), request_timeout_ms=int(args.timeout * 1000), **security(args))


def parse_time(text: str) -> int:
    """Milliseconds since the epoch from ms digits, ``-5m``/``-2h``/``-1d`` (ago) or an ISO 8601 time."""
    t = text.strip()
    if t.lstrip("-").isdigit() and not t.startswith("-"):
        return int(t)
    if t.startswith("-") and t[-1:] in "smhd" and t[1:-1].isdigit():
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[t[-1]]
        return int((time.time() - int(t[1:-1]) * unit) * 1000)
    try:
        dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"cannot read the time {text!r}: use ms since the epoch, -10m, or ISO 8601", EXIT_USAGE) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return int(dt.timestamp() * 1000)


def _fmt_ts(ms: int) -> str:
    if ms < 0:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ============================================================================ topic


async def topic_create(args: argparse.Namespace) -> int:
    configs = parse_kv(args.config, "--config")
    async with _admin(args) as admin:
        res = await admin.create_topics(
            [NewTopic(n, args.partitions, args.replication_factor, configs) for n in args.names],
            raise_errors=False,
        )
    rc = 0
    rows = []
    for name, err in res.items():
        if err is not None and args.if_not_exists and err.code == ErrorCode.topic_already_exists:
            err = None
        rows.append([name, "OK" if err is None else err.name, "" if err is None else err.message])
        if err is not None:
            rc = EXIT_FAILED
    if args.output == "json":
        emit_json([{"topic": n, "error": None if s == "OK" else s, "message": m or None} for n, s, m in rows])
    else:
        table(["topic", "status", "message"] if rc else ["topic", "status"], [r if rc else r[:2] for r in rows])
    return rc


async def topic_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        topics = await admin.describe_topics(None)
    items = [t for t in topics.values() if args.internal or not t.internal]
    if args.output == "json":
        emit_json([{"topic": t.name, "partitions": t.partition_count, "replicas": _rf(t), "internal": t.internal} for t in items])
    else:
        table(["topic", "partitions", "replicas"], [[t.name, t.partition_count, _rf(t)] for t in items])
    return 0


def _rf(t: Any) -> int:
    return max((len(p.replicas) for p in t.partitions.values()), default=0)


async def topic_describe(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        topics = await admin.describe_topics(args.names)
        offsets: dict[str, dict[int, tuple[int, int]]] = {}
        configs: dict[str, Any] = {}
        ends: dict[str, dict[int, int]] = {}
        for name in topics:
            if not args.no_offsets:
                offsets[name] = await admin.topic_offsets(name)
                ends[name] = await admin.log_end_offsets(name)
            if not args.no_configs:
                try:
                    configs[name] = {k: c for k, c in (await admin.describe_configs("topic", name)).items() if not c.default}
                except KafkaError:
                    configs[name] = {}
    if args.output == "json":
        emit_json([
            {
                "topic": t.name, "topic_id": t.topic_id, "internal": t.internal, "partitions": [
                    {
                        "partition": p.partition, "leader": p.leader, "leader_epoch": p.leader_epoch, "replicas": list(p.replicas),
                        "isr": list(p.isr), "offline_replicas": list(p.offline_replicas),
                        **({"log_start_offset": offsets[t.name][p.partition][0], "high_watermark": offsets[t.name][p.partition][1],
                            "log_end_offset": ends[t.name].get(p.partition)} if t.name in offsets else {}),
                    }
                    for p in t.partitions.values()
                ],
                "configs": {k: c.value for k, c in configs.get(t.name, {}).items()},
            }
            for t in topics.values()
        ])
        return 0
    first = True
    for t in topics.values():
        if not first:
            print()
        first = False
        print(f"Topic: {t.name}    partitions: {t.partition_count}    replication factor: {_rf(t)}" + (f"    id: {t.topic_id}" if t.topic_id else "") + ("    internal" if t.internal else ""))
        cfg = configs.get(t.name)
        if cfg:
            print("Configs: " + ", ".join(f"{k}={c.value}" for k, c in cfg.items()))
        headers = ["partition", "leader", "epoch", "replicas", "isr"]
        rows: list[list[Any]] = []
        for p in t.partitions.values():
            row: list[Any] = [p.partition, p.leader, p.leader_epoch, list(p.replicas), list(p.isr)]
            if t.name in offsets:
                lo, hi = offsets[t.name][p.partition]
                leo = ends[t.name].get(p.partition)
                row += [lo, hi, "-" if leo is None else leo, hi - lo]
            rows.append(row)
        if t.name in offsets:
            headers += ["log-start", "high-watermark", "log-end", "records"]
        table(headers, rows)
    return 0


async def topic_alter_config(args: argparse.Namespace) -> int:
    sets = parse_kv(args.set, "--set")
    if not sets and not args.delete:
        raise CommandError("nothing to change: give --set KEY=VALUE and/or --delete KEY", EXIT_USAGE)
    async with _admin(args) as admin:
        await admin.describe_topics([args.name])
        await admin.alter_configs("topic", args.name, set=sets, delete=args.delete)
        now = await admin.describe_configs("topic", args.name, list(sets) + list(args.delete))
    if args.output == "json":
        emit_json({k: c.value for k, c in now.items()})
    else:
        table(["config", "value", "source"], [[k, c.value, c.source] for k, c in now.items()])
    return 0


async def topic_add_partitions(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        before = (await admin.describe_topics([args.name]))[args.name].partition_count
        await admin.create_partitions({args.name: args.count})
        after = (await admin.describe_topics([args.name]))[args.name].partition_count
    if args.output == "json":
        emit_json({"topic": args.name, "partitions_before": before, "partitions": after})
    else:
        print(f"{args.name}: {before} -> {after} partitions")
    return 0


async def topic_delete(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        res = await admin.delete_topics(args.names, raise_errors=False)
    rc = 0
    rows = []
    for name, err in res.items():
        if err is not None and args.if_exists and err.code == ErrorCode.unknown_topic_or_partition:
            err = None
        if err is not None:
            rc = EXIT_NOT_FOUND if err.code == ErrorCode.unknown_topic_or_partition and rc in (0, EXIT_NOT_FOUND) else EXIT_FAILED
        rows.append([name, "DELETED" if err is None else err.name])
    if args.output == "json":
        emit_json([{"topic": n, "error": None if s == "DELETED" else s} for n, s in rows])
    else:
        table(["topic", "status"], rows)
    return rc


# ============================================================================ produce


async def _stdin_lines() -> Any:
    """Lines of standard input (a pipe, a file or a terminal), read in chunks off the event loop."""
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.buffer
    read = getattr(stdin, "read1", stdin.read)
    rest = b""
    while True:
        chunk = await loop.run_in_executor(None, read, 1 << 16)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


async def produce(args: argparse.Namespace) -> int:
    headers = [(k, v.encode()) for k, v in parse_kv(args.header, "--header").items()]
    failures: list[KafkaError] = []
    delivered = 0
    results: list[dict] = []

    def on_delivery(err: KafkaError | None, md: Any) -> None:
        nonlocal delivered
        if err is not None:
            failures.append(err)
        else:
            delivered += 1

    def reporter(line_no: int) -> Any:
        def cb(err: KafkaError | None, md: Any) -> None:
            on_delivery(err, md)
            results.append({"line": line_no, "partition": md.partition if md else None, "offset": md.offset if md else None, "error": err.name if err else None})

        return cb

    acks: Any = args.acks
    async with Producer(
        bootstrap(args), acks=acks, compression=args.compression, linger_ms=args.linger_ms,
        enable_idempotence=not args.no_idempotence and acks in ("all", "-1"), request_timeout_ms=int(args.timeout * 1000),
        delivery_timeout_ms=int(max(args.timeout * 2, 30) * 1000), max_block_ms=int(args.timeout * 1000), **security(args),
    ) as producer:
        sep = args.key_separator.encode() if args.key_separator is not None else None
        count = 0
        async for line in _stdin_lines():
            line = line.rstrip(b"\n").rstrip(b"\r") if not args.keep_newlines else line
            key = None
            value: bytes | None = line
            if sep is not None:
                k, found, v = line.partition(sep)
                if found:
                    key, value = k, v
            if args.null_value and value == b"":
                value = None
            cb = reporter(count + 1) if args.report else on_delivery
            fut = await producer.send(args.topic, value, key, partition=args.partition, headers=headers, on_delivery=cb)
            fut.add_done_callback(lambda f: f.exception())
            count += 1
        await producer.flush()
    if args.output == "json":
        emit_json({"topic": args.topic, "records": count, "delivered": delivered, "failed": len(failures), "errors": sorted({e.name for e in failures}), **({"offsets": sorted(results, key=lambda r: r["line"])} if args.report else {})})
    else:
        print(f"produced {delivered} of {count} records to {args.topic}" + (f"; {len(failures)} failed: {failures[0]}" if failures else ""), file=sys.stderr)
    if failures:
        return EXIT_NOT_FOUND if all(e.code == ErrorCode.unknown_topic_or_partition for e in failures) else EXIT_FAILED
    return 0


# ============================================================================ consume


class _Template:
    """``{topic} {partition} {offset} {timestamp} {key} {value} {headers}`` with \\n, \\t escapes."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt.encode().decode("unicode_escape")

    def render(self, r: Any) -> str:
        return self.fmt.format(
            topic=r.topic, partition=r.partition, offset=r.offset, timestamp=r.timestamp, time=_fmt_ts(r.timestamp),
            key=_text(r.key), value=_text(r.value), headers=",".join(f"{k}={_text(v)}" for k, v in r.headers),
        )


def _text(b: bytes | None) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "backslashreplace")


def _record_json(r: Any) -> str:
    return json.dumps({
        "topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
        "key": None if r.key is None else _text(r.key), "value": None if r.value is None else _text(r.value),
        "headers": [[k, None if v is None else _text(v)] for k, v in r.headers],
    })


async def consume(args: argparse.Namespace) -> int:
    start = "earliest" if args.from_beginning else "latest"
    fmt = None if args.output == "json" else _Template(args.template)
    consumer = Consumer(
        bootstrap(args), group_id=args.group, auto_offset_reset=start, enable_auto_commit=args.group is not None, isolation_level=args.isolation,
        request_timeout_ms=int(args.timeout * 1000), session_timeout_ms=args.session_timeout_ms, heartbeat_interval_ms=min(3000, args.session_timeout_ms // 3),
        **security(args),
    )
    stop = stop_on_signals()
    got = 0
    try:
        await consumer.start()
        if args.group and args.partition is None and args.offset is None and args.from_time is None:
            consumer.subscribe(args.topics)
        else:
            tps: list[TopicPartition] = []
            for t in args.topics:
                parts = await consumer.partitions_for(t)
                if not parts:
                    raise KafkaError(ErrorCode.unknown_topic_or_partition, f"topic {t!r} does not exist")
                tps += [TopicPartition(t, p) for p in sorted(parts) if args.partition is None or p == args.partition]
            if not tps:
                raise KafkaError(ErrorCode.unknown_topic_or_partition, f"no partition {args.partition}")
            consumer.assign(tps)
            if args.from_time is not None:
                ts = parse_time(args.from_time)
                found = await consumer.offsets_for_times({tp: ts for tp in tps})
                ends = await consumer.end_offsets([tp for tp, o in found.items() if o is None])
                for tp, o in found.items():
                    consumer.seek(tp, o.offset if o is not None else ends[tp])
            elif args.offset is not None:
                if args.offset in ("beginning", "earliest"):
                    await consumer.seek_to_beginning(*tps)
                elif args.offset in ("end", "latest"):
                    await consumer.seek_to_end(*tps)
                else:
                    try:
                        off = int(args.offset)
                    except ValueError:
                        raise CommandError(f"--offset takes a number, beginning or end, not {args.offset!r}", EXIT_USAGE) from None
                    if off < 0:  # -N: N before the end
                        ends = await consumer.end_offsets(tps)
                        begins = await consumer.beginning_offsets(tps)
                        for tp in tps:
                            consumer.seek(tp, max(begins[tp], ends[tp] + off))
                    else:
                        for tp in tps:
                            consumer.seek(tp, off)
        idle_deadline = None if args.idle_timeout is None else time.monotonic() + args.idle_timeout
        out = sys.stdout
        while not stop.is_set():
            if args.num is not None and got >= args.num:
                break
            wait = 0.5
            if idle_deadline is not None:
                wait = min(wait, max(0.0, idle_deadline - time.monotonic()))
            poll = asyncio.ensure_future(consumer.poll(wait, max_records=None if args.num is None else args.num - got))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({poll, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not poll.done():
                poll.cancel()
                break
            records = poll.result()
            if records:
                idle_deadline = None if args.idle_timeout is None else time.monotonic() + args.idle_timeout
                for r in records:
                    out.write(_record_json(r) if fmt is None else fmt.render(r))
                    out.write("\n")
                got += len(records)
                out.flush()
            elif idle_deadline is not None and time.monotonic() >= idle_deadline:
                break
    finally:
        await consumer.close()
    if args.num is not None and got < args.num:
        print(f"odradek: read {got} of {args.num} records", file=sys.stderr)
        return EXIT_FAILED
    return 0


# ============================================================================ group


async def group_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        groups = await admin.list_groups()
    if args.output == "json":
        emit_json([{"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type} for g in groups])
    else:
        table(["group", "state", "protocol-type"], [[g.group_id, g.state or "-", g.protocol_type or "-"] for g in groups])
    return 0


async def group_describe(args: argparse.Namespace) -> int:
    out_json = []
    rc = 0
    async with _admin(args) as admin:
        descs = await admin.describe_groups(args.groups)
        first = True
        for gid in args.groups:
            d = descs.get(gid)
            lag = await admin.group_lag(gid)
            if d is None or (d.state in ("Dead", "") and not lag) or d.error == "GROUP_ID_NOT_FOUND":
                print(f"odradek: group {gid!r} does not exist", file=sys.stderr)
                rc = EXIT_NOT_FOUND
                continue
            owner = {tp: m for m in d.members for tp in m.assignment}
            if args.output == "json":
                out_json.append({
                    "group": gid, "state": d.state, "protocol_type": d.protocol_type, "protocol": d.protocol, "coordinator": d.coordinator,
                    "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.client_host, "group_instance_id": m.group_instance_id,
                                 "assignment": [[tp.topic, tp.partition] for tp in m.assignment], "subscription": m.subscription} for m in d.members],
                    "offsets": [{"topic": o.topic, "partition": o.partition, "log_start_offset": o.log_start_offset, "log_end_offset": o.log_end_offset,
                                 "committed": o.committed, "lag": o.lag, "member_id": owner[TopicPartition(o.topic, o.partition)].member_id if TopicPartition(o.topic, o.partition) in owner else None}
                                for o in lag],
                    "total_lag": sum(o.lag or 0 for o in lag),
                })
                continue
            if not first:
                print()
            first = False
            print(f"Group: {gid}    state: {d.state}    protocol: {d.protocol or '-'}    coordinator: {d.coordinator}    members: {len(d.members)}    total lag: {sum(o.lag or 0 for o in lag)}")
            if lag:
                table(
                    ["topic", "partition", "log-start", "log-end-offset", "committed", "lag", "member", "client-id"],
                    [[o.topic, o.partition, o.log_start_offset, o.log_end_offset, o.committed, o.lag,
                      _short(owner[TopicPartition(o.topic, o.partition)].member_id) if TopicPartition(o.topic, o.partition) in owner else None,
                      owner[TopicPartition(o.topic, o.partition)].client_id if TopicPartition(o.topic, o.partition) in owner else None] for o in lag],
                )
            if d.members:
                print()
                table(["member", "client-id", "host", "assignment"], [
                    [m.member_id, m.client_id or "-", m.client_host or "-", " ".join(f"{tp.topic}-{tp.partition}" for tp in m.assignment) or "-"] for m in d.members
                ])
    if args.output == "json":
        emit_json(out_json)
    return rc


def _short(member_id: str) -> str:
    return member_id if len(member_id) <= 24 else member_id[:21] + "..."


async def group_reset_offsets(args: argparse.Namespace) -> int:
    targets = [args.to_earliest, args.to_latest, args.to_datetime is not None, args.to_offset is not None, args.shift_by is not None]
    if sum(bool(t) for t in targets) != 1:
        raise CommandError("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by", EXIT_USAGE)
    async with _admin(args) as admin:
        desc = (await admin.describe_groups([args.group])).get(args.group)
        if desc is not None and desc.members and not args.dry_run:
            raise CommandError(f"group {args.group!r} has {len(desc.members)} active member(s) (state {desc.state}): stop them first, or use --dry-run")
        committed = await admin.list_group_offsets(args.group)
        tps: list[TopicPartition] = []
        if args.topic:
            for spec in args.topic:
                name, _, parts = spec.partition(":")
                info = (await admin.describe_topics([name]))[name]
                chosen = [int(p) for p in parts.split(",")] if parts else sorted(info.partitions)
                tps += [TopicPartition(name, p) for p in chosen]
        elif args.all_topics:
            tps = sorted(committed)
            if not tps:
                raise CommandError(f"group {args.group!r} has no committed offsets: name topics with --topic", EXIT_NOT_FOUND)
        else:
            raise CommandError("name the partitions: --topic TOPIC[:P,P...] (repeatable) or --all-topics", EXIT_USAGE)
        begin = await admin.list_offsets({tp: "earliest" for tp in tps})
        end = await admin.list_offsets({tp: "latest" for tp in tps})
        if args.to_earliest:
            new = {tp: begin[tp][0] for tp in tps}
        elif args.to_latest:
            new = {tp: end[tp][0] for tp in tps}
        elif args.to_datetime is not None:
            ts = parse_time(args.to_datetime)
            found = await admin.list_offsets({tp: ts for tp in tps})
            new = {tp: (found[tp][0] if found[tp][0] >= 0 else end[tp][0]) for tp in tps}
        elif args.to_offset is not None:
            new = {tp: args.to_offset for tp in tps}
        else:
            new = {tp: (committed[tp].offset if tp in committed else end[tp][0]) + args.shift_by for tp in tps}
        # clamp into the log, as kafka-consumer-groups does
        new = {tp: min(max(o, begin[tp][0]), end[tp][0]) for tp, o in new.items()}
        if not args.dry_run:
            await admin.alter_group_offsets(args.group, new)
    rows = [[tp.topic, tp.partition, committed[tp].offset if tp in committed else None, new[tp], end[tp][0] - new[tp]] for tp in sorted(new)]
    if args.output == "json":
        emit_json({"group": args.group, "dry_run": args.dry_run, "offsets": [
            {"topic": r[0], "partition": r[1], "previous": r[2], "new": r[3], "lag": r[4]} for r in rows]})
    else:
        if args.dry_run:
            print("(dry run: nothing was changed)")
        table(["topic", "partition", "previous-offset", "new-offset", "new-lag"], rows)
    return 0


async def group_delete(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        res = await admin.delete_groups(args.groups, raise_errors=False)
    rc = 0
    rows = []
    for gid, err in res.items():
        if err is not None:
            rc = EXIT_NOT_FOUND if err.code == ErrorCode.group_id_not_found and rc in (0, EXIT_NOT_FOUND) else EXIT_FAILED
        rows.append([gid, "DELETED" if err is None else err.name])
    if args.output == "json":
        emit_json([{"group": g, "error": None if s == "DELETED" else s} for g, s in rows])
    else:
        table(["group", "status"], rows)
    return rc


# ============================================================================ cluster


async def cluster_brokers(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        c = await admin.describe_cluster()
    if args.output == "json":
        emit_json({"cluster_id": c.cluster_id, "controller": c.controller_id, "brokers": [{"id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "controller": b.node_id == c.controller_id} for b in c.brokers]})
    else:
        print(f"Cluster: {c.cluster_id}")
        table(["id", "host", "port", "rack", "controller"], [[b.node_id, b.host, b.port, b.rack, "*" if b.node_id == c.controller_id else ""] for b in c.brokers])
    return 0


async def cluster_controller(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        c = await admin.describe_cluster()
    ctl = next((b for b in c.brokers if b.node_id == c.controller_id), None)
    if args.output == "json":
        emit_json({"controller": c.controller_id, "host": ctl.host if ctl else None, "port": ctl.port if ctl else None})
    else:
        print(f"{c.controller_id} {ctl.address if ctl else '(unknown address)'}")
    return 0 if ctl else EXIT_FAILED


def _parse_partitions(items: list[str]) -> list[TopicPartition]:
    """TOPIC or TOPIC:P[,P...] arguments to partitions; a bare TOPIC is returned as partition -1."""
    out = []
    for item in items:
        topic, _, parts = item.partition(":")
        if not parts:
            out.append(TopicPartition(topic, -1))
            continue
        try:
            out += [TopicPartition(topic, int(p)) for p in parts.split(",")]
        except ValueError:
            raise CommandError(f"cannot read {item!r}: use TOPIC or TOPIC:P[,P...]", EXIT_USAGE) from None
    return out


async def cluster_elect_leaders(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        wanted: list[TopicPartition] | None = None
        if args.partitions:
            wanted = []
            for tp in _parse_partitions(args.partitions):
                if tp.partition >= 0:
                    wanted.append(tp)
                else:
                    info = (await admin.describe_topics([tp.topic]))[tp.topic]
                    wanted += [TopicPartition(tp.topic, p) for p in info.partitions]
        results = await admin.elect_leaders(wanted)
    failed = {tp: e for tp, e in results.items() if e is not None}
    if args.output == "json":
        emit_json([{"topic": tp.topic, "partition": tp.partition, "error": e.name if e else None} for tp, e in sorted(results.items())])
    else:
        table(["topic", "partition", "result"], [[tp.topic, tp.partition, e.name if e else "OK"] for tp, e in sorted(results.items())])
    return EXIT_FAILED if failed else 0


async def cluster_reassign(args: argparse.Namespace) -> int:
    targets: dict[TopicPartition, list[int] | None] = {}
    for item in args.moves:
        where, sep, replicas = item.partition("=")
        tps = _parse_partitions([where])
        if (not sep and not args.cancel) or len(tps) != 1 or tps[0].partition < 0:
            raise CommandError(f"cannot read {item!r}: use TOPIC:P=B1,B2,...", EXIT_USAGE)
        try:
            targets[tps[0]] = None if args.cancel else [int(b) for b in replicas.split(",") if b]
        except ValueError:
            raise CommandError(f"cannot read the broker ids in {item!r}", EXIT_USAGE) from None
    async with _admin(args) as admin:
        results = await admin.reassign_partitions(targets)
    failed = {tp: e for tp, e in results.items() if e is not None}
    if args.output == "json":
        emit_json([{"topic": tp.topic, "partition": tp.partition, "replicas": targets.get(tp), "error": e.name if e else None} for tp, e in sorted(results.items())])
    else:
        table(["topic", "partition", "target", "result"],
              [[tp.topic, tp.partition, targets.get(tp) or "cancel", e.name if e else "started"] for tp, e in sorted(results.items())])
    return EXIT_FAILED if failed else 0


async def cluster_reassignments(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        pending = await admin.list_reassignments()
    if args.output == "json":
        emit_json([{"topic": tp.topic, "partition": tp.partition, "replicas": r, "adding": a, "removing": d} for tp, (r, a, d) in sorted(pending.items())])
    else:
        table(["topic", "partition", "replicas", "adding", "removing"], [[tp.topic, tp.partition, r, a, d] for tp, (r, a, d) in sorted(pending.items())])
    return 0


async def cluster_health(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        c = await admin.describe_cluster()
        topics = await admin.describe_topics(None)
        unreachable = []
        for b in c.brokers:
            try:
                await admin.cluster.connection(b.node_id)
            except KafkaError:
                unreachable.append(b.node_id)
    offline: list[str] = []
    under: list[str] = []
    for t in topics.values():
        for p in t.partitions.values():
            name = f"{t.name}-{p.partition}"
            if p.leader < 0:
                offline.append(name)
            elif len(p.isr) < len(p.replicas):
                under.append(name)
    healthy = not offline and not unreachable and not under and c.controller_id >= 0
    report = {
        "healthy": healthy, "cluster_id": c.cluster_id, "controller": c.controller_id, "brokers": [b.node_id for b in c.brokers],
        "unreachable_brokers": unreachable, "topics": len(topics), "partitions": sum(t.partition_count for t in topics.values()),
        "offline_partitions": offline, "under_replicated_partitions": under,
    }
    if args.output == "json":
        emit_json(report)
    else:
        table(["check", "result"], [
            ["healthy", healthy],
            ["controller", c.controller_id if c.controller_id >= 0 else "none"],
            ["brokers", len(c.brokers)],
            ["unreachable brokers", unreachable or 0],
            ["topics", report["topics"]],
            ["partitions", report["partitions"]],
            ["offline partitions", offline or 0],
            ["under-replicated partitions", under or 0],
        ])
    return 0 if healthy else EXIT_UNHEALTHY


# ============================================================================ parser


def register(sub: argparse._SubParsersAction) -> None:
    parent = client_parent()
    cmd = functools.partial(add_command, parent=parent)

    # topic
    topic = sub.add_parser("topic", help="create, list, describe, alter, grow and delete topics", description="Manage topics.")
    tsub = topic.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(tsub, "create", topic_create, "create topics")
    p.add_argument("names", nargs="+", metavar="TOPIC")
    p.add_argument("-p", "--partitions", type=int, default=-1, help="partitions (default: the broker's num.partitions)")
    p.add_argument("-r", "--replication-factor", type=int, default=-1, help="replicas (default: the broker's default.replication.factor)")
    p.add_argument("-c", "--config", action="append", metavar="KEY=VALUE", help="topic config (repeatable)")
    p.add_argument("--if-not-exists", action="store_true", help="succeed when the topic already exists")
    p = cmd(tsub, "list", topic_list, "list topics")
    p.add_argument("-i", "--internal", action="store_true", help="include internal topics (__consumer_offsets)")
    p = cmd(tsub, "describe", topic_describe, "partitions with leader, replicas, ISR and offsets; non-default configs")
    p.add_argument("names", nargs="+", metavar="TOPIC")
    p.add_argument("--no-offsets", action="store_true", help="skip log start / high watermark")
    p.add_argument("--no-configs", action="store_true", help="skip configs")
    p = cmd(tsub, "alter-config", topic_alter_config, "set or delete topic configs")
    p.add_argument("name", metavar="TOPIC")
    p.add_argument("-s", "--set", action="append", metavar="KEY=VALUE", help="set a config (repeatable)")
    p.add_argument("-d", "--delete", action="append", default=[], metavar="KEY", help="revert a config to its default (repeatable)")
    p = cmd(tsub, "add-partitions", topic_add_partitions, "grow a topic to a total number of partitions")
    p.add_argument("name", metavar="TOPIC")
    p.add_argument("-n", "--count", type=int, required=True, help="the new total partition count")
    p = cmd(tsub, "delete", topic_delete, "delete topics")
    p.add_argument("names", nargs="+", metavar="TOPIC")
    p.add_argument("--if-exists", action="store_true", help="succeed when a topic does not exist")

    # produce
    p = sub.add_parser("produce", parents=[parent], help="produce stdin lines as records", description="Produce each line of standard input as one record.")
    p.set_defaults(func=lambda a: run(produce, a))
    p.add_argument("topic")
    p.add_argument("-k", "--key-separator", metavar="SEP", help="split each line at the first SEP into key and value")
    p.add_argument("-H", "--header", action="append", metavar="KEY=VALUE", help="a header on every record (repeatable)")
    p.add_argument("-z", "--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    p.add_argument("--acks", default="all", choices=["all", "-1", "0", "1"])
    p.add_argument("-p", "--partition", type=int, default=None, help="write every record to this partition")
    p.add_argument("--linger-ms", type=float, default=5)
    p.add_argument("--no-idempotence", action="store_true")
    p.add_argument("--null-value", action="store_true", help="an empty value is sent as null (a tombstone)")
    p.add_argument("--keep-newlines", action="store_true", help="keep the trailing newline in values")
    p.add_argument("--report", action="store_true", help="with --format json, list each record's partition and offset")

    # consume
    p = sub.add_parser(
        "consume", parents=[parent], help="print records", description="Print records of topics, in a group or not.",
        epilog="Template fields: {topic} {partition} {offset} {timestamp} {time} {key} {value} {headers}; \\n and \\t work.",
    )
    p.set_defaults(func=lambda a: run(consume, a))
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("-g", "--group", help="consume in this group (commits offsets); without it nothing is committed")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--from-beginning", action="store_true", help="start at the earliest offset when the group has no committed one")
    where.add_argument("-o", "--offset", help="start at OFFSET, -N (N before the end), beginning or end")
    where.add_argument("--from-time", metavar="TIME", help="start at the first record at or after TIME (ms, ISO 8601, or -10m)")
    p.add_argument("-p", "--partition", type=int, default=None, help="only this partition")
    p.add_argument("-n", "--num", type=int, default=None, help="exit after N records")
    p.add_argument("-t", "--template", default="{value}", help="output template (default '{value}'); --format json prints JSON lines")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS", help="exit when no record came for SECONDS")
    p.add_argument("--isolation", default="read_uncommitted", choices=["read_uncommitted", "read_committed"],
                   help="read_committed: only records of committed transactions, up to the last stable offset (default read_uncommitted)")
    p.add_argument("--session-timeout-ms", type=int, default=10000, help=argparse.SUPPRESS)

    # group
    group = sub.add_parser("group", help="list, describe, reset offsets of and delete consumer groups", description="Manage consumer groups.")
    gsub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd(gsub, "list", group_list, "list groups")
    p = cmd(gsub, "describe", group_describe, "state, members, and per partition: log end offset, committed offset, lag")
    p.add_argument("groups", nargs="+", metavar="GROUP")
    p = cmd(gsub, "reset-offsets", group_reset_offsets, "move a group's committed offsets (the group must have no active members)")
    p.add_argument("group")
    p.add_argument("-t", "--topic", action="append", metavar="TOPIC[:P,P]", help="partitions to reset (repeatable); all of the topic's without :P")
    p.add_argument("--all-topics", action="store_true", help="every partition the group has committed")
    p.add_argument("--to-earliest", action="store_true")
    p.add_argument("--to-latest", action="store_true")
    p.add_argument("--to-datetime", metavar="TIME", help="first offset at or after TIME (ms, ISO 8601, -1h)")
    p.add_argument("--to-offset", type=int, metavar="N")
    p.add_argument("--shift-by", type=int, metavar="N", help="move by N (negative: back)")
    p.add_argument("--dry-run", action="store_true", help="show the new offsets without committing them")
    p = cmd(gsub, "delete", group_delete, "delete groups (they must be empty)")
    p.add_argument("groups", nargs="+", metavar="GROUP")

    # cluster
    cluster = sub.add_parser("cluster", help="brokers, controller and health of the cluster", description="Inspect the cluster.")
    csub = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd(csub, "brokers", cluster_brokers, "list brokers")
    cmd(csub, "controller", cluster_controller, "the controller's id and address")
    cmd(csub, "health", cluster_health, f"check brokers, leaders and ISR (exit {EXIT_UNHEALTHY} when unhealthy)")
    p = cmd(csub, "elect-leaders", cluster_elect_leaders, "move leadership back to the preferred (first) replicas")
    p.add_argument("partitions", nargs="*", metavar="TOPIC[:P,P]", help="partitions (default: all)")
    p = cmd(csub, "reassign", cluster_reassign, "move partitions to other brokers (the controller adds, syncs, then removes replicas)")
    p.add_argument("moves", nargs="+", metavar="TOPIC:P=B1,B2")
    p.add_argument("--cancel", action="store_true", help="cancel the reassignments of these partitions instead")
    cmd(csub, "reassignments", cluster_reassignments, "reassignments in progress")
