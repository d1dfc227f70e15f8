"""Admin APIs: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs, with Kafka's config names, defaults, sources and validation."""

from __future__ import annotations

import logging

from ...config import BROKER, TOPIC, TOPIC_SYNONYMS, ConfigError, parse_topic_configs, render
from ...config_policy import refusal, shown
from ...protocol.errors import ErrorCode, KafkaError
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
    return {"error_code": e.code, "error_message": e.message or e.name}


@register(CREATE_TOPICS, 2, 7)
async def create_topics(conn, header, request):
    """Every valid topic of the request is created together (one write to the metadata store,
    one reconcile); the answer comes when the store has them all, with an error per topic."""
    broker = conn.broker
    entries = []
    specs = []
    seen: set[str] = set()
    for t in request.topics:
        entry = {"name": t.name, "num_partitions": -1, "replication_factor": -1}
        entries.append(entry)
        try:
            if t.name in seen:
                raise KafkaError(ErrorCode.invalid_request, f"Topic {t.name} appears more than once in the request")
            seen.add(t.name)
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
                    _topic_entry(broker, meta.name, k, v, overrides=meta.configs)[0]
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


def _broker_key_source(broker, key: str) -> int:
    """Where a broker key's value comes from: per-broker dynamic, cluster dynamic, static, default."""
    if key in broker.config.dynamic:
        scopes = broker.store.broker_configs()
        return DYNAMIC_BROKER if key in scopes.get(str(broker.broker_id), {}) else DYNAMIC_DEFAULT_BROKER
    if key in broker.config.values:
        return STATIC_BROKER
    return DEFAULT


def _topic_entry(broker, topic: str, key: str, value, want_synonyms: bool = False,
                 overrides: dict[str, str] | None = None) -> tuple[dict, None]:
    """A topic config as DescribeConfigs / CreateTopics show it; ``overrides``: the topic's own
    settings when known (default: what the store says)."""
    if overrides is None:
        meta = broker.store.topics().get(topic)
        overrides = meta.configs if meta is not None else {}
    overridden = key in overrides
    d = TOPIC[key]
    synonyms = []
    source = DEFAULT
    if overridden:
        source = DYNAMIC_TOPIC
        synonyms.append({"name": key, "value": overrides[key], "source": DYNAMIC_TOPIC})
    for broker_key in TOPIC_SYNONYMS.get(key, []):
        src = _broker_key_source(broker, broker_key)
        if src != DEFAULT:
            synonyms.append({"name": broker_key, "value": render(broker.config.get(broker_key)), "source": src})
            if source == DEFAULT:
                source = src
    default_key = (TOPIC_SYNONYMS.get(key) or [key])[-1]
    default_def = BROKER.get(default_key, d)
    synonyms.append({"name": default_key, "value": render(default_def.default), "source": DEFAULT})
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
    source = _broker_key_source(broker, key)
    value = cfg.get(key)
    if key == "broker.id":
        value = broker.broker_id
    return {
        "name": key,
        "value": render(value),
        "read_only": d.read_only,
        "is_default": source == DEFAULT,
        "config_source": source,
        "is_sensitive": d.type == "password",
        "synonyms": [{"name": key, "value": render(value), "source": source}] if want_synonyms else [],
        "config_type": CONFIG_TYPES.get(d.type, 2),
        "documentation": d.doc,
    }


@register(DESCRIBE_CONFIGS, 1, 4)
async def describe_configs(conn, header, request):
    broker = conn.broker
    synonyms = getattr(request, "include_synonyms", False)
    results = []
    for r in request.resources:
        entry = {"error_code": 0, "error_message": None, "resource_type": r.resource_type, "resource_name": r.resource_name, "configs": []}
        keys = list(r.configuration_keys) if r.configuration_keys else None
        try:
            if r.resource_type == TOPIC_RESOURCE:
                if r.resource_name not in broker.store.topics():
                    raise KafkaError(ErrorCode.unknown_topic_or_partition, f"Topic '{r.resource_name}' does not exist.")
                cfg = broker.topic_config(r.resource_name)
                names = keys or sorted(TOPIC)
                entry["configs"] = [_topic_entry(broker, r.resource_name, k, cfg[k], synonyms)[0] for k in names if k in TOPIC]
            elif r.resource_type == BROKER_RESOURCE:
                _check_broker_name(broker, r.resource_name)
                names = keys or sorted(BROKER)
                entry["configs"] = [_broker_entry(broker, k, synonyms) for k in names if k in BROKER]
            elif r.resource_type == BROKER_LOGGER_RESOURCE:
                _check_broker_name(broker, r.resource_name)
            else:
                raise KafkaError(ErrorCode.invalid_request, f"unsupported resource type {r.resource_type}")
        except KafkaError as e:
            entry.update(_err(e))
        results.append(entry)
    return {"throttle_time": 0, "results": results}


def _check_broker_name(broker, name: str) -> None:
    if name not in ("", str(broker.broker_id)):
        raise KafkaError(ErrorCode.invalid_request, f"Unexpected broker id {name!r}: this is broker {broker.broker_id}")


def _validated_broker_changes(changes: dict[str, str | None]) -> None:
    """Refused security settings are INVALID_CONFIG (fail closed); the rest is answered as Kafka
    answers: a key that cannot change at run time or a bad value is INVALID_REQUEST, and a key
    Odradek does not implement is stored and warned about (Kafka stores unknown keys too)."""
    for k, v in changes.items():
        why = refusal(k, v)
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
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"Topic '{name}' does not exist.")
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
            new = {}
            for c in r.configs:
                if c.value is None:
                    raise KafkaError(ErrorCode.invalid_config, f"Null value not supported for {c.name}")
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
            new = _current(broker, r.resource_type, r.resource_name)
            for c in r.configs:
                op = c.config_operation
                if op == SET:
                    if c.value is None:
                        raise KafkaError(ErrorCode.invalid_config, f"Null value not supported for {c.name}")
                    new[c.name] = c.value
                elif op == DELETE:
                    new.pop(c.name, None)
                elif op in (APPEND, SUBTRACT):
                    d = TOPIC.get(c.name) if r.resource_type == TOPIC_RESOURCE else BROKER.get(c.name)
                    if d is None or d.type != "list":
                        raise KafkaError(ErrorCode.invalid_config, f"Config {c.name} is not a list; APPEND/SUBTRACT need one")
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
