"""src/odradek/kafka_config_names.py holds exactly the broker settings of the Kafka jars we test
with (3.9 and 4.x together): the list that tells "Kafka has it, Odradek ignores it" from "unknown"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kafka_jvm
from odradek.kafka_config_names import KAFKA_BROKER_CONFIG_NAMES

PROGRAM = Path(kafka_jvm.JVM_DIR) / "programs" / "KafkaConfigNames.java"


def _names(profile: str) -> set[str]:
    classes = kafka_jvm.compile_java([PROGRAM], profile)
    cmd = kafka_jvm.java_command("KafkaConfigNames", [], profile=profile, extra_cp=[classes])
    return set(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.split())


def test_kafka_broker_config_names_match_the_jars():
    real = _names("kafka-3") | _names("kafka-4")
    assert len(real) > 300
    missing, extra = sorted(real - KAFKA_BROKER_CONFIG_NAMES), sorted(KAFKA_BROKER_CONFIG_NAMES - real)
    assert not missing and not extra, f"update kafka_config_names.py: missing {missing}, not in Kafka {extra}"
