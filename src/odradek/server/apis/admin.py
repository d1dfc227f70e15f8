"""Admin APIs: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs, with Kafka's config names, defaults, sources and validation."""

from __future__ import annotations

import logging
from collections import Counter

from ...config import BROKER, TOPIC, TOPIC_SYNONYMS, ConfigError, parse_topic_configs, render
from ...config_policy import dynamic_refusal, shown
from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ..router import register

CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS = 19, 20, 37
DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 33, 44

TOPIC_RESOURCE, BROKER_RESOURCE, BROKER_LOGGER_RESOURCE = 2, 4, 8
# Config sources
DYNAMIC_TOPIC, DYNAMIC_BROKER, DYNAMIC_DEFAULT_BROKER, STATIC_BROKER, DEFAULT = 1, 2, 3, 4, 5
CONFIG_TYPES = {"bool": 1, "string": 2, "int": 3, "long": 5, "double": 6, "list": 7, "class": 8, "password": 9}
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
log = logging.getLogger("odradek.admin")


def _err(e: KafkaError) -> dict:
    return {"error_code": e.code, "error_message": e.message or None}  # no message: the client says what the code means


@register(CREATE_TOPICS, 2, 7)
async def create_topics(conn, header, request):
    """Every valid topic of the request is created together (one write to the metadata store,
    one reconcile); the answer comes when the store has them all, with an error per topic."""
    broker = conn.broker
    may_create = conn.authorize(acl.CREATE, acl.CLUSTER, acl.CLUSTER_NAME)  # else CREATE per topic
    names = Counter(t.name for t in request.topics)
    answered: set[str] = set()
    entries = []
    specs = []
    for t in request.topics:
        if t.name in answered:
            continue  # a name given twice gets one answer, and neither is created (as Kafka)
        answered.add(t.name)
        entry = {"name": t.name, "num_partitions": -1, "replication_factor": -1}
        entries.append(entry)
        try:
            if not may_create and not conn.authorize(acl.CREATE, acl.TOPIC, t.name):
                raise KafkaError(ErrorCode.topic_authorization_failed, "Authorization failed.")
            if names[t.name] > 1:
                raise KafkaError(ErrorCode.invalid_request,
                                 f"Create topics request contains multiple entries for the topic {t.name}")
            assignments = {a.partition_index: list(a.broker_ids) for a in t.assignments} or None
            if assignments and (t.num_partitions != -1 or t.replication_factor != -1):
                raise KafkaError(ErrorCode.invalid_request, "give either assignments or partitions and replication factor")
            specs.append((entry, {"name": t.name, "num_partitions": t.num_partitions,
                                  "replication_factor": t.replication_factor,
                                  "configs": {c.name: c.value for c in t.configs}, "assignments": assignments}))
        except KafkaError as e:
            entry.update(_err(e))
    results = await broker.create_topics([spec for _, spec in specs], validate_only=request.validate_only)
    want_configs = header.api_version >= 5
    described: dict[tuple, list] = {}  # topics with the same overrides describe the same configs
    for (entry, _spec), res in zip(specs, results):
        if isinstance(res, KafkaError):
            entry.update(_err(res))
            continue
        meta = res
        entry.update(topic_id=meta.uuid, num_partitions=len(meta.partitions),
                     replication_factor=len(meta.partitions[0].replicas))
        if want_configs:
            key = tuple(sorted(meta.configs.items()))
            configs = described.get(key)
            if configs is None:
                configs = described[key] = [
                    _topic_entry(broker, meta.name, k, v, meta=meta, created=True)[0]
                    for k, v in sorted(broker.config.topic_config(parse_topic_configs(meta.configs)).items())]
            entry["configs"] = configs
    return {"throttle_time": 0, "topics": entries}


