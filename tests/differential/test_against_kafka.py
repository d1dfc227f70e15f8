"""The differential test (issue 10): one script of client calls against a single-node Odradek and
against a real Apache Kafka 4.4 broker (KRaft, one node, from Maven jars), answers compared.

Three parts, each run once per broker:
- the wire script (:mod:`wire_script`): requests built with kio where exact codes matter: admin,
  produce and fetch edge cases, group flows, errors, unsupported versions;
- Kafka's own Java admin client (``tests/jvm/programs/DiffClients.java``, part ``admin``): what its
  users see, exception classes and messages included;
- Java client scenarios users reported as different from Kafka: keyless records in a batch to a
  compacted topic, a member that stops polling past max.poll.interval.ms, a pattern subscription
  that must pick up an auto-created topic; with how long each takes to settle on both brokers.

Both brokers run as node 1 with the same static settings, so node ids and config sources compare
as they are; cluster ids, topic ids, ports, member ids and throttle times are normalized away
(:func:`kafka_diff.plain`). Any other difference fails the test unless the "Known differences from
Apache Kafka" table of docs/compatibility.md lists it, and a listed difference that no longer
occurs fails it too (the table must stay true).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import kafka_diff
import kafka_jvm
import wire_script
from helpers import BrokerProcess
from kafka_diff import Target

PROGRAM = Path(kafka_jvm.JVM_DIR) / "programs" / "DiffClients.java"
JAVA_PARTS = ["admin", "keyless", "maxpoll", "pattern"]
# Both brokers: node 1, one partition by default, __consumer_offsets on the one broker; what
# KafkaBroker sets statically, Odradek gets statically too (same config sources).
# Retention is checked every second on both (Kafka also without its 30 s initial delay), so that
# the script can see what it deletes.
# A static log.retention.hours on both shows how a value set through a synonym is described.
ODRADEK_OVERRIDES = {"num.partitions": "1", "offsets.topic.replication.factor": "1", "log.retention.check.interval.ms": "1000",
                     "log.retention.hours": "170"}
KAFKA_OVERRIDES = {"log.retention.check.interval.ms": "1000", "log.initial.task.delay.ms": "0", "log.retention.hours": "170"}
RANGE_CASES = ("versions.api_versions_v3_ranges/ranges", "versions.api_versions_from_the_future/ranges")
SETTLE_SLACK_S = 4.0  # Odradek may take this much longer than Kafka to settle (metadata refresh phases, a busy 2-core box)

@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    base = tmp_path_factory.mktemp("differential")
    kafka = kafka_jvm.KafkaBroker(base / "kafka", overrides=KAFKA_OVERRIDES, heap="768m")
    odradek = BrokerProcess(base / "odradek", broker_id=1, overrides=ODRADEK_OVERRIDES)
    try:
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(kafka.start, 120), pool.submit(odradek.start)]
            for f in started:
                f.result()
        yield {"kafka": Target("kafka", kafka.port), "odradek": Target("odradek", odradek.port)}
    finally:
        odradek.kill()
        kafka.stop()


@pytest.fixture(scope="module")
def wire_results(brokers):
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(wire_script.run, target) for name, target in brokers.items()}
        results = {name: f.result() for name, f in runs.items()}
    print(f"\nwire script: {len(wire_script.CASES)} cases on each broker in {time.monotonic() - t0:.1f} s")
    return results


def _run_java(target: Target, classes: Path) -> dict[str, object]:
    cmd = kafka_jvm.java_command("DiffClients", [f"127.0.0.1:{target.port}", "j", *JAVA_PARTS], extra_cp=[classes],
                                 heap="256m")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            out[item["case"]] = item["result"]
    if proc.returncode != 0:
        out["java program"] = {"exit code": proc.returncode, "stderr": proc.stderr[-3000:]}
    return out


@pytest.fixture(scope="module")
def java_results(brokers, wire_results):
    classes = kafka_jvm.compile_java([PROGRAM])
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(_run_java, target, classes) for name, target in brokers.items()}
        results = {name: f.result() for name, f in runs.items()}
    print(f"Java clients: {len(results['kafka'])} cases on each broker in {time.monotonic() - t0:.1f} s")
    return results


# Kafka's command-line tools, as users run them (one JVM each), on what the wire script left behind.
TOOLS = {
    "tools.kafka_configs_describe_topic": ["org.apache.kafka.tools.ConfigCommand", "--describe", "--entity-type", "topics",
                                           "--entity-name", "w-configs", "--all"],
    "tools.kafka_topics_describe": ["org.apache.kafka.tools.TopicCommand", "--describe", "--topic", "w-fetch"],
    "tools.kafka_consumer_groups_describe": ["org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--describe",
                                             "--group", "w-lifecycle"],
    "tools.kafka_get_offsets": ["org.apache.kafka.tools.GetOffsetShell", "--topic", "w-fetch", "--time", "-1"],
}


def _tool_output(name: str, out: str) -> object:
    """A tool's output made comparable: lines (by config name for kafka-configs), topic ids hidden."""
    lines = [ln.rstrip() for ln in out.splitlines() if ln.strip()]
    if name == "tools.kafka_configs_describe_topic":
        by_key = {}
        for ln in lines[1:]:
            key, _, rest = ln.strip().partition("=")
            by_key[key] = rest
        return {"title": lines[0] if lines else None, "configs": by_key}
    if name == "tools.kafka_topics_describe":  # "Key: value" fields by tabs, the topic line then one per partition
        out = {}
        for i, ln in enumerate(lines):
            fields = dict(f.strip().partition(":")[::2] for f in ln.split("\t") if f.strip())
            fields = {k.strip(): ("<id>" if k.strip() == "TopicId" else v.strip()) for k, v in fields.items()}
            out["topic" if i == 0 else f"partition {fields.get('Partition')}"] = fields
        return out
    return [ln.split() for ln in lines]


