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

Partition states change only by compare-and-set on the znode version. Watches fire on kazoo's
threads; they only schedule :meth:`refresh` on the broker's event loop, where the cache is read and
written, so the broker never sees a half-updated view.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from typing import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from .store import MetadataStore, PartitionState, TopicMeta

log = logging.getLogger("odradek.zookeeper")

PRODUCER_ID_BLOCK = 1000
REASSIGN_PATH = "/admin/reassign_partitions"


def _json(data: bytes | None):
    if not data:
        return None
    return json.loads(data.decode("utf-8"))


def _dump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def topic_id_to_kafka(tid: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(tid).bytes).decode().rstrip("=")


def topic_id_from_kafka(s: str) -> str:
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))))


class ZooKeeperStore(MetadataStore):
    def __init__(self, connect: str, broker_id: int, *, session_timeout_ms: int = 18000,
                 schedule: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.broker_id = broker_id
        self.zk = KazooClient(hosts=connect, timeout=session_timeout_ms / 1000)
        self.zk.start(timeout=15)
        self.zk.add_listener(self._state_listener)
        self._schedule = schedule or (lambda fn: fn())
        self._listeners: list[Callable[[], None]] = []
        self._watched_topics: set[str] = set()
        self._watched_states: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._dirty = True
        self.version = 1
        self._topics: dict[str, TopicMeta] = {}
        self._brokers: dict[int, tuple[str, int, str | None]] = {}
        self._controller = -1
        self._broker_configs: dict[str, dict[str, str]] = {}
        self._reassignments: dict[tuple[str, int], list[int]] = {}
        for path in ("/brokers/ids", "/brokers/topics", "/config/topics", "/config/brokers", "/admin/delete_topics"):
            self.zk.ensure_path(path)
        self.cluster_id = self._cluster_id()
        self._next_pid = 0
        self._pid_end = 0
        self.session_lost = False

    # --- plumbing ------------------------------------------------------------------------------

    def _state_listener(self, state) -> None:
        if state == KazooState.LOST:
            self.session_lost = True
            log.error("ZooKeeper session lost")
        elif state == KazooState.CONNECTED and self.session_lost:
            log.warning("ZooKeeper session re-established")
            self.session_lost = False
            self._changed_from_zk()

    def _changed_from_zk(self, *_args) -> None:
        with self._lock:
            self._dirty = True
        self._schedule(self._fire)

    def _fire(self) -> None:
        self.refresh()
        for cb in list(self._listeners):
            cb()

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def close(self) -> None:
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

    def refresh(self) -> None:
        """Re-read what watches said changed (everything, simply): brokers, controller, topics."""
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
        zk = self.zk
        brokers = {}
        for child in zk.get_children("/brokers/ids", watch=self._changed_from_zk):
            try:
                data, _ = zk.get(f"/brokers/ids/{child}")
            except NoNodeError:
                continue
            info = _json(data)
            brokers[int(child)] = (info["host"], int(info["port"]), info.get("rack"))
        try:
            data, _ = zk.get("/controller", watch=self._changed_from_zk)
            controller = int(_json(data)["brokerid"])
        except NoNodeError:
            zk.exists("/controller", watch=self._changed_from_zk)
            controller = -1
        topics: dict[str, TopicMeta] = {}
        for name in zk.get_children("/brokers/topics", watch=self._changed_from_zk):
            meta = self._read_topic(name)
            if meta is not None:
                topics[name] = meta
        configs: dict[str, dict[str, str]] = {}
        for scope in zk.get_children("/config/brokers", watch=self._changed_from_zk):
            try:
                data, _ = zk.get(f"/config/brokers/{scope}", watch=self._changed_from_zk)
            except NoNodeError:
                continue
            key = "" if scope == "<default>" else scope
            configs[key] = dict((_json(data) or {}).get("config", {}))
        try:
            data, _ = zk.get(REASSIGN_PATH, watch=self._changed_from_zk)
            doc = _json(data) or {}
            reassign = {(e["topic"], int(e["partition"])): list(e["replicas"]) for e in doc.get("partitions", [])}
        except NoNodeError:
            zk.exists(REASSIGN_PATH, watch=self._changed_from_zk)
            reassign = {}
        self._brokers = brokers
        self._controller = controller
        self._topics = topics
        self._broker_configs = configs
        self._reassignments = reassign
        self.version += 1

    def _read_topic(self, name: str) -> TopicMeta | None:
        zk = self.zk
        watch = self._changed_from_zk
        try:
            data, _ = zk.get(f"/brokers/topics/{name}", watch=watch)
        except NoNodeError:
            return None
        doc = _json(data) or {}
        tid = doc.get("topic_id")
        topic_id = topic_id_from_kafka(tid) if tid else str(uuid.UUID(int=0))
        parts: dict[int, PartitionState] = {}
        adding, removing = doc.get("adding_replicas") or {}, doc.get("removing_replicas") or {}
        for p_str, replicas in (doc.get("partitions") or {}).items():
            p = int(p_str)
            try:
                sdata, stat = zk.get(f"/brokers/topics/{name}/partitions/{p}/state", watch=watch)
                st = _json(sdata)
                parts[p] = PartitionState(p, list(replicas), int(st["leader"]), int(st["leader_epoch"]),
                                          list(st["isr"]), stat.version, int(st.get("controller_epoch", 0)))
            except NoNodeError:
                zk.exists(f"/brokers/topics/{name}/partitions/{p}/state", watch=watch)
                parts[p] = PartitionState(p, list(replicas), -1, 0, [], -1)
            parts[p].adding_replicas = list(adding.get(p_str, []))
            parts[p].removing_replicas = list(removing.get(p_str, []))
        try:
            cdata, _ = zk.get(f"/config/topics/{name}", watch=watch)
            configs = dict((_json(cdata) or {}).get("config", {}))
        except NoNodeError:
            zk.exists(f"/config/topics/{name}", watch=watch)
            configs = {}
        return TopicMeta(name, topic_id, parts, configs)

    def topics(self) -> dict[str, TopicMeta]:
        return self._topics

    def live_brokers(self) -> dict[int, tuple[str, int, str | None]]:
        return self._brokers

    def controller_id(self) -> int:
        return self._controller

    def broker_configs(self) -> dict[str, dict[str, str]]:
        return self._broker_configs

    # --- writing ---------------------------------------------------------------------------------

    def register_broker(self, host: str, port: int, rack: str | None = None) -> None:
        info = {"version": 5, "host": host, "port": port, "endpoints": [f"PLAINTEXT://{host}:{port}"],
                "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"}, "jmx_port": -1,
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
        self._changed_from_zk()

    def create_topic(self, meta: TopicMeta) -> None:
        zk = self.zk
        doc = {"version": 3, "topic_id": topic_id_to_kafka(meta.topic_id),
               "partitions": {str(p): st.replicas for p, st in meta.partitions.items()},
               "adding_replicas": {}, "removing_replicas": {}}
        tx = zk.transaction()
        tx.create(f"/brokers/topics/{meta.name}", _dump(doc))
        tx.create(f"/brokers/topics/{meta.name}/partitions")
        for p, st in meta.partitions.items():
            tx.create(f"/brokers/topics/{meta.name}/partitions/{p}")
            tx.create(f"/brokers/topics/{meta.name}/partitions/{p}/state", _dump(self._state_doc(st)))
        results = tx.commit()
        if any(isinstance(r, Exception) for r in results):
            if any(isinstance(r, NodeExistsError) for r in results):
                raise KeyError(meta.name)
            raise next(r for r in results if isinstance(r, Exception))
        self._write_config(f"/config/topics/{meta.name}", meta.configs)
        self._changed_from_zk()
        self._fire_now()

    def _fire_now(self) -> None:
        with self._lock:
            self._dirty = True
        self.refresh()

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
        self.zk.delete(f"/brokers/topics/{name}", recursive=True)
        try:
            self.zk.delete(f"/config/topics/{name}")
        except NoNodeError:
            pass
        self._fire_now()

    def add_partitions(self, name: str, new: list[PartitionState]) -> None:
        path = f"/brokers/topics/{name}"
        data, stat = self.zk.get(path)
        doc = _json(data)
        for st in new:
            doc["partitions"][str(st.partition)] = st.replicas
        tx = self.zk.transaction()
        tx.set_data(path, _dump(doc), version=stat.version)
        for st in new:
            tx.create(f"{path}/partitions/{st.partition}")
            tx.create(f"{path}/partitions/{st.partition}/state", _dump(self._state_doc(st)))
        results = tx.commit()
        if any(isinstance(r, Exception) for r in results):
            raise next(r for r in results if isinstance(r, Exception))
        self._fire_now()

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        self._write_config(f"/config/topics/{name}", configs)
        self._fire_now()

    def set_broker_configs(self, scope: str, configs: dict[str, str]) -> None:
        self._write_config(f"/config/brokers/{scope or '<default>'}", configs)
        self._fire_now()

    def update_partition_state(self, topic: str, st: PartitionState) -> bool:
        """Compare-and-set a partition's state on the znode version it was read at."""
        path = f"/brokers/topics/{topic}/partitions/{st.partition}/state"
        try:
            stat = self.zk.set(path, _dump(self._state_doc(st)), version=st.version)
        except (BadVersionError, NoNodeError):
            self._fire_now()
            return False
        st.version = stat.version
        meta = self._topics.get(topic)
        if meta is not None and st.partition in meta.partitions:
            # replicas live in the topic znode: keep what that says
            known = meta.partitions[st.partition]
            st.replicas = list(known.replicas)
            st.adding_replicas, st.removing_replicas = list(known.adding_replicas), list(known.removing_replicas)
            meta.partitions[st.partition] = st
        self.version += 1
        return True

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
        self._fire_now()

    def set_replicas(self, topic: str, partition: int, replicas: list[int], adding: list[int] | None = None,
                     removing: list[int] | None = None) -> bool:
        """Change a partition's assigned replicas in /brokers/topics/<topic> (compare-and-set), with the
        replicas a reassignment is adding and removing (Kafka's adding_replicas / removing_replicas:
        none once it is done)."""
        path = f"/brokers/topics/{topic}"
        try:
            data, stat = self.zk.get(path)
            doc = _json(data)
            doc["partitions"][str(partition)] = list(replicas)
            for key, value in (("adding_replicas", adding), ("removing_replicas", removing)):
                moving = doc.setdefault(key, {})
                if value:
                    moving[str(partition)] = list(value)
                else:
                    moving.pop(str(partition), None)
            self.zk.set(path, _dump(doc), version=stat.version)
        except (BadVersionError, NoNodeError):
            self._fire_now()
            return False
        self._fire_now()
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
        self._fire_now()
        return epoch

    def resign_controller(self) -> None:
        try:
            data, _ = self.zk.get("/controller")
            if int(_json(data)["brokerid"]) == self.broker_id:
                self.zk.delete("/controller")
        except NoNodeError:
            pass
