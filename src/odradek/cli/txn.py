"""``odradek txn``: transactions of any Kafka-compatible cluster, as Kafka's kafka-transactions does.

- ``list``: every transactional id (ListTransactions to each broker), with filters;
- ``describe ID``: one id's state at its coordinator (DescribeTransactions);
- ``describe-producers``: a partition's active producers and their open transactions
  (DescribeProducers);
- ``find-hanging``: open transactions on partitions that no coordinator will ever finish (the
  partition has a transaction open for longer than ``--max-transaction-timeout`` and the
  coordinator does not list that partition in the producer's transaction);
- ``abort``: end one with an ABORT marker (WriteTxnMarkers to the partition leader), found by its
  start offset (DescribeProducers) or given by producer id, epoch and coordinator epoch.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

from ..client import Admin, TopicPartition
from ..client.admin import ProducerState
from ..client.errors import ErrorCode, KafkaError
from .common import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CommandError, add_command, bootstrap, client_parent, emit_json, security, table


def _admin(args: argparse.Namespace) -> Admin:
    return Admin(bootstrap(args), request_timeout_ms=int(args.timeout * 1000), **security(args))


async def txn_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        items = await admin.list_transactions(
            states=args.state or (), producer_ids=args.producer_id or (),
            min_duration_ms=-1 if args.duration_filter is None else args.duration_filter, pattern=args.transactional_id_pattern,
        )
    if args.output == "json":
        emit_json([{"transactional_id": t.transactional_id, "coordinator": t.coordinator, "producer_id": t.producer_id, "state": t.state} for t in items])
    else:
        table(["transactional-id", "coordinator", "producer-id", "state"], [[t.transactional_id, t.coordinator, t.producer_id, t.state] for t in items])
    return 0


async def txn_describe(args: argparse.Namespace) -> int:
    if (args.transactional_id is None) == (args.transactional_id_flag is None):
        raise CommandError("name one transactional id (TRANSACTIONAL_ID or --transactional-id)", EXIT_USAGE)
    args.transactional_id = args.transactional_id or args.transactional_id_flag
    async with _admin(args) as admin:
        try:
            d = (await admin.describe_transactions([args.transactional_id]))[args.transactional_id]
        except KafkaError as e:
            if e.code == ErrorCode.transactional_id_not_found:
                raise CommandError(f"transactional id {args.transactional_id!r} does not exist", EXIT_NOT_FOUND) from None
            raise
    now = int(time.time() * 1000)
    duration = now - d.start_time_ms if d.start_time_ms >= 0 else None
    if args.output == "json":
        emit_json({
            "transactional_id": d.transactional_id, "coordinator": d.coordinator, "producer_id": d.producer_id,
            "producer_epoch": d.producer_epoch, "state": d.state, "timeout_ms": d.timeout_ms,
            "start_time_ms": d.start_time_ms if d.start_time_ms >= 0 else None, "duration_ms": duration,
            "partitions": [[tp.topic, tp.partition] for tp in d.partitions],
        })
    else:
        table(
            ["coordinator", "transactional-id", "producer-id", "producer-epoch", "state", "timeout-ms", "start-time-ms", "duration-ms", "partitions"],
            [[d.coordinator, d.transactional_id, d.producer_id, d.producer_epoch, d.state, d.timeout_ms,
              d.start_time_ms if d.start_time_ms >= 0 else None, duration, [str(tp) for tp in d.partitions]]],
        )
    return 0


def _producer_rows(states: list[ProducerState]) -> list[list[Any]]:
    return [[s.producer_id, s.producer_epoch, s.coordinator_epoch, s.last_sequence, s.last_timestamp,
             s.current_txn_start_offset if s.current_txn_start_offset >= 0 else None] for s in states]


def _producer_json(s: ProducerState) -> dict:
    return {"producer_id": s.producer_id, "producer_epoch": s.producer_epoch, "coordinator_epoch": s.coordinator_epoch,
            "last_sequence": s.last_sequence, "last_timestamp": s.last_timestamp,
            "current_txn_start_offset": s.current_txn_start_offset if s.current_txn_start_offset >= 0 else None}


async def txn_describe_producers(args: argparse.Namespace) -> int:
    tp = TopicPartition(args.topic, args.partition)
    async with _admin(args) as admin:
        states = (await admin.describe_producers([tp], broker_id=args.broker_id))[tp]
    if args.output == "json":
        emit_json([_producer_json(s) for s in states])
    else:
        table(["producer-id", "producer-epoch", "coordinator-epoch", "last-sequence", "last-timestamp", "txn-start-offset"], _producer_rows(states))
    return 0


async def txn_abort(args: argparse.Namespace) -> int:
    tp = TopicPartition(args.topic, args.partition)
    given = [args.producer_id, args.producer_epoch, args.coordinator_epoch]
    if args.start_offset is None and all(v is None for v in given):
        raise CommandError("say which transaction: --start-offset, or --producer-id with --producer-epoch and --coordinator-epoch", EXIT_USAGE)
    if args.start_offset is not None and any(v is not None for v in given):
        raise CommandError("give either --start-offset or --producer-id/--producer-epoch/--coordinator-epoch, not both", EXIT_USAGE)
    if args.start_offset is None and any(v is None for v in given):
        raise CommandError("--producer-id needs --producer-epoch and --coordinator-epoch", EXIT_USAGE)
    async with _admin(args) as admin:
        if args.start_offset is not None:
            states = (await admin.describe_producers([tp]))[tp]
            found = [s for s in states if s.current_txn_start_offset == args.start_offset]
            if not found:
                raise CommandError(f"no open transaction starts at offset {args.start_offset} on {tp}", EXIT_NOT_FOUND)
            s = found[0]
            pid, epoch, coordinator_epoch = s.producer_id, s.producer_epoch, s.coordinator_epoch
        else:
            pid, epoch, coordinator_epoch = args.producer_id, args.producer_epoch, args.coordinator_epoch
        # A transaction that hung before its producer's first marker has coordinator epoch -1:
        # 0 is at most any coordinator epoch (what kafka-transactions sends too).
        coordinator_epoch = max(0, coordinator_epoch)
        await admin.abort_transaction(tp, pid, epoch, coordinator_epoch)
    if args.output == "json":
        emit_json({"topic": tp.topic, "partition": tp.partition, "producer_id": pid, "producer_epoch": epoch, "coordinator_epoch": coordinator_epoch, "aborted": True})
    else:
        print(f"aborted the transaction of producer {pid} (epoch {epoch}) on {tp}")
    return 0


async def txn_find_hanging(args: argparse.Namespace) -> int:
    if args.topic is None and args.broker_id is None:
        raise CommandError("find-hanging needs --topic or --broker-id to limit the search", EXIT_USAGE)
    if args.partition is not None and args.topic is None:
        raise CommandError("--partition needs --topic", EXIT_USAGE)
    max_ms = args.max_transaction_timeout * 60_000
    async with _admin(args) as admin:
        if args.topic is not None and args.partition is not None:
            tps = [TopicPartition(args.topic, args.partition)]
        else:
            topics = await admin.describe_topics([args.topic] if args.topic is not None else None)
            tps = [TopicPartition(t.name, p.partition) for t in topics.values() for p in t.partitions.values()
                   if args.broker_id is None or args.broker_id in p.replicas]
        producers = await admin.describe_producers(tps) if tps else {}  # from each partition's leader
        now = int(time.time() * 1000)
        # open transactions older than the largest timeout a coordinator would let them live
        candidates = [(tp, s) for tp, states in producers.items() for s in states
                      if s.current_txn_start_offset >= 0 and now - s.last_timestamp > max_ms]
        hanging: list[tuple[TopicPartition, ProducerState]] = []
        if candidates:
            pids = sorted({s.producer_id for _, s in candidates})
            listed = {t.producer_id: t.transactional_id for t in await admin.list_transactions(producer_ids=pids)}
            descriptions: dict[str, Any] = {}
            for tid in set(listed.values()):
                try:
                    descriptions.update(await admin.describe_transactions([tid]))
                except KafkaError as e:
                    if e.code != ErrorCode.transactional_id_not_found:
                        raise
            for tp, s in candidates:
                d = descriptions.get(listed.get(s.producer_id, ""))
                # the coordinator still lists the partition: it will write the marker itself
                if d is None or tp not in d.partitions:
                    hanging.append((tp, s))
    rows = [[tp.topic, tp.partition, s.producer_id, s.producer_epoch, s.coordinator_epoch, s.current_txn_start_offset, s.last_timestamp,
             (now - s.last_timestamp) // 60_000] for tp, s in sorted(hanging, key=lambda x: (x[0], x[1].producer_id))]
    if args.output == "json":
        emit_json([{"topic": r[0], "partition": r[1], "producer_id": r[2], "producer_epoch": r[3], "coordinator_epoch": r[4],
                    "start_offset": r[5], "last_timestamp": r[6], "duration_minutes": r[7]} for r in rows])
    else:
        table(["topic", "partition", "producer-id", "producer-epoch", "coordinator-epoch", "start-offset", "last-timestamp", "duration-min"], rows)
    return EXIT_FAILED if rows and args.fail_if_found else 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = functools.partial(add_command, parent=client_parent())

    txn = sub.add_parser("txn", help="list, describe and abort transactions; find hanging ones",
                         description="Inspect transactions and end hanging ones (like kafka-transactions).")
    xsub = txn.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(xsub, "list", txn_list, "list transactional ids of every broker")
    p.add_argument("--state", action="append", metavar="STATE", help="only this state (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort...; repeatable)")
    p.add_argument("--producer-id", action="append", type=int, metavar="ID", help="only this producer id (repeatable)")
    p.add_argument("--duration-filter", type=int, metavar="MS", help="only transactions open longer than MS milliseconds")
    p.add_argument("--transactional-id-pattern", metavar="REGEX", help="only transactional ids matching REGEX")
    p = cmd(xsub, "describe", txn_describe, "one transactional id's state at its coordinator")
    p.add_argument("transactional_id", metavar="TRANSACTIONAL_ID", nargs="?")
    p.add_argument("--transactional-id", dest="transactional_id_flag", metavar="TRANSACTIONAL_ID", help="the same, as kafka-transactions names it")
    p = cmd(xsub, "describe-producers", txn_describe_producers, "the active producers of a partition and their open transactions")
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=int, required=True)
    p.add_argument("--broker-id", type=int, help="ask this replica instead of the leader")
    p = cmd(xsub, "abort", txn_abort, "abort a hanging transaction on one partition (an ABORT marker written by its leader)",
            epilog="Name the transaction by --start-offset (its first offset on the partition, as find-hanging prints it), "
                   "or by --producer-id, --producer-epoch and --coordinator-epoch.")
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=int, required=True)
    p.add_argument("--start-offset", type=int, help="the first offset of the transaction on the partition")
    p.add_argument("--producer-id", type=int)
    p.add_argument("--producer-epoch", type=int)
    p.add_argument("--coordinator-epoch", type=int)
    p = cmd(xsub, "find-hanging", txn_find_hanging, "open transactions no coordinator will finish")
    p.add_argument("--topic", help="search this topic")
    p.add_argument("--partition", type=int, help="only this partition (with --topic)")
    p.add_argument("--broker-id", type=int, help="search the partitions this broker holds a replica of")
    p.add_argument("--max-transaction-timeout", type=int, default=15, metavar="MINUTES",
                   help="only transactions open longer than this (default 15, the broker's transaction.max.timeout.ms)")
    p.add_argument("--fail-if-found", action="store_true", help=f"exit {EXIT_FAILED} when a hanging transaction is found")
