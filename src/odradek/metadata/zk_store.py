"""Cluster metadata in Apache ZooKeeper, in classic Kafka's layout.

    /cluster/id                                   {"version":"1","id":...}
    /brokers/ids/<id>            (ephemeral)      {"version":5,"host":..,"port":..,"endpoints":[..],...}
    /controller                  (ephemeral)      {"version":2,"brokerid":..,"timestamp":..}
    /controller_epoch                             "<n>"
    /brokers/topics/<topic>                       {"version":3,"topic_id":..,"partitions":{"0":[1,2]},...}
    /brokers/topics/<topic>/partitions/<p>/state  {"controller_epoch":..,"leader":..,"version":1,
                                                   "leader_epoch":..,"isr":[..]}
    /config/topics/<topic>, /config/brokers/<id|<default>>   {"version":1,"config":{..}}
    /latest_producer_id_block                     {"version":1,"broker":..,"block_start":..,"block_end":..}
    /state_change_notification/state_change_<seq> {"version":1,"partitions":[{"topic":..,"partition":..}]}

Partition states change only by compare-and-set on the znode version, and every such write
creates, in the same multi-op, a sequential notification naming the partitions it changed (the
format of Kafka's ``/isr_change_notification``). Brokers watch the notifications, not each state
znode: a failover that moves thousands of leaders costs each broker one children watch, one read
of the notifications and the changed states read in multiReads (:mod:`.zk_multiread`), instead of
a watch event and a watched read per partition. Being in the same multi-op as the writes, a
notification cannot be lost while the writes stand. The controller removes notifications older
than :data:`NOTIFY_RETENTION_S`. Topics, configs, brokers and the controller keep their own watches.

Watches fire on kazoo's threads; they only schedule :meth:`refresh` on the broker's event loop,
where the cache is read and written, so the broker never sees a half-updated view.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import replace
from typing import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (BadVersionError, NodeExistsError, NoNodeError, RolledBackError, RuntimeInconsistency,
                              UnimplementedError)

from . import zk_multiread
from .store import Changes, MetadataStore, PartitionState, TopicMeta
from .zk_multiread import multi_read_async

log = logging.getLogger("odradek.zookeeper")

PRODUCER_ID_BLOCK = 1000
MULTI_OPS = 200  # writes per ZooKeeper multi-op when many partition states change at once
MULTI_READ_SIZE = 500  # znodes per multiRead
NOTIFY_PATH = "/state_change_notification"
NOTIFY_PREFIX = NOTIFY_PATH + "/state_change_"
NOTIFY_RETENTION_S = 300  # notifications older than this are removed by the controller
                          # (a broker away longer has lost its session and reads everything again)
SLOW_LOG_ITEMS, SLOW_LOG_S = 100, 0.5  # a refresh this large or slow is logged with its time
REASSIGN_PATH = "/admin/reassign_partitions"


def _json(data: bytes | None):
    if not data:
        return None
    return json.loads(data.decode("utf-8"))


def _dump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _dirty_key(path: str | None) -> tuple | None:
    """What a watch on ``path`` asks to read again."""
    if not path:
        return None
    parts = path.strip("/").split("/")
    if parts[:2] == ["brokers", "ids"]:
        return ("brokers",)
    if parts == ["controller"]:
        return ("controller",)
    if parts[:2] == ["brokers", "topics"]:
        if len(parts) == 2:
            return ("topics",)
        if len(parts) == 3:
            return ("topic", parts[2])
        if len(parts) == 6 and parts[5] == "state":
            return ("state", parts[2], int(parts[4]))
        return ("topic", parts[2])
    if parts[:2] == ["config", "topics"] and len(parts) == 3:
        return ("tconfig", parts[2])
    if parts[:2] == ["config", "brokers"]:
        return ("bconfigs",)
    if parts[:2] == ["config", "users"]:
        return ("users",)
    if parts[0] in ("kafka-acl-changes", "kafka-acl-extended-changes", "kafka-acl"):
        return ("acls",)
    if path == REASSIGN_PATH:
        return ("reassign",)
    if path == NOTIFY_PATH:
        return ("notifications",)
    return None


def sanitize(name: str) -> str:
    """Kafka's Sanitizer: URL-encode (UTF-8), '*' as %2A, '+' (a space) as %20."""
    from urllib.parse import quote

    return quote(name, safe="-_.~").replace("*", "%2A")


def desanitize(name: str) -> str:
    from urllib.parse import unquote

    return unquote(name)


def write_scram_credentials(zk: KazooClient, upserts: dict[tuple[str, str], str],
                            deletions: set[tuple[str, str]]) -> None:
    """Read-modify-write each user's /config/users znode (quota keys kept; compare-and-set, retried
    on a race), then a change notification in /config/changes, as Kafka writes them. Used by the
    ZooKeeper store and by ``odradek`` writing to ZooKeeper with the brokers stopped."""
    for user in {u for u, _ in upserts} | {u for u, _ in deletions}:
        path = f"/config/users/{sanitize(user)}"
        while True:
            try:
                data, stat = zk.get(path)
                doc, version = (_json(data) or {}), stat.version
            except NoNodeError:
                doc, version = {}, None
            doc.setdefault("version", 1)
            conf = doc.setdefault("config", {})
            for (u, mech) in deletions:
                if u == user:
                    conf.pop(mech, None)
            for (u, mech), text in upserts.items():
                if u == user:
                    conf[mech] = text
            try:
                if version is None:
                    zk.create(path, _dump(doc), makepath=True)
                else:
                    zk.set(path, _dump(doc), version=version)
                break
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue
        zk.create("/config/changes/config_change_", _dump({"version": 2, "entity_path": f"users/{sanitize(user)}"}),
                  sequence=True, makepath=True)