def _run_tools(target: Target) -> dict[str, object]:
    out = {}
    for name, (main, *args) in TOOLS.items():
        proc = kafka_jvm.tool(main, "--bootstrap-server", f"127.0.0.1:{target.port}", *args, timeout=120)
        out[name] = {"exit": proc.returncode, "output": _tool_output(name, proc.stdout)}
    return out


@pytest.fixture(scope="module")
def tool_results(brokers, java_results):
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(_run_tools, target) for name, target in brokers.items()}
        results = {name: f.result() for name, f in runs.items()}
    print(f"Kafka's tools: {len(TOOLS)} runs on each broker in {time.monotonic() - t0:.1f} s")
    return results


def _reconcile_ranges(kafka: dict, odradek: dict) -> None:
    """API version ranges: for the APIs Odradek serves, the floor must be Kafka's and the top may be
    lower (docs/compatibility.md lists Odradek's ranges), never higher. APIs only Kafka serves are
    left out here (the API table of docs/compatibility.md says what Odradek serves)."""
    for path in RANGE_CASES:
        case, key = path.split("/")
        k, o = kafka.get(case), odradek.get(case)
        if not isinstance(k, dict) or not isinstance(o, dict):
            continue
        as_dict = isinstance(k[key], dict)
        theirs = {str(a): list(r) for a, r in k[key].items()} if as_dict else {str(r[0]): list(r[1:]) for r in k[key]}
        ours = {str(a): list(r) for a, r in o[key].items()} if as_dict else {str(r[0]): list(r[1:]) for r in o[key]}
        matched = {}
        for api, (lo, hi) in ours.items():
            t = theirs.get(api)
            matched[api] = [lo, hi] if t is not None and t[0] == lo and hi <= t[1] else t
        k[key], o[key] = matched, ours


def _parts(wire_results, java_results, tool_results) -> dict[str, tuple[dict, dict]]:
    """The parts, each as (Apache Kafka's results, Odradek's results), ready to compare."""
    kafka, odradek = json.loads(json.dumps(wire_results["kafka"])), json.loads(json.dumps(wire_results["odradek"]))
    _reconcile_ranges(kafka, odradek)
    parts = {"wire": (kafka, odradek)}
    for part, keep in (("java admin", lambda k: not k.startswith(("clients.", "timing."))),
                       ("java clients", lambda k: k.startswith("clients."))):
        parts[part] = tuple({k: v for k, v in java_results[side].items() if keep(k)} for side in ("kafka", "odradek"))
    parts["tools"] = (tool_results["kafka"], tool_results["odradek"])
    return parts