@register(DELETE_TOPICS, 1, 6)
async def delete_topics(conn, header, request):
    """Every named topic is deleted together (one write to the metadata store, one reconcile)."""
    broker = conn.broker
    out = []
    if header.api_version >= 6:
        items = [(t.name, t.topic_id) for t in request.topics]
    else:
        items = [(n, None) for n in request.topic_names]
    todo = []
    named: set[str] = set()
    for name, tid in items:
        entry = {"name": name, "topic_id": tid, "error_code": 0}
        out.append(entry)
        try:
            if name is None and tid is not None:
                meta = broker.topic_by_id(tid)
                if meta is None:
                    raise KafkaError(ErrorCode.unknown_topic_id, f"Topic id {tid} does not exist.")
                name = entry["name"] = meta.name
            if not conn.authorize(acl.DELETE, acl.TOPIC, name):
                raise KafkaError(ErrorCode.topic_authorization_failed, "Authorization failed.")
            meta = broker.store.topics().get(name)
            if meta is not None:
                entry["topic_id"] = meta.uuid
            if name in named:  # named twice: the second finds it gone
                raise KafkaError(ErrorCode.unknown_topic_or_partition, f"Topic '{name}' does not exist.")
            named.add(name)
            todo.append((entry, name))
        except KafkaError as e:
            entry.update(_err(e))
    results = broker.delete_topics([name for _, name in todo]) if todo else {}
    for entry, name in todo:
        err = results.get(name)
        if err is not None:
            entry.update(_err(err))
    return {"throttle_time": 0, "responses": out}


@register(CREATE_PARTITIONS, 0, 3)
async def create_partitions(conn, header, request):
    """Every topic of the request grows together (one write to the metadata store, one
    reconcile). A topic named twice is refused both times, as Kafka does."""
    broker = conn.broker
    out = []
    names = [t.name for t in request.topics]
    dupes = {n for n in names if names.count(n) > 1} if len(names) != len(set(names)) else set()
    todo = []
    for t in request.topics:
        entry = {"name": t.name, "error_code": 0, "error_message": None}
        out.append(entry)
        if not conn.authorize(acl.ALTER, acl.TOPIC, t.name):
            entry.update(_err(KafkaError(ErrorCode.topic_authorization_failed, "Authorization failed.")))
            continue
        if t.name in dupes:
            entry.update(_err(KafkaError(ErrorCode.invalid_request, "Duplicate topic in request.")))
            continue
        assign = [list(a.broker_ids) for a in t.assignments] if t.assignments else None
        todo.append((entry, (t.name, t.count, assign)))
    if todo:
        errors = broker.add_partitions_many([item for _e, item in todo], request.validate_only)
        for (entry, _item), err in zip(todo, errors):
            if err is not None:
                entry.update(_err(err))
    return {"throttle_time": 0, "results": out}


# --- configs ------------------------------------------------------------------------------------


# Broker keys that stand for one setting in different units: Kafka lists all of them as synonyms
# of each (DynamicBrokerConfig.brokerConfigSynonyms), most specific first.
BROKER_SYNONYM_GROUPS = (
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
)
_BROKER_SYNONYMS = {k: list(group) for group in BROKER_SYNONYM_GROUPS for k in group}
# Defaults of Kafka broker keys that Odradek does not implement but lists as synonyms, as Kafka does.
KAFKA_ONLY_DEFAULTS = {
    "log.segment.delete.delay.ms": "60000",
    "log.local.retention.ms": "-2",
    "log.local.retention.bytes": "-2",
    "log.message.downconversion.enable": "true",
    "log.flush.scheduler.interval.ms": "9223372036854775807",
    "log.roll.jitter.hours": "0",
}


# Topic configs whose broker-level synonym Odradek does not implement: Kafka still lists the
# broker key's default as a synonym, so these are shown the same way.
_UNIMPLEMENTED_BROKER_DEFAULTS = {
    "compression.gzip.level": ("compression.gzip.level", "-1"),
    "compression.lz4.level": ("compression.lz4.level", "9"),
    "compression.zstd.level": ("compression.zstd.level", "3"),
    "file.delete.delay.ms": ("log.segment.delete.delay.ms", "60000"),
    "local.retention.bytes": ("log.local.retention.bytes", "-2"),
    "local.retention.ms": ("log.local.retention.ms", "-2"),
    "max.decompressed.message.bytes": ("max.decompressed.message.bytes", "2147483639"),
    "remote.copy.lag.bytes": ("log.remote.copy.lag.bytes", "-1"),
    "remote.copy.lag.ms": ("log.remote.copy.lag.ms", "0"),
}


