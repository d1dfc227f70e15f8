"""``odradek acl`` (like kafka-acls) and ``odradek user`` (SCRAM credentials, like kafka-configs
--entity-type users, plus an offline form like kafka-storage --add-scram for the first user)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ..client import Admin
from ..client.acls import OPERATIONS, PATTERN_TYPES, AclBinding, AclFilter
from ..client.errors import ErrorCode, KafkaError
from ..security import scram
from ..security.acl import CLUSTER_NAME
from .common import EXIT_FAILED, EXIT_USAGE, CommandError, add_command, bootstrap, client_parent, emit_json, run, security, table

SCRAM_MECHANISMS = tuple(scram.MECHANISMS)


def _admin(args: argparse.Namespace) -> Admin:
    return Admin(bootstrap(args), request_timeout_ms=int(args.timeout * 1000), **security(args))


# ============================================================================ acl


def _resources(args: argparse.Namespace) -> list[tuple[str, str]]:
    out = [("TOPIC", t) for t in args.topic or ()]
    out += [("GROUP", g) for g in args.group or ()]
    out += [("TRANSACTIONAL_ID", t) for t in args.transactional_id or ()]
    if args.cluster:
        out.append(("CLUSTER", CLUSTER_NAME))
    return out


def _pattern(args: argparse.Namespace, *, adding: bool) -> str:
    p = args.resource_pattern_type.upper()
    if adding and p not in ("LITERAL", "PREFIXED"):
        raise CommandError(f"--resource-pattern-type {args.resource_pattern_type}: ACLs are added with literal or prefixed patterns", EXIT_USAGE)
    return p


def _operations(args: argparse.Namespace, default: list[str]) -> list[str]:
    ops = []
    for op in args.operation or default:
        try:
            ops.append(AclBinding("TOPIC", "x", "User:x", op).operation)
        except ValueError:
            names = ", ".join(n for n in OPERATIONS if n != "ANY")
            raise CommandError(f"--operation {op}: expected one of {names}", EXIT_USAGE) from None
    return ops


def _principals(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """(permission, principal, hosts) for every --allow-principal / --deny-principal."""
    out = []
    for perm, principals, hosts in (("ALLOW", args.allow_principal, args.allow_host), ("DENY", args.deny_principal, args.deny_host)):
        for p in principals or ():
            if ":" not in p:
                raise CommandError(f"principal {p!r} must be Type:name, e.g. User:alice", EXIT_USAGE)
            out.append((perm, p, list(hosts or ["*"])))
    return out


def _bindings(args: argparse.Namespace) -> list[AclBinding]:
    """What ``acl create`` adds: the cross product of principals, hosts, operations and resources
    (or what --producer / --consumer stand for)."""
    principals = _principals(args)
    if not principals:
        raise CommandError("name at least one --allow-principal or --deny-principal", EXIT_USAGE)
    pattern = _pattern(args, adding=True)
    wanted: list[tuple[str, str, str]] = []  # (resource type, name, operation)
    if args.producer or args.consumer:
        topics = args.topic or []
        if not topics:
            raise CommandError("--producer and --consumer need --topic", EXIT_USAGE)
        if args.producer:
            wanted += [("TOPIC", t, op) for t in topics for op in ("WRITE", "DESCRIBE", "CREATE")]
            wanted += [("TRANSACTIONAL_ID", t, op) for t in args.transactional_id or () for op in ("WRITE", "DESCRIBE")]
            if args.idempotent:
                wanted.append(("CLUSTER", CLUSTER_NAME, "IDEMPOTENT_WRITE"))
        if args.consumer:
            if not args.group:
                raise CommandError("--consumer needs --group", EXIT_USAGE)
            wanted += [("TOPIC", t, op) for t in topics for op in ("READ", "DESCRIBE")]
            wanted += [("GROUP", g, "READ") for g in args.group]
    else:
        resources = _resources(args)
        if not resources:
            raise CommandError("name a resource: --topic, --group, --transactional-id or --cluster", EXIT_USAGE)
        wanted = [(rt, rn, op) for rt, rn in resources for op in _operations(args, ["ALL"])]
    out: list[AclBinding] = []
    for perm, principal, hosts in principals:
        for host in hosts:
            for rt, rn, op in wanted:
                # the cluster resource has one literal name whatever the pattern type asked
                b = AclBinding(rt, rn, principal, op, perm, host, "LITERAL" if rt == "CLUSTER" else pattern)
                if b not in out:
                    out.append(b)
    return out


def _filters(args: argparse.Namespace) -> list[AclFilter]:
    """What ``acl list`` / ``acl delete`` select."""
    pattern = _pattern(args, adding=False)
    resources = _resources(args) or [("ANY", None)]
    if not _resources(args) and args.resource_pattern_type.upper() == "LITERAL":
        pattern = "ANY"  # no resource named: every ACL, whatever its pattern type
    principals = _principals(args) + [("ANY", p, list(args.host or [None])) for p in args.principal or ()]
    ops = _operations(args, ["ANY"])
    out = []
    for rt, rn in resources:
        for op in ops:
            if principals:
                for perm, principal, hosts in principals:
                    for host in hosts:
                        out.append(AclFilter(rt, rn, pattern, principal, host, op, perm))
            else:
                out.append(AclFilter(rt, rn, pattern, None, None, op, "ANY"))
    return out


def _sort_key(b: AclBinding) -> tuple:
    return (b.resource_type, b.resource_name, b.pattern_type, b.principal, b.host, b.operation, b.permission)


def _rows(bindings: list[AclBinding]) -> list[list[Any]]:
    return [[b.principal, b.host, b.operation, b.permission, b.resource_type, b.resource_name, b.pattern_type]
            for b in sorted(bindings, key=_sort_key)]


HEADERS = ["principal", "host", "operation", "permission", "resource-type", "resource-name", "pattern-type"]


def _as_json(bindings: list[AclBinding]) -> list[dict]:
    return [{"principal": b.principal, "host": b.host, "operation": b.operation, "permission": b.permission,
             "resource_type": b.resource_type, "resource_name": b.resource_name, "pattern_type": b.pattern_type}
            for b in bindings]


async def acl_create(args: argparse.Namespace) -> int:
    bindings = _bindings(args)
    async with _admin(args) as admin:
        results = await admin.create_acls(bindings, raise_errors=False)
    failed = [(b, e) for b, e in zip(bindings, results) if e is not None]
    if args.output == "json":
        emit_json([{**j, "error": None if e is None else e.name, "message": None if e is None else e.message}
                   for j, e in zip(_as_json(bindings), results)])
    else:
        pairs = sorted(zip(bindings, results), key=lambda br: _sort_key(br[0]))
        table(HEADERS + ["status"], [_rows([b])[0] + ["OK" if e is None else e.name] for b, e in pairs])
    for b, e in failed:
        print(f"odradek: {b}: {e.name}: {e.message}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


async def acl_list(args: argparse.Namespace) -> int:
    found: list[AclBinding] = []
    async with _admin(args) as admin:
        for f in _filters(args):
            for b in await admin.describe_acls(f):
                if b not in found:
                    found.append(b)
    if args.output == "json":
        emit_json(_as_json(found))
    else:
        table(HEADERS, _rows(found))
    return 0


async def acl_delete(args: argparse.Namespace) -> int:
    filters = _filters(args)
    async with _admin(args) as admin:
        deleted = await admin.delete_acls(filters)
    gone: list[AclBinding] = []
    for d in deleted:
        for b in d:
            if b not in gone:
                gone.append(b)
    if args.output == "json":
        emit_json(_as_json(gone))
    else:
        if gone:
            table(HEADERS, _rows(gone))
        print(f"deleted {len(gone)} ACL{'s' if len(gone) != 1 else ''}", file=sys.stderr)
    return 0


# ============================================================================ user


def _mechanisms(args: argparse.Namespace) -> list[str]:
    mechs = [m.upper() for m in (args.mechanism or ["SCRAM-SHA-512"])]
    bad = [m for m in mechs if m not in SCRAM_MECHANISMS]
    if bad:
        raise CommandError(f"--mechanism {', '.join(bad)}: expected {' or '.join(SCRAM_MECHANISMS)}", EXIT_USAGE)
    return list(dict.fromkeys(mechs))


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return args.password
    if args.password_file is not None:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                text = f.read().rstrip("\r\n")
        except OSError as e:
            raise CommandError(f"--password-file {args.password_file}: {e.strerror or e}", EXIT_USAGE) from None
    elif sys.stdin.isatty():
        text = getpass.getpass(f"password for {args.name}: ")
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise CommandError("the password must not be empty", EXIT_USAGE)
    return text


def _offline_store(args: argparse.Namespace):
    """A metadata store to write to directly (the broker stopped): the embedded store in a log
    dir, or ZooKeeper."""
    if args.log_dir and args.zookeeper:
        raise CommandError("--log-dir and --zookeeper are alternatives", EXIT_USAGE)
    if args.log_dir:
        from ..metadata.store import EmbeddedStore

        return EmbeddedStore(args.log_dir)
    return _ZooKeeperUsers(args.zookeeper)


class _ZooKeeperUsers:
    """/config/users/<sanitized name> and its change notification, as Kafka's tools write them
    (the quota keys of the same znode are kept)."""

    def __init__(self, connect: str) -> None:
        from kazoo.client import KazooClient

        self.zk = KazooClient(hosts=connect, timeout=15)
        try:
            self.zk.start(timeout=15)
        except Exception as e:  # noqa: BLE001 - kazoo's timeout is its own class
            raise CommandError(f"cannot reach ZooKeeper at {connect}: {e}", 3) from None

    def scram_credentials(self) -> dict[str, dict[str, str]]:
        import json

        from ..metadata.zk_store import desanitize

        out = {}
        if not self.zk.exists("/config/users"):
            return out
        for child in self.zk.get_children("/config/users"):
            data, _ = self.zk.get(f"/config/users/{child}")
            conf = (json.loads(data) if data else {}).get("config", {})
            mechs = {k: v for k, v in conf.items() if k.startswith("SCRAM-")}
            if mechs:
                out[desanitize(child)] = mechs
        return out

    def change_scram_credentials(self, upserts: dict[tuple[str, str], str], deletions: set[tuple[str, str]]) -> None:
        from ..metadata.zk_store import write_scram_credentials

        write_scram_credentials(self.zk, upserts, deletions)

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()


def _offline(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "log_dir", None) or getattr(args, "zookeeper", None))


def _check_iterations(n: int) -> None:
    if not scram.MIN_ITERATIONS <= n <= scram.MAX_ITERATIONS:
        raise CommandError(f"--iterations {n}: Kafka takes {scram.MIN_ITERATIONS} to {scram.MAX_ITERATIONS}", EXIT_USAGE)


def _report(args: argparse.Namespace, action: str, results: dict[str, KafkaError | None], mechs: list[str]) -> int:
    rc = 0
    rows = []
    for user, err in results.items():
        rows.append([user, ",".join(mechs), "OK" if err is None else err.name, "" if err is None else err.message])
        if err is not None:
            rc = EXIT_FAILED
    if args.output == "json":
        emit_json([{"user": u, "mechanisms": mechs, "error": None if s == "OK" else s, "message": m or None} for u, _, s, m in rows])
    else:
        table(["user", "mechanisms", "status"] + (["message"] if rc else []), [r if rc else r[:3] for r in rows])
    return rc


def user_create(args: argparse.Namespace) -> int:
    mechs = _mechanisms(args)
    _check_iterations(args.iterations)
    password = _password(args)
    if _offline(args):
        store = _offline_store(args)
        try:
            upserts = {(args.name, m): scram.make_credential(m, password, args.iterations).to_kafka() for m in mechs}
            store.change_scram_credentials(upserts, set())
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        return _report(args, "create", {args.name: None}, mechs)

    async def go(a: argparse.Namespace) -> int:
        async with _admin(a) as admin:
            res = await admin.alter_user_scram_credentials([(a.name, m, password, a.iterations) for m in mechs], raise_errors=False)
        return _report(a, "create", res, mechs)

    return run(go, args)


def user_delete(args: argparse.Namespace) -> int:
    if _offline(args):
        store = _offline_store(args)
        try:
            have = sorted(store.scram_credentials().get(args.name, {}))
            mechs = [m.upper() for m in args.mechanism] if args.mechanism else have
            missing = [m for m in mechs if m not in have]
            if missing or not mechs:
                err = KafkaError(ErrorCode.resource_not_found, f"user {args.name!r} has no {', '.join(missing) or 'SCRAM'} credential")
                return _report(args, "delete", {args.name: err}, mechs)
            store.change_scram_credentials({}, {(args.name, m) for m in mechs})
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        return _report(args, "delete", {args.name: None}, mechs)

    async def go(a: argparse.Namespace) -> int:
        async with _admin(a) as admin:
            if a.mechanism:
                mechs = _mechanisms(a)
            else:
                try:
                    mechs = [c.mechanism for c in (await admin.describe_user_scram_credentials([a.name]))[a.name]]
                except KafkaError as e:
                    return _report(a, "delete", {a.name: e}, [])
            res = await admin.alter_user_scram_credentials(deletions=[(a.name, m) for m in mechs], raise_errors=False)
        return _report(a, "delete", res, mechs)

    return run(go, args)


async def user_describe(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        try:
            users = await admin.describe_user_scram_credentials(args.names or None)
        except KafkaError as e:
            if e.code == ErrorCode.resource_not_found:
                raise CommandError(f"RESOURCE_NOT_FOUND: {e.message}", 4) from None
            raise
    if args.output == "json":
        emit_json([{"user": u, "credentials": [{"mechanism": c.mechanism, "iterations": c.iterations} for c in cs]}
                   for u, cs in users.items()])
    else:
        table(["user", "mechanism", "iterations"], [[u, c.mechanism, c.iterations] for u, cs in users.items() for c in cs])
    return 0


# ============================================================================ registration


def register(sub: argparse._SubParsersAction) -> None:
    parent = client_parent()

    def cmd(group: argparse._SubParsersAction, name: str, fn: Any, help: str, *, sync: bool = False) -> argparse.ArgumentParser:
        if not sync:
            return add_command(group, name, fn, help, parent=parent)
        p = group.add_parser(name, parents=[parent], help=help, description=help)
        p.set_defaults(func=lambda a, fn=fn: _sync(fn, a))
        return p

    acl = sub.add_parser("acl", help="create, list and delete ACLs (like kafka-acls)", description="Manage ACLs.")
    asub = acl.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, fn, help in (("create", acl_create, "add ACLs (kafka-acls --add)"),
                           ("list", acl_list, "list ACLs (kafka-acls --list)"),
                           ("delete", acl_delete, "remove ACLs (kafka-acls --remove)")):
        p = cmd(asub, name, fn, help)
        p.add_argument("--allow-principal", action="append", metavar="PRINCIPAL", help="Type:name to allow, e.g. User:alice (repeatable)")
        p.add_argument("--deny-principal", action="append", metavar="PRINCIPAL", help="Type:name to deny (repeatable)")
        p.add_argument("--allow-host", action="append", metavar="HOST", help="hosts the allow principals may connect from (default *)")
        p.add_argument("--deny-host", action="append", metavar="HOST", help="hosts the deny principals are denied from (default *)")
        p.add_argument("--operation", action="append", metavar="OP",
                       help="read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs, "
                       "idempotent-write, all (repeatable; create: default all)")
        p.add_argument("--topic", action="append", metavar="TOPIC", help="a topic (repeatable; '*' is every topic)")
        p.add_argument("--group", action="append", metavar="GROUP", help="a consumer group (repeatable)")
        p.add_argument("--transactional-id", action="append", metavar="ID", help="a transactional id (repeatable)")
        p.add_argument("--cluster", action="store_true", help="the cluster resource")
        p.add_argument("--resource-pattern-type", default="literal", type=str.lower,
                       choices=[n.lower() for n in PATTERN_TYPES],
                       help="literal (default) or prefixed; list/delete also take any and match")
        if name == "create":
            p.add_argument("--producer", action="store_true", help="WRITE, DESCRIBE and CREATE on the topics (WRITE, DESCRIBE on --transactional-id)")
            p.add_argument("--idempotent", action="store_true", help="with --producer: IDEMPOTENT_WRITE on the cluster")
            p.add_argument("--consumer", action="store_true", help="READ and DESCRIBE on the topics, READ on the groups")
        else:
            p.add_argument("--principal", action="append", metavar="PRINCIPAL", help="only ACLs of this principal (repeatable)")
            p.add_argument("--host", action="append", metavar="HOST", help="with --principal: only ACLs for this host")
        if name == "delete":
            p.add_argument("--force", action="store_true", help="accepted for kafka-acls compatibility (nothing is asked)")

    user = sub.add_parser("user", help="SCRAM users: create, describe, delete (like kafka-configs --entity-type users)",
                          description="Manage SCRAM credentials.")
    usub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(usub, "create", user_create, "create a user or change its password", sync=True)
    p.add_argument("name", metavar="USER")
    p.add_argument("--password", help="the password (else --password-file, else read from the terminal or stdin)")
    p.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    p.add_argument("--mechanism", action="append", type=str.upper, metavar="MECHANISM",
                   help="SCRAM-SHA-512 (default) or SCRAM-SHA-256 (repeatable)")
    p.add_argument("--iterations", type=int, default=scram.MIN_ITERATIONS, help=f"PBKDF2 iterations ({scram.MIN_ITERATIONS}-{scram.MAX_ITERATIONS}, default {scram.MIN_ITERATIONS})")
    _offline_args(p)
    p = cmd(usub, "delete", user_delete, "delete a user's credentials (all its mechanisms, or --mechanism)", sync=True)
    p.add_argument("name", metavar="USER")
    p.add_argument("--mechanism", action="append", type=str.upper, metavar="MECHANISM", help="only this mechanism (repeatable)")
    _offline_args(p)
    p = cmd(usub, "describe", user_describe, "users with SCRAM credentials: mechanism and iterations")
    p.add_argument("names", nargs="*", metavar="USER", help="these users (default: every user)")


def _offline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-dir", metavar="DIR", help="write to a stopped single-node broker's metadata in its (first) log dir, "
                   "instead of asking a broker")
    p.add_argument("--zookeeper", metavar="CONNECT", help="write to ZooKeeper directly (host:port[/chroot]), instead of asking "
                   "a broker: how the first user of a SASL-only cluster is made")


def _sync(fn: Any, args: argparse.Namespace) -> int:
    """Run a command that may or may not need the network (offline forms), with run()'s error handling."""
    try:
        return fn(args)
    except CommandError as e:
        print(f"odradek: {e}", file=sys.stderr)
        return e.code
    except KafkaError as e:
        print(f"odradek: {e.name}: {e.message}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, ValueError) as e:
        print(f"odradek: {e}", file=sys.stderr)
        return EXIT_FAILED