def _notify_seq(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _notify_path(seq: int) -> str:
    return f"{NOTIFY_PREFIX}{seq:010d}"


def _notify_doc(keys) -> bytes:
    return _dump({"version": 1, "partitions": [{"topic": t, "partition": p} for t, p in keys]})


def topic_id_to_kafka(tid: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(tid).bytes).decode().rstrip("=")


def topic_id_from_kafka(s: str) -> str:
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))))


class ZooKeeperStore(MetadataStore):
    def __init__(self, connect: str, broker_id: int, *, session_timeout_ms: int = 18000,
                 schedule: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.broker_id = broker_id
        self._closed = False
        self.zk = KazooClient(hosts=connect, timeout=session_timeout_ms / 1000)
        self.zk.start(timeout=15)
        self.zk.add_listener(self._state_listener)
        self._schedule = schedule or (lambda fn: fn())
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        # What watches said changed, read again by the next refresh (on the broker's loop).
        self._dirty: set[tuple] = set()
        self._full = True  # the first refresh (and one after a new session) reads everything
        self._changes = Changes(full=True)
        self._fire_scheduled = False
        self.version = 1
        self._topics: dict[str, TopicMeta] = {}
        self._brokers: dict[int, tuple[str, int, str | None]] = {}
        self._endpoints: dict[int, dict[str, tuple[str, int]]] = {}
        self._controller = -1
        self._broker_configs: dict[str, dict[str, str]] = {}
        self._reassignments: dict[tuple[str, int], list[int]] = {}
        self._scram: dict[str, dict[str, str]] = {}
        self._acls: list[dict] = []
        self.scram_version = 0
        self.acl_version = 0
        self._multi_read = zk_multiread.supported(self.zk)
        self._notified = -1  # the last state change notification taken in (its sequence number)
        self._own_notifications: set[int] = set()  # ours: their states are in the cache already
        self._notify_seen: dict[int, float] = {}  # as controller: when each notification was first seen
        for path in ("/brokers/ids", "/brokers/topics", "/config/topics", "/config/brokers", "/admin/delete_topics",
                     "/config/users", "/config/changes", "/kafka-acl", "/kafka-acl-changes",
                     "/kafka-acl-extended/prefixed", "/kafka-acl-extended-changes", NOTIFY_PATH):
            self.zk.ensure_path(path)
        self.cluster_id = self._cluster_id()
        self._next_pid = 0
        self._pid_end = 0
        self.session_lost = False
        self._registration: tuple | None = None  # what register_broker was given, for a new session

    # --- plumbing ------------------------------------------------------------------------------

    def _state_listener(self, state) -> None:
        if self._closed:
            return
        if state == KazooState.LOST:
            self.session_lost = True
            log.error("ZooKeeper session lost")
        elif state == KazooState.CONNECTED and self.session_lost:
            # A new session: the ephemeral registration (and /controller, if it was ours) went with
            # the old one, as did the watches. Register again, as a Kafka broker does, and re-read
            # (which sets the watches again); not from this kazoo thread, on the broker's own.
            log.warning("ZooKeeper session re-established")
            self.session_lost = False
            with self._lock:
                self._full = True  # watches of the old session are gone: read everything again
            self._schedule(self._new_session)

    def _watch(self, event) -> None:
        """A watch fired (on a kazoo thread): note what to read again, refresh on the loop."""
        key = _dirty_key(event.path)
        if key is None:
            return
        with self._lock:
            self._dirty.add(key)
        self._schedule_fire()

    def _schedule_fire(self) -> None:
        with self._lock:
            if self._fire_scheduled:
                return
            self._fire_scheduled = True
        self._schedule(self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._fire_scheduled = False
        if self._closed:
            return  # a watch that fired as the broker stopped
        try:
            changed = self.refresh()
        except Exception as e:  # noqa: BLE001 - ZooKeeper unreachable for now: the keys wait, retry
            if self._closed:
                return
            log.warning("reading ZooKeeper failed (%s: %s); retrying", type(e).__name__, e)
            retry = threading.Timer(0.5, self._schedule_fire)
            retry.daemon = True
            retry.start()
            return
        # A full pass that our own write's refresh made (after a new session: the registration's)
        # is still to be announced: its changes wait in _changes, and no watch will fire for them.
        if changed or self._changes.full:
            for cb in list(self._listeners):
                cb()

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def take_changes(self) -> Changes:
        out, self._changes = self._changes, Changes()
        return out

    def close(self) -> None:
        self._closed = True
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:  # noqa: BLE001
            pass

    def _cluster_id(self) -> str:
        try:
            data, _ = self.zk.get("/cluster/id")
            return _json(data)["id"]
        except NoNodeError:
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            try:
                self.zk.create("/cluster/id", _dump({"version": "1", "id": cid}), makepath=True)
            except NodeExistsError:
                data, _ = self.zk.get("/cluster/id")
                return _json(data)["id"]
            return cid

    # --- reading (cache, refreshed on the loop thread) -----------------------------------------

    def refresh(self) -> bool:
        """Read again what watches (or our own writes) said changed, and only that: a topic's
        assignment, one partition's state, one config. Reads go out together (pipelined on the
        one ZooKeeper connection) and are waited for together. Returns whether anything changed."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            full, self._full = self._full, False
        try:
            return self._refresh(dirty, full)
        except Exception:
            # Nothing read is lost: a failed read (its watch not set again either) is tried again.
            with self._lock:
                self._dirty |= dirty
                self._full = self._full or full
            raise

    def _refresh(self, dirty: set, full: bool) -> bool:
        if full:
            # a new session lost every watch: read (and watch) everything again
            dirty |= {("brokers",), ("controller",), ("topics",), ("bconfigs",), ("reassign",), ("users",), ("acls",)}
            for t, meta in self._topics.items():
                dirty |= {("topic", t), ("tconfig", t)}
                dirty |= {("state", t, p) for p in meta.partitions}
        if not dirty:
            return False
        started = time.monotonic()
        changes = Changes(full=full)
        zk, watch = self.zk, self._watch
        if full:
            # from here on, notifications tell what changes (states are read after this)
            self._notified = max([-1] + [_notify_seq(c) for c in zk.get_children(NOTIFY_PATH, watch=watch)])
            self._own_notifications = {q for q in self._own_notifications if q > self._notified}
        elif ("notifications",) in dirty:
            dirty |= self._read_notifications()
        if ("brokers",) in dirty:
            self._read_brokers()
            changes.brokers = True
        if ("controller",) in dirty:
            res = self._get_watched("/controller")
            controller = -1 if res is None else int(_json(res[0])["brokerid"])
            if controller != self._controller:
                self._controller = controller
                changes.brokers = True
        topics = dict(self._topics)
        to_read: set[str] = {k[1] for k in dirty if k[0] == "topic"}
        if ("topics",) in dirty:
            names = set(zk.get_children("/brokers/topics", watch=watch))
            for gone in set(topics) - names:
                del topics[gone]
                changes.topics.add(gone)
            to_read |= names - set(topics)
        states = {(k[1], k[2]) for k in dirty if k[0] == "state"}
        configs = {k[1] for k in dirty if k[0] == "tconfig"}
        # topic znodes (assignments); new topics also need their states and configs read
        names = sorted(to_read)
        for t, res in zip(names, self._read_many([f"/brokers/topics/{t}" for t in names])):
            if isinstance(res, NoNodeError):
                if topics.pop(t, None) is not None:
                    changes.topics.add(t)
                continue
            if isinstance(res, Exception):
                raise res
            data, _ = res
            doc = _json(data) or {}
            tid = doc.get("topic_id")
            topic_id = topic_id_from_kafka(tid) if tid else str(uuid.UUID(int=0))
            assignment = {int(p): list(r) for p, r in (doc.get("partitions") or {}).items()}
            # a reassignment under way: the replicas it adds and removes (Kafka's topic znode fields)
            moving = {int(p): (list((doc.get("adding_replicas") or {}).get(p, [])),
                               list((doc.get("removing_replicas") or {}).get(p, [])))
                      for p in (doc.get("partitions") or {})}
            old = topics.get(t)
            if old is None or old.topic_id != topic_id:
                parts = {p: PartitionState(p, reps, -1, 0, [], -1, 0, *moving[p]) for p, reps in assignment.items()}
                topics[t] = TopicMeta(t, topic_id, parts, {})
                states |= {(t, p) for p in assignment}
                configs.add(t)
            else:
                parts = {}
                for p, reps in assignment.items():
                    st = old.partitions.get(p)
                    adding, removing = moving[p]
                    if st is None:
                        st = PartitionState(p, reps, -1, 0, [], -1, 0, adding, removing)
                        states.add((t, p))
                    elif (st.replicas, st.adding, st.removing) != (reps, adding, removing):
                        st = replace(st, replicas=reps, adding=adding, removing=removing)
                        changes.partitions.add((t, p))
                    parts[p] = st
                topics[t] = TopicMeta(t, old.topic_id, parts, old.configs)
            changes.topics.add(t)
        state_keys = sorted(k for k in states if k[0] in topics and k[1] in topics[k[0]].partitions)
        config_keys = sorted(t for t in configs if t in topics)
        # states without watches (notifications say when they change), configs watched
        answers = self._read_many([f"/brokers/topics/{t}/partitions/{p}/state" for t, p in state_keys], watch=False)
        answers += self._read_many([f"/config/topics/{t}" for t in config_keys])
        new_parts: dict[str, dict[int, PartitionState]] = {}
        for (t, p), res in zip(state_keys, answers):
            known = topics[t].partitions[p]
            replicas, moving_p = known.replicas, (list(known.adding), list(known.removing))
            if isinstance(res, NoNodeError):  # the topic is being deleted
                new = PartitionState(p, list(replicas), -1, 0, [], -1, 0, *moving_p)
            elif isinstance(res, Exception):
                raise res
            else:
                sdata, stat = res
                st = _json(sdata)
                new = PartitionState(p, list(replicas), int(st["leader"]), int(st["leader_epoch"]), list(st["isr"]),
                                     stat.version, int(st.get("controller_epoch", 0)), *moving_p)
            new_parts.setdefault(t, {})[p] = new
            changes.partitions.add((t, p))
        for t, parts in new_parts.items():
            meta = topics[t]
            topics[t] = TopicMeta(t, meta.topic_id, {**meta.partitions, **parts}, meta.configs)
        for t, res in zip(config_keys, answers[len(state_keys):]):
            if isinstance(res, NoNodeError):
                res = self._get_watched(f"/config/topics/{t}")  # None: still absent, watched
            if isinstance(res, Exception):
                raise res
            conf = {} if res is None else dict((_json(res[0]) or {}).get("config", {}))
            meta = topics[t]
            if meta.configs != conf:
                topics[t] = TopicMeta(t, meta.topic_id, meta.partitions, conf)
                changes.topics.add(t)
        self._topics = topics
        if ("bconfigs",) in dirty:
            self._read_broker_configs()
            changes.configs = True
        if ("users",) in dirty or any(k[0] == "user" for k in dirty):
            self._read_users()
        if ("acls",) in dirty:
            self._read_acls()
        if ("reassign",) in dirty:
            res = self._get_watched(REASSIGN_PATH)
            doc = (_json(res[0]) or {}) if res is not None else {}
            self._reassignments = {(e["topic"], int(e["partition"])): list(e["replicas"])
                                   for e in doc.get("partitions", [])}
            changes.reassignments = True
        self.version += 1
        self._changes.merge(changes)
        took = time.monotonic() - started
        if len(dirty) >= SLOW_LOG_ITEMS or took >= SLOW_LOG_S:
            log.info("read %d change(s) from ZooKeeper in %.2f s (%d topic(s), %d partition state(s))",
                     len(dirty), took, len(changes.topics), len(changes.partitions))
        return True

    def _get_watched(self, path: str):
        """``get`` with a watch, or None when the znode is absent (an exists watch then says when
        it comes). A znode created between the two calls is read: an exists watch set on a znode
        already there fires only on its next change, and the cache would go on without it (a
        controller elected in that instant stayed unknown, -1 in Metadata, until the next one)."""
        while True:
            try:
                return self.zk.get(path, watch=self._watch)
            except NoNodeError:
                if self.zk.exists(path, watch=self._watch) is None:
                    return None

    def _read_many(self, paths: list[str], watch: bool = True) -> list:
        """Read many znodes, leaving a watch on each (``watch``): one answer per path, (data,
        stat) or the exception (NoNodeError for a node that does not exist). Without watches and
        with ZooKeeper 3.6+ they go as multiReads of :data:`MULTI_READ_SIZE` (all in flight
        together), else one request each (pipelined)."""
        if not paths:
            return []
        watcher = self._watch if watch else None
        if self._multi_read and not watch:  # ZooKeeper sets no watch for a multiRead's reads
            pending = [multi_read_async(self.zk, paths[i:i + MULTI_READ_SIZE])
                       for i in range(0, len(paths), MULTI_READ_SIZE)]
            out: list = []
            try:
                for res in pending:
                    out.extend(res.get())
                return out
            except UnimplementedError:
                self._multi_read = False
                log.warning("ZooKeeper has no multiRead (it came in 3.6): reading znodes one by one")
        pending = [self.zk.get_async(path, watch=watcher) for path in paths]
        out = []
        for res in pending:
            try:
                out.append(res.get())
            except NoNodeError as e:
                out.append(e)
        return out

    def _read_notifications(self) -> set[tuple]:
        """The partitions named by state change notifications not taken in yet (ours are skipped:
        the cache has what we wrote). The controller also removes old notifications."""
        children = self.zk.get_children(NOTIFY_PATH, watch=self._watch)
        seqs = sorted(_notify_seq(c) for c in children)
        new = [q for q in seqs if q > self._notified]
        keys: set[tuple] = set()
        if new:
            self._notified = new[-1]
            theirs = [q for q in new if q not in self._own_notifications]
            self._own_notifications -= set(new)
            for res in self._read_many([_notify_path(q) for q in theirs], watch=False):
                if isinstance(res, NoNodeError):
                    continue  # removed already: old, and read by a full refresh since
                if isinstance(res, Exception):
                    raise res
                for e in (_json(res[0]) or {}).get("partitions", ()):
                    keys.add(("state", e["topic"], int(e["partition"])))
        if self._controller == self.broker_id:
            self._remove_old_notifications(seqs)
        return keys

    def _remove_old_notifications(self, seqs: list[int]) -> None:
        """Notifications this broker has seen for :data:`NOTIFY_RETENTION_S` go (never the
        newest): by then every broker with a live session has taken them in."""
        now = time.monotonic()
        seen = self._notify_seen
        for q in seqs:
            seen.setdefault(q, now)
        present = set(seqs)
        for q in [q for q in seen if q not in present]:
            del seen[q]
        old = [q for q in seqs[:-1] if now - seen[q] > NOTIFY_RETENTION_S]
        for q in old:
            del seen[q]
        for i in range(0, len(old), MULTI_OPS):
            tx = self.zk.transaction()
            for q in old[i:i + MULTI_OPS]:
                tx.delete(_notify_path(q))
            tx.commit_async()  # not waited for: another broker may have removed some already

    def _read_brokers(self) -> None:
        zk = self.zk
        children = zk.get_children("/brokers/ids", watch=self._watch)
        pending = {int(c): zk.get_async(f"/brokers/ids/{c}", watch=self._watch) for c in children}
        brokers = {}
        endpoints: dict[int, dict[str, tuple[str, int]]] = {}
        for bid, res in pending.items():
            try:
                data, _ = res.get()
            except NoNodeError:
                continue
            info = _json(data)
            eps: dict[str, tuple[str, int]] = {}
            for ep in info.get("endpoints") or []:
                m = re.match(r"^([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)$", ep)
                if m:
                    eps[m.group(1).upper()] = (m.group(2).strip("[]"), int(m.group(3)))
            host, port = info.get("host"), int(info.get("port", -1))
            if (not host or port < 0) and eps:
                host, port = next(iter(eps.values()))
            brokers[bid] = (host, port, info.get("rack"))
            endpoints[bid] = eps
        self._brokers = brokers
        self._endpoints = endpoints

    def _read_users(self) -> None:
        """SCRAM credentials from /config/users/<sanitized user> (quota keys there are left alone)."""
        zk = self.zk
        children = zk.get_children("/config/users", watch=self._watch)
        pending = {c: zk.get_async(f"/config/users/{c}", watch=self._watch) for c in children}
        creds: dict[str, dict[str, str]] = {}
        for child, res in pending.items():
            try:
                data, _ = res.get()
            except NoNodeError:
                continue
            conf = (_json(data) or {}).get("config", {})
            mechs = {k: v for k, v in conf.items() if k.startswith("SCRAM-")}
            if mechs:
                creds[desanitize(child)] = mechs
        self._scram = creds
        self.scram_version += 1

    def _read_acls(self) -> None:
        """Every ACL: /kafka-acl/<Type>/<name> (literal) and /kafka-acl-extended/prefixed/<Type>/<name>.
        The change-notification znodes are watched; any notification reads the ACLs again."""
        from ..security import acl as A

        zk = self.zk
        zk.get_children("/kafka-acl-changes", watch=self._watch)
        zk.get_children("/kafka-acl-extended-changes", watch=self._watch)
        pending = []
        for root, pattern in (("/kafka-acl", A.P_LITERAL), ("/kafka-acl-extended/prefixed", A.P_PREFIXED)):
            for rtype in zk.get_children(root):
                code = A.RESOURCE_BY_NAME.get(rtype.lower())
                if code is None:
                    continue
                for name in zk.get_children(f"{root}/{rtype}"):
                    pending.append((code, name, pattern, zk.get_async(f"{root}/{rtype}/{name}")))
        acls = []
        for code, name, pattern, res in pending:
            try:
                data, _ = res.get()
            except NoNodeError:
                continue
            for e in (_json(data) or {}).get("acls", []):
                op = A.OP_BY_NAME.get(str(e.get("operation", "")).lower())
                perm = A.PERM_BY_NAME.get(str(e.get("permissionType", "")).lower())
                if op is None or perm is None:
                    continue
                acls.append(A.AclBinding(code, name, pattern, e["principal"], e.get("host", "*"), op, perm).to_json())
        self._acls = acls
        self.acl_version += 1

    def _read_broker_configs(self) -> None:
        zk = self.zk
        configs: dict[str, dict[str, str]] = {}
        for scope in zk.get_children("/config/brokers", watch=self._watch):
            try:
                data, _ = zk.get(f"/config/brokers/{scope}", watch=self._watch)
            except NoNodeError:
                continue
            configs["" if scope == "<default>" else scope] = dict((_json(data) or {}).get("config", {}))
        self._broker_configs = configs

    def topics(self) -> dict[str, TopicMeta]:
        return self._topics

    def live_brokers(self, listener: str | None = None) -> dict[int, tuple[str, int, str | None]]:
        if listener is None:
            return self._brokers
        out = {}
        for bid, (host, port, rack) in self._brokers.items():
            eps = self._endpoints.get(bid) or {}
            if listener in eps:
                out[bid] = (*eps[listener], rack)
            elif not eps:
                out[bid] = (host, port, rack)
        return out

    def controller_id(self) -> int:
        return self._controller

    def broker_configs(self) -> dict[str, dict[str, str]]:
        return self._broker_configs

    # --- writing ---------------------------------------------------------------------------------

    def _new_session(self) -> None:
        try:
            if self._registration is not None:
                self.register_broker(*self._registration)
                log.info("broker %d registered again in the new ZooKeeper session", self.broker_id)
        finally:
            self._schedule_fire()

    def register_broker(self, host: str, port: int, rack: str | None = None,
                        endpoints: list[tuple[str, str, str, int]] | None = None) -> None:
        """Register this broker (ephemeral), with each listener's (name, protocol, host, port); the
        top-level host and port are the first PLAINTEXT endpoint's, or -1, as Kafka writes them."""
        self._registration = (host, port, rack, endpoints)
        endpoints = endpoints or [("PLAINTEXT", "PLAINTEXT", host, port)]
        plain = next(((h, p) for _n, proto, h, p in endpoints if proto == "PLAINTEXT"), (None, -1))
        info = {"version": 5, "host": plain[0], "port": plain[1],
                "endpoints": [f"{n}://{h}:{p}" for n, _proto, h, p in endpoints],
                "listener_security_protocol_map": {n: proto for n, proto, _h, _p in endpoints}, "jmx_port": -1,
                "timestamp": str(int(time.time() * 1000)), "rack": rack, "features": {}}
        path = f"/brokers/ids/{self.broker_id}"
        deadline = time.time() + self.zk._session_timeout / 1000 + 5 if hasattr(self.zk, "_session_timeout") else time.time() + 25
        while True:
            try:
                self.zk.create(path, _dump(info), ephemeral=True, makepath=True)
                break
            except NodeExistsError:
                # A previous incarnation's session may still be alive until it times out.
                if time.time() > deadline:
                    raise RuntimeError(f"broker id {self.broker_id} is already registered in ZooKeeper")
                time.sleep(0.2)
        self._refresh_now(("brokers",))

    def create_topic(self, meta: TopicMeta) -> None:
        err = self._write_topics([meta])[0]
        if err is not None:
            raise err
        self._refresh_now(("topics",), ("topic", meta.name))

    async def create_topics(self, metas: list[TopicMeta]) -> list[Exception | None]:
        """Every topic's znodes in one multi-op each, all sent together and waited for off the
        event loop; then one read-back (pipelined) of what was created."""
        loop = asyncio.get_running_loop()
        errors = await loop.run_in_executor(None, self._write_topics, metas)
        created = [("topic", m.name) for m, e in zip(metas, errors) if e is None]
        if created:
            self._refresh_now(("topics",), *created)
        return errors

    def _topic_tx(self, meta: TopicMeta):
        doc = {"version": 3, "topic_id": topic_id_to_kafka(meta.topic_id),
               "partitions": {str(p): st.replicas for p, st in meta.partitions.items()},
               "adding_replicas": {}, "removing_replicas": {}}
        tx = self.zk.transaction()
        tx.create(f"/brokers/topics/{meta.name}", _dump(doc))
        tx.create(f"/brokers/topics/{meta.name}/partitions")
        for p, st in meta.partitions.items():
            tx.create(f"/brokers/topics/{meta.name}/partitions/{p}")
            tx.create(f"/brokers/topics/{meta.name}/partitions/{p}/state", _dump(self._state_doc(st)))
        tx.create(f"/config/topics/{meta.name}", _dump({"version": 1, "config": meta.configs}))
        return tx

    def _write_topics(self, metas: list[TopicMeta]) -> list[Exception | None]:
        """Create the topics' znodes (ZooKeeper only, the cache is not touched: any thread).
        Per topic None, KeyError when it exists, or the error."""
        pending = [self._topic_tx(meta).commit_async() for meta in metas]
        out: list[Exception | None] = []
        for meta, res in zip(metas, pending):
            for attempt in range(2):
                try:
                    results = res.get()
                except Exception as e:  # noqa: BLE001 - connection trouble: reported for this topic
                    out.append(e)
                    break
                failed = [r for r in results if isinstance(r, Exception)]
                if not failed:
                    out.append(None)
                    break
                if any(isinstance(r, NodeExistsError) for r in results):
                    if self.zk.exists(f"/brokers/topics/{meta.name}") is not None:
                        out.append(KeyError(meta.name))
                        break
                    if attempt == 0:
                        # a config znode left over by a deleted topic: write the topic without it
                        try:
                            self.zk.delete(f"/config/topics/{meta.name}")
                        except NoNodeError:
                            pass
                        res = self._topic_tx(meta).commit_async()
                        continue
                out.append(next((r for r in failed if not isinstance(r, RolledBackError)), failed[0]))
                break
        return out

    def _refresh_now(self, *keys: tuple) -> None:
        """After our own write: read what it changed (and only that) now. If that read was the
        full pass a new session asks for, the subscribers are told (as after a watch): the
        broker must reconcile with everything it missed while the session was gone."""
        with self._lock:
            self._dirty.update(keys)
        self.refresh()
        if self._changes.full and self._listeners:
            self._schedule_fire()

    def _state_doc(self, st: PartitionState) -> dict:
        return {"controller_epoch": st.controller_epoch, "leader": st.leader, "version": 1,
                "leader_epoch": st.leader_epoch, "isr": st.isr}

    def _write_config(self, path: str, configs: dict[str, str]) -> None:
        data = _dump({"version": 1, "config": configs})
        try:
            self.zk.set(path, data)
        except NoNodeError:
            self.zk.create(path, data, makepath=True)

    def delete_topic(self, name: str) -> None:
        err = self.delete_topics([name])[0]
        if err is not None:
            raise err

    def delete_topics(self, names: list[str]) -> list[Exception | None]:
        """Each topic's znodes (the partitions this broker knows) removed in one multi-op, all
        sent together; a topic whose tree holds more than that is removed node by node."""
        zk = self.zk
        pending = []
        for name in names:
            meta = self._topics.get(name)
            tx = zk.transaction()
            for p in (meta.partitions if meta is not None else ()):
                tx.delete(f"/brokers/topics/{name}/partitions/{p}/state")
                tx.delete(f"/brokers/topics/{name}/partitions/{p}")
            tx.delete(f"/brokers/topics/{name}/partitions")
            tx.delete(f"/brokers/topics/{name}")
            pending.append((tx.commit_async(), zk.delete_async(f"/config/topics/{name}")))
        out: list[Exception | None] = []
        for name, (res, conf) in zip(names, pending):
            err: Exception | None = None
            try:
                results = res.get()
                if any(isinstance(r, Exception) for r in results):
                    zk.delete(f"/brokers/topics/{name}", recursive=True)
            except NoNodeError as e:
                err = e
            except Exception as e:  # noqa: BLE001 - reported for this topic
                err = e
            try:
                conf.get()
            except NoNodeError:
                pass
            except Exception:  # noqa: BLE001 - a config left over is removed by the next create
                pass
            out.append(err)
        self._refresh_now(("topics",))
        return out

    def add_partitions(self, name: str, new: list[PartitionState]) -> None:
        err = self.add_partitions_many([(name, new)])[0]
        if err is not None:
            raise err

    def add_partitions_many(self, items: list[tuple[str, list[PartitionState]]]) -> list[Exception | None]:
        """Each topic's assignment grows (compare-and-set on its znode) and its new partitions'
        znodes are created, in one multi-op per topic; the reads and the multi-ops of all topics
        are in flight together."""
        zk = self.zk
        reads = [zk.get_async(f"/brokers/topics/{name}") for name, _new in items]
        pending = []
        for (name, new), res in zip(items, reads):
            path = f"/brokers/topics/{name}"
            try:
                data, stat = res.get()
            except Exception as e:  # noqa: BLE001 - reported for this topic
                pending.append(e)
                continue
            doc = _json(data)
            for st in new:
                doc["partitions"][str(st.partition)] = st.replicas
            tx = zk.transaction()
            tx.set_data(path, _dump(doc), version=stat.version)
            for st in new:
                tx.create(f"{path}/partitions/{st.partition}")
                tx.create(f"{path}/partitions/{st.partition}/state", _dump(self._state_doc(st)))
            pending.append(tx.commit_async())
        out: list[Exception | None] = []
        for res in pending:
            if isinstance(res, Exception):
                out.append(res)
                continue
            try:
                results = res.get()
            except Exception as e:  # noqa: BLE001 - reported for this topic
                out.append(e)
                continue
            failed = [r for r in results if isinstance(r, Exception)]
            out.append(next((r for r in failed if not isinstance(r, (RolledBackError, RuntimeInconsistency))),
                            failed[0]) if failed else None)
        self._refresh_now(*[("topic", name) for name, _new in items])
        return out

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        self._write_config(f"/config/topics/{name}", configs)
        self._refresh_now(("tconfig", name))

    def set_broker_configs(self, scope: str, configs: dict[str, str]) -> None:
        self._write_config(f"/config/brokers/{scope or '<default>'}", configs)
        self._refresh_now(("bconfigs",))

    def update_partition_state(self, topic: str, st: PartitionState) -> bool:
        """Compare-and-set a partition's state on the znode version it was read at."""
        return self.update_partition_states([(topic, st)])[0]

    def update_partition_states(self, items: list[tuple[str, PartitionState]]) -> list[bool]:
        """Compare-and-set many partition states at once: the writes go out in multi-ops of
        :data:`MULTI_OPS` (all in flight together) and are waited for together, so a controller
        moving thousands of leaders pays a few round trips, and kazoo's per-request cost (about
        0.1 ms of Python) once per multi-op rather than per partition. Each multi-op also creates
        the state change notification naming its partitions. A multi-op fails whole when one of
        its writes loses a race: the others are then tried alone (each with its notification); a
        lost race re-reads that partition."""
        zk = self.zk
        paths = [f"/brokers/topics/{topic}/partitions/{st.partition}/state" for topic, st in items]
        datas = [_dump(self._state_doc(st)) for _topic, st in items]

        def multi(indexes: list[int]):
            tx = zk.transaction()
            for j in indexes:
                tx.set_data(paths[j], datas[j], version=items[j][1].version)
            tx.create(NOTIFY_PREFIX, _notify_doc((items[j][0], items[j][1].partition) for j in indexes),
                      sequence=True)
            return tx.commit_async()

        chunks = [list(range(i, min(len(items), i + MULTI_OPS))) for i in range(0, len(items), MULTI_OPS)]
        pending = [(chunk, multi(chunk)) for chunk in chunks]
        stats: list = [None] * len(items)  # ZnodeStat, or the error of a lost race
        alone = []
        for chunk, res in pending:
            results = res.get()
            if not any(isinstance(r, Exception) for r in results):
                self._own_notifications.add(_notify_seq(results[-1]))
            for j, r in zip(chunk, results):
                if isinstance(r, (RolledBackError, RuntimeInconsistency)):
                    alone.append(j)  # not applied because another write of the multi-op failed
                else:
                    stats[j] = r
        if alone:
            pending = [(j, multi([j])) for j in alone]
            for j, res in pending:
                results = res.get()
                stats[j] = results[0]
                if not isinstance(results[0], Exception):
                    self._own_notifications.add(_notify_seq(results[-1]))
        out = []
        lost = []
        for (topic, st), stat in zip(items, stats):
            if isinstance(stat, (BadVersionError, NoNodeError)):
                lost.append(("state", topic, st.partition))
                out.append(False)
                continue
            if isinstance(stat, Exception):
                raise stat
            st.version = stat.version
            meta = self._topics.get(topic)
            if meta is not None and st.partition in meta.partitions:
                # replicas (and those being added or removed) live in the topic znode: keep what that says
                known = meta.partitions[st.partition]
                st.replicas, st.adding, st.removing = list(known.replicas), list(known.adding), list(known.removing)
                meta.partitions[st.partition] = st
            self._changes.partitions.add((topic, st.partition))
            out.append(True)
        if items:
            self.version += 1
        if lost:
            self._refresh_now(*lost)
        return out

    # --- SCRAM credentials and ACLs ---------------------------------------------------------------

    def scram_credentials(self) -> dict[str, dict[str, str]]:
        return self._scram

    def change_scram_credentials(self, upserts: dict[tuple[str, str], str], deletions: set[tuple[str, str]]) -> None:
        """Read-modify-write each user's /config/users znode (quota keys kept), then a change
        notification in /config/changes, as Kafka writes them."""
        write_scram_credentials(self.zk, upserts, deletions)
        self._refresh_now(("users",))

    def acls(self) -> list[dict]:
        return self._acls

    def change_acls(self, add: list[dict], remove: list[dict]) -> None:
        """Compare-and-set each resource's ACL znode in Kafka's layout, then a change notification."""
        from ..security import acl as A

        by_resource: dict[tuple[int, str, int], tuple[list, list]] = {}
        for a in add:
            by_resource.setdefault((a["resource_type"], a["resource_name"], a["pattern_type"]), ([], []))[0].append(a)
        for a in remove:
            by_resource.setdefault((a["resource_type"], a["resource_name"], a["pattern_type"]), ([], []))[1].append(a)
        for (rtype, name, pattern), (adds, removes) in by_resource.items():
            tname = A.RESOURCE_NAMES[rtype]
            literal = pattern == A.P_LITERAL
            path = f"/kafka-acl/{tname}/{name}" if literal else f"/kafka-acl-extended/prefixed/{tname}/{name}"

            def entry(a: dict) -> dict:
                return {"principal": a["principal"], "permissionType": A.PERM_NAMES[a["permission"]],
                        "operation": A.OP_NAMES[a["operation"]], "host": a["host"]}

            while True:
                try:
                    data, stat = self.zk.get(path)
                    current = (_json(data) or {}).get("acls", [])
                    version = stat.version
                except NoNodeError:
                    current, version = [], None
                gone = {json.dumps(entry(a), sort_keys=True) for a in removes}
                kept = [e for e in current if json.dumps(e, sort_keys=True) not in gone]
                have = {json.dumps(e, sort_keys=True) for e in kept}
                kept += [entry(a) for a in adds if json.dumps(entry(a), sort_keys=True) not in have]
                try:
                    if version is None:
                        if kept:
                            self.zk.create(path, _dump({"version": 1, "acls": kept}), makepath=True)
                    elif kept:
                        self.zk.set(path, _dump({"version": 1, "acls": kept}), version=version)
                    else:
                        self.zk.delete(path, version=version)
                    break
                except (BadVersionError, NodeExistsError, NoNodeError):
                    continue
            if literal:
                self.zk.create("/kafka-acl-changes/acl_changes_", f"{tname}:{name}".encode(), sequence=True, makepath=True)
            else:
                self.zk.create("/kafka-acl-extended-changes/acl_changes_",
                               _dump({"version": 1, "resourceType": tname, "name": name, "patternType": "PREFIXED"}),
                               sequence=True, makepath=True)
        self._refresh_now(("acls",))

    def allocate_producer_id(self) -> int:
        if self._next_pid >= self._pid_end:
            self._next_pid, self._pid_end = self._claim_pid_block()
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def _claim_pid_block(self) -> tuple[int, int]:
        path = "/latest_producer_id_block"
        while True:
            try:
                data, stat = self.zk.get(path)
                doc = _json(data) or {}
                start = int(doc.get("block_end", -1)) + 1
                new = {"version": 1, "broker": self.broker_id, "block_start": start, "block_end": start + PRODUCER_ID_BLOCK - 1}
                self.zk.set(path, _dump(new), version=stat.version)
                return start, start + PRODUCER_ID_BLOCK
            except NoNodeError:
                try:
                    new = {"version": 1, "broker": self.broker_id, "block_start": 0, "block_end": PRODUCER_ID_BLOCK - 1}
                    self.zk.create(path, _dump(new), makepath=True)
                    return 0, PRODUCER_ID_BLOCK
                except NodeExistsError:
                    continue
            except BadVersionError:
                continue

    # --- reassignments ------------------------------------------------------------------------

    def reassignments(self) -> dict[tuple[str, int], list[int]]:
        """Pending partition reassignments (topic, partition) -> target replicas."""
        return self._reassignments

    def change_reassignments(self, changes: dict[tuple[str, int], list[int] | None]) -> None:
        """Add (a list) or cancel (None) reassignments in /admin/reassign_partitions, compare-and-set."""
        while True:
            try:
                data, stat = self.zk.get(REASSIGN_PATH)
                current = {(e["topic"], int(e["partition"])): e["replicas"] for e in (_json(data) or {}).get("partitions", [])}
                version = stat.version
            except NoNodeError:
                current, version = {}, None
            for key, target in changes.items():
                if target is None:
                    current.pop(key, None)
                else:
                    current[key] = list(target)
            doc = _dump({"version": 1, "partitions": [
                {"topic": t, "partition": p, "replicas": r} for (t, p), r in sorted(current.items())]})
            try:
                if version is None:
                    if current:
                        self.zk.create(REASSIGN_PATH, doc, makepath=True)
                elif not current:
                    self.zk.delete(REASSIGN_PATH, version=version)
                else:
                    self.zk.set(REASSIGN_PATH, doc, version=version)
                break
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue
        self._refresh_now(("reassign",))

    def set_replicas(self, topic: str, partition: int, replicas: list[int], adding: list[int] | None = None,
                     removing: list[int] | None = None) -> bool:
        """Change a partition's assigned replicas in /brokers/topics/<topic> (compare-and-set), with
        the replicas a reassignment is adding and removing (Kafka's adding_replicas and
        removing_replicas; none when it is not being reassigned)."""
        path = f"/brokers/topics/{topic}"
        try:
            data, stat = self.zk.get(path)
            doc = _json(data)
            doc["partitions"][str(partition)] = list(replicas)
            for field_name, values in (("adding_replicas", adding), ("removing_replicas", removing)):
                entries = doc.get(field_name) or {}
                if values:
                    entries[str(partition)] = list(values)
                else:
                    entries.pop(str(partition), None)
                doc[field_name] = entries
            self.zk.set(path, _dump(doc), version=stat.version)
        except (BadVersionError, NoNodeError):
            self._refresh_now(("topic", topic))
            return False
        self._refresh_now(("topic", topic))
        return True

    # --- controller election ---------------------------------------------------------------------

    def try_become_controller(self) -> int | None:
        """Create /controller if it is free; returns the new controller epoch, or None."""
        try:
            self.zk.create("/controller", _dump({"version": 2, "brokerid": self.broker_id,
                                                 "timestamp": str(int(time.time() * 1000))}), ephemeral=True)
        except NodeExistsError:
            return None
        while True:
            try:
                data, stat = self.zk.get("/controller_epoch")
                epoch = int(data.decode() or "0") + 1
                self.zk.set("/controller_epoch", str(epoch).encode(), version=stat.version)
                break
            except NoNodeError:
                try:
                    self.zk.create("/controller_epoch", b"1")
                    epoch = 1
                    break
                except NodeExistsError:
                    continue
            except BadVersionError:
                continue
        self._refresh_now(("controller",))
        return epoch

    def resign_controller(self) -> None:
        try:
            data, _ = self.zk.get("/controller")
            if int(_json(data)["brokerid"]) == self.broker_id:
                self.zk.delete("/controller")
        except NoNodeError:
            pass