@pytest.fixture(scope="module")
def differences(wire_results, java_results, tool_results):
    """part -> (cases compared, every difference, the undocumented ones)."""
    known = kafka_diff.known_differences()
    out = {}
    for part, (kafka, odradek) in _parts(wire_results, java_results, tool_results).items():
        diffs = kafka_diff.differences(kafka, odradek)
        documented, undocumented, _ = kafka_diff.explain(diffs, known)
        cases = set(kafka) | set(odradek)
        differing = {d[0].split("/")[0] for d in diffs}
        print(f"{part}: {len(cases)} cases compared, {len(differing)} of them differ in {len(diffs)} values, "
              f"{len(documented)} documented")
        out[part] = (len(cases), diffs, undocumented)
    return out


def _report(undocumented) -> str:
    return ("differences from Apache Kafka 4.4 that docs/compatibility.md does not list (fix Odradek, or add "
            "them to 'Known differences from Apache Kafka' with the reason):\n" + kafka_diff.show(undocumented))


def test_wire_script_answers_as_kafka(wire_results, differences):
    assert not any("script error" in json.dumps(v) for v in wire_results["kafka"].values()), (
        "the script itself broke against Apache Kafka:\n" + json.dumps(wire_results["kafka"], indent=1)[:4000])
    n, _, undocumented = differences["wire"]
    assert n == len(wire_script.CASES)
    assert not undocumented, _report(undocumented)


def test_java_admin_client_sees_what_it_sees_with_kafka(java_results, differences):
    assert "java program" not in java_results["kafka"], java_results["kafka"]["java program"]
    n, _, undocumented = differences["java admin"]
    assert n > 60
    assert not undocumented, _report(undocumented)


def test_java_clients_behave_as_with_kafka(java_results, differences):
    kafka = java_results["kafka"]
    assert {k for k in kafka if k.startswith("clients.")} == {
        "clients.keyless_compacted.records", "clients.keyless_compacted.stored", "clients.max_poll_interval",
        "clients.pattern_subscription", "clients.pattern_subscription_from_nothing"}, kafka
    # what Kafka does, so that the comparison means something
    records = kafka["clients.keyless_compacted.records"]
    assert [r["error"] for r in records] == ["KafkaException", "InvalidRecordException", "KafkaException",
                                             "InvalidRecordException", "KafkaException"], records
    assert kafka["clients.max_poll_interval"]["b_took_all"] and kafka["clients.pattern_subscription"]["new_topic_record_received"]
    _, _, undocumented = differences["java clients"]
    assert not undocumented, _report(undocumented)


def test_kafka_tools_print_what_they_print_with_kafka(tool_results, differences):
    assert all(r["exit"] == 0 for r in tool_results["kafka"].values()), tool_results["kafka"]
    _, _, undocumented = differences["tools"]
    assert not undocumented, _report(undocumented)


def test_settle_times_are_kafkas(java_results):
    """How long the reported situations take to settle: Odradek within SETTLE_SLACK_S of Kafka."""
    k, o = java_results["kafka"], java_results["odradek"]
    figures = {name: {"kafka": k.get(name), "odradek": o.get(name)} for name in sorted(k) if name.startswith("timing.")}
    print("settle times (seconds):\n" + json.dumps(figures, indent=1))
    if os.environ.get("ODRADEK_DIFF_REPORT"):
        Path(os.environ["ODRADEK_DIFF_REPORT"]).write_text(json.dumps({"timings": figures, "java": java_results}, indent=1))
    slow = []
    for name, key in [("timing.max_poll_interval", "b_owns_all_after_a_stopped_s"),
                      ("timing.max_poll_interval", "a_back_in_s"),
                      ("timing.pattern_subscription", "record_received_s"),
                      ("timing.pattern_subscription", "first_assignment_s"),
                      ("timing.pattern_subscription_from_nothing", "record_received_s")]:
        theirs, ours = k[name][key], o[name][key]
        assert theirs >= 0, (name, key, k[name])
        if not 0 <= ours <= theirs + SETTLE_SLACK_S:
            slow.append(f"{name}/{key}: Kafka {theirs:.2f} s, Odradek {ours:.2f} s")
    assert not slow, "Odradek settles slower than Apache Kafka:\n" + "\n".join(slow)


def test_every_known_difference_still_occurs(differences):
    """docs/compatibility.md lists only differences that are there: one fixed is taken off the list."""
    known = kafka_diff.known_differences()
    used = set()
    for _, diffs, _ in differences.values():
        used |= kafka_diff.explain(diffs, known)[2]
    stale = sorted(set(known) - used)
    assert not stale, f"docs/compatibility.md lists differences that no longer occur: {stale}"