def _synonyms(broker, names: list[str], asked: str | None) -> list[dict]:
    """Kafka's synonym list for broker key ``asked`` among ``names``: every value that is set,
    per-broker dynamic first, then cluster-wide dynamic, static, default; those before the first
    entry for ``asked`` itself are left out (so a derived default, like log.retention.hours for
    log.retention.ms, shows only under a value set for the key asked)."""
    scopes = broker.store.broker_configs()
    own, cluster = scopes.get(str(broker.broker_id), {}), scopes.get("", {})
    out = [{"name": n, "value": own[n], "source": DYNAMIC_BROKER} for n in names if n in own]
    out += [{"name": n, "value": cluster[n], "source": DYNAMIC_DEFAULT_BROKER} for n in names if n in cluster]
    out += [{"name": n, "value": render(broker.config.values[n]), "source": STATIC_BROKER}
            for n in names if n in broker.config.values]
    defaults = {n: render(BROKER[n].default) if n in BROKER else KAFKA_ONLY_DEFAULTS.get(n) for n in names}
    out += [{"name": n, "value": defaults[n], "source": DEFAULT} for n in names if defaults[n] is not None]
    while asked is not None and out and out[0]["name"] != asked:
        out.pop(0)
    return out


def _topic_entry(broker, topic: str, key: str, value, want_synonyms: bool = False, meta=None,
                 created: bool = False) -> tuple[dict, None]:
    """A topic config as DescribeConfigs shows it; ``created``: as the CreateTopics answer shows it,
    whose source Kafka takes from the first broker synonym set (retention.ms from a static
    log.retention.hours is STATIC there, DEFAULT in DescribeConfigs: both checked against Kafka 4.4)."""
    meta = meta or broker.store.topics().get(topic)
    d = TOPIC[key]
    names = TOPIC_SYNONYMS.get(key, [])
    if names:
        names = _BROKER_SYNONYMS.get(names[0], names)
    synonyms = _synonyms(broker, names, None if created else names[0]) if names else []
    if key in _UNIMPLEMENTED_BROKER_DEFAULTS:
        name, default = _UNIMPLEMENTED_BROKER_DEFAULTS[key]
        synonyms = [{"name": name, "value": default, "source": DEFAULT}]
    if meta is not None and key in meta.configs:
        synonyms.insert(0, {"name": key, "value": meta.configs[key], "source": DYNAMIC_TOPIC})
    source = synonyms[0]["source"] if synonyms else DEFAULT
    return (
        {
            "name": key,
            "value": render(value),
            "read_only": False,
            "is_default": source == DEFAULT,
            "config_source": source,
            "is_sensitive": False,
            "synonyms": synonyms if want_synonyms else [],
            "config_type": CONFIG_TYPES.get(d.type, 2),
            "documentation": d.doc,
        },
        None,
    )


def _broker_entry(broker, key: str, want_synonyms: bool) -> dict:
    d = BROKER[key]
    cfg = broker.config
    synonyms = _synonyms(broker, _BROKER_SYNONYMS.get(key, [key]), key)
    value = cfg.get(key)
    source = synonyms[0]["source"] if synonyms else DEFAULT
    if key == "broker.id":
        value = broker.broker_id
    if d.type == "password":
        for s in synonyms:
            s["value"] = None
    return {
        "name": key,
        "value": render(value),
        "read_only": d.read_only,
        "is_default": source == DEFAULT,
        "config_source": source,
        "is_sensitive": d.type == "password",
        "synonyms": synonyms if want_synonyms else [],
        "config_type": CONFIG_TYPES.get(d.type, 2),
        "documentation": d.doc,
    }


