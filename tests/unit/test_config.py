"""Broker and topic configuration: parsing, validation, defaults, and the generated reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from odradek.config import BrokerConfig, ConfigError, markdown_reference, parse_listener, parse_topic_configs, read_properties

ROOT = Path(__file__).resolve().parents[2]


def test_reference_doc_is_up_to_date():
    assert (ROOT / "docs" / "configuration.md").read_text() == markdown_reference(), (
        "regenerate docs/configuration.md from odradek.config.markdown_reference()"
    )


def test_overrides_and_properties(tmp_path):
    props = tmp_path / "server.properties"
    props.write_text("# comment\nbroker.id=3\nnum.partitions = 4\nlog.dirs=/data/a,/data/b\nsome.unknown.key=x\n")
    cfg = BrokerConfig.load(props, ["num.partitions=6", "listeners=PLAINTEXT://127.0.0.1:19092"])
    assert cfg.broker_id == 3 and cfg.get("num.partitions") == 6
    assert str(cfg.data_dir) == "/data/a"
    assert parse_listener(cfg.get("listeners")) == ("PLAINTEXT", "127.0.0.1", 19092)
    assert read_properties(props)["some.unknown.key"] == "x"


@pytest.mark.parametrize("key,value", [("num.partitions", "zero"), ("num.partitions", "0"),
                                       ("auto.create.topics.enable", "maybe"), ("log.cleanup.policy", "shred")])
def test_bad_broker_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        BrokerConfig.load(None, [f"{key}={value}"])


def test_topic_defaults_follow_broker_keys():
    cfg = BrokerConfig.load(None, ["log.retention.hours=1", "log.segment.bytes=1000"])
    eff = cfg.topic_config({})
    assert eff["retention.ms"] == 3600000 and eff["segment.bytes"] == 1000
    assert cfg.topic_config({"retention.ms": 5})["retention.ms"] == 5
    assert parse_topic_configs({"cleanup.policy": "compact,delete"})["cleanup.policy"] == ["compact", "delete"]
    with pytest.raises(ConfigError, match="Unknown topic config"):
        parse_topic_configs({"nope": "1"})
    with pytest.raises(ConfigError):
        parse_listener("127.0.0.1:9092")