@register(DESCRIBE_CONFIGS, 1, 4)
async def describe_configs(conn, header, request):
    broker = conn.broker
    synonyms = getattr(request, "include_synonyms", False)
    documentation = getattr(request, "include_documentation", False)  # v3+; none unless asked, as Kafka
    results = []
    for r in request.resources:
        entry = {"error_code": 0, "error_message": None, "resource_type": r.resource_type, "resource_name": r.resource_name, "configs": []}
        keys = list(r.configuration_keys) if r.configuration_keys else None
        try:
            _authorize_configs(conn, r.resource_type, r.resource_name, acl.DESCRIBE_CONFIGS)
            if r.resource_type == TOPIC_RESOURCE:
                if r.resource_name not in broker.store.topics():
                    raise KafkaError(ErrorCode.unknown_topic_or_partition, "")  # Kafka's message is empty
                cfg = broker.topic_config(r.resource_name)
                names = keys or sorted(TOPIC)
                entry["configs"] = [_topic_entry(broker, r.resource_name, k, cfg[k], synonyms)[0] for k in names if k in TOPIC]
            elif r.resource_type == BROKER_RESOURCE and r.resource_name == "":
                # the cluster-wide defaults: only what was set dynamically, as Kafka lists them
                cluster = broker.store.broker_configs().get("", {})
                entry["configs"] = [
                    {"name": k, "value": v, "read_only": False, "is_default": False, "config_source": DYNAMIC_DEFAULT_BROKER,
                     "is_sensitive": False, "config_type": CONFIG_TYPES.get(BROKER[k].type, 2) if k in BROKER else 2,
                     "synonyms": [{"name": k, "value": v, "source": DYNAMIC_DEFAULT_BROKER}] if synonyms else []}
                    for k, v in sorted(cluster.items()) if keys is None or k in keys]
            elif r.resource_type == BROKER_RESOURCE:
                _check_broker_name(broker, r.resource_name)
                names = keys or sorted(BROKER)
                entry["configs"] = [_broker_entry(broker, k, synonyms) for k in names if k in BROKER]
            elif r.resource_type == BROKER_LOGGER_RESOURCE:
                _check_broker_name(broker, r.resource_name)
            else:
                raise KafkaError(ErrorCode.invalid_request, f"unsupported resource type {r.resource_type}")
        except KafkaError as e:
            entry.update(error_code=e.code, error_message=e.message if e.code == ErrorCode.unknown_topic_or_partition else e.message or None)
        if not documentation:
            for c in entry["configs"]:
                c["documentation"] = None
        results.append(entry)
    return {"throttle_time": 0, "results": results}


def _authorize_configs(conn, resource_type: int, name: str, op: int) -> None:
    """DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic, or on the cluster for a broker resource."""
    if resource_type == TOPIC_RESOURCE:
        if not conn.authorize(op, acl.TOPIC, name):
            raise KafkaError(ErrorCode.topic_authorization_failed, "Authorization failed.")
    elif resource_type in (BROKER_RESOURCE, BROKER_LOGGER_RESOURCE):
        if not conn.authorize(op, acl.CLUSTER, acl.CLUSTER_NAME):
            raise KafkaError(ErrorCode.cluster_authorization_failed, "Authorization failed.")


def _check_broker_name(broker, name: str) -> None:
    if name not in ("", str(broker.broker_id)):
        raise KafkaError(ErrorCode.invalid_request, f"Unexpected broker id {name!r}: this is broker {broker.broker_id}")


def _validated_broker_changes(changes: dict[str, str | None]) -> None:
    """Refused security settings are INVALID_CONFIG (fail closed); the rest is answered as Kafka
    answers: a key that cannot change at run time or a bad value is INVALID_REQUEST, and a key
    Odradek does not implement is stored and warned about (Kafka stores unknown keys too)."""
    for k, v in changes.items():
        why = dynamic_refusal(k, v)
        if why:
            raise KafkaError(ErrorCode.invalid_config, why)
    read_only = sorted(k for k in changes if k in BROKER and BROKER[k].read_only)
    if read_only:
        raise KafkaError(ErrorCode.invalid_request, f"Cannot update these configs dynamically: [{', '.join(read_only)}]")
    for k, v in changes.items():
        d = BROKER.get(k)
        if d is None:
            log.warning("dynamic broker config %s is not implemented by Odradek: stored, no effect", shown(k, v))
        elif v is not None:
            try:
                d.parse(v, k)
            except ConfigError as e:
                raise KafkaError(ErrorCode.invalid_request, str(e)) from None


def _apply(broker, resource_type: int, name: str, new: dict[str, str], validate_only: bool) -> None:
    if resource_type == TOPIC_RESOURCE:
        if name not in broker.store.topics():
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"The topic '{name}' does not exist.")
        try:
            parse_topic_configs(new)
        except ConfigError as e:
            raise KafkaError(ErrorCode.invalid_config, str(e)) from None
        if not validate_only:
            broker.set_topic_configs(name, new)
    elif resource_type == BROKER_RESOURCE:
        _check_broker_name(broker, name)
        _validated_broker_changes(new)
        if not validate_only:
            broker.set_broker_configs(name, new)
    elif resource_type == BROKER_LOGGER_RESOURCE:
        _check_broker_name(broker, name)
    else:
        raise KafkaError(ErrorCode.invalid_request, f"unsupported resource type {resource_type}")


def _current(broker, resource_type: int, name: str) -> dict[str, str]:
    if resource_type == TOPIC_RESOURCE:
        meta = broker.store.topics().get(name)
        return dict(meta.configs) if meta else {}
    if resource_type == BROKER_RESOURCE:
        return dict(broker.store.broker_configs().get(name, {}))
    return {}


@register(ALTER_CONFIGS, 0, 2)
async def alter_configs(conn, header, request):
    broker = conn.broker
    out = []
    for r in request.resources:
        entry = {"error_code": 0, "error_message": None, "resource_type": r.resource_type, "resource_name": r.resource_name}
        try:
            _authorize_configs(conn, r.resource_type, r.resource_name, acl.ALTER_CONFIGS)
            new = {}
            for c in r.configs:
                if c.value is None:
                    raise KafkaError(ErrorCode.invalid_request, f"Null value not supported for : {c.name}")
                new[c.name] = c.value
            _apply(broker, r.resource_type, r.resource_name, new, request.validate_only)
        except KafkaError as e:
            entry.update(_err(e))
        out.append(entry)
    return {"throttle_time": 0, "responses": out}


@register(INCREMENTAL_ALTER_CONFIGS, 0, 1)
async def incremental_alter_configs(conn, header, request):
    broker = conn.broker
    out = []
    for r in request.resources:
        entry = {"error_code": 0, "error_message": None, "resource_type": r.resource_type, "resource_name": r.resource_name}
        try:
            _authorize_configs(conn, r.resource_type, r.resource_name, acl.ALTER_CONFIGS)
            new = _current(broker, r.resource_type, r.resource_name)
            twice = sorted(k for k, n in Counter(c.name for c in r.configs).items() if n > 1)
            if twice:
                raise KafkaError(ErrorCode.invalid_request, f"Error due to duplicate config keys: {', '.join(twice)}")
            for c in r.configs:
                op = c.config_operation
                if op == SET:
                    if c.value is None:
                        raise KafkaError(ErrorCode.invalid_request, f"Null value not supported for : {c.name}")
                    new[c.name] = c.value
                elif op == DELETE:
                    new.pop(c.name, None)
                elif op in (APPEND, SUBTRACT):
                    d = TOPIC.get(c.name) if r.resource_type == TOPIC_RESOURCE else BROKER.get(c.name)
                    if d is None or d.type != "list":
                        raise KafkaError(ErrorCode.invalid_config, f"Can't {'APPEND' if op == APPEND else 'SUBTRACT'} to "
                                                                   f"key {c.name} because its type is not LIST.")
                    cur = new.get(c.name)
                    if cur is None:
                        cur = render(broker.topic_config(r.resource_name)[c.name]) if r.resource_type == TOPIC_RESOURCE else render(broker.config.get(c.name))
                    items = [x for x in (cur or "").split(",") if x]
                    vals = [x.strip() for x in (c.value or "").split(",") if x.strip()]
                    if op == APPEND:
                        items += [v for v in vals if v not in items]
                    else:
                        items = [x for x in items if x not in vals]
                    new[c.name] = ",".join(items)
                else:
                    raise KafkaError(ErrorCode.invalid_request, f"unknown config operation {op}")
            _apply(broker, r.resource_type, r.resource_name, new, request.validate_only)
        except KafkaError as e:
            entry.update(_err(e))
        out.append(entry)
    return {"throttle_time": 0, "responses": out}
