import pytest

from odradek.console.parsing import (
    InputError, format_cursor, load_client_settings, parse_configs, parse_cursor, parse_headers, parse_int, parse_listen,
    parse_offset, parse_timestamp, parse_topic_name,
)


def test_numbers_and_offsets():
    assert parse_int("  12 ", "N") == 12 and parse_int("", "N", default=-1) == -1
    for bad, msg in (("1.5", "whole number"), ("abc", "whole number"), ("", "missing"), ("9" * 30, "whole number")):
        with pytest.raises(InputError, match=msg):
            parse_int(bad, "N")
    with pytest.raises(InputError, match="The offset must be at least 0, not -1."):
        parse_offset("-1")
    assert parse_offset(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(InputError, match="at most"):
        parse_offset(str(2**63))


def test_timestamps():
    assert parse_timestamp("1700000000000") == 1700000000000
    assert parse_timestamp("2023-11-14T22:13:20") == 1700000000000  # UTC unless a zone is given
    assert parse_timestamp("2023-11-14T23:13:20+01:00") == 1700000000000
    assert parse_timestamp("2023-11-14 22:13:20Z") == 1700000000000
    assert parse_timestamp("-10m", now_ms=1_000_000) == 400_000
    assert parse_timestamp("-2h", now_ms=1_000_000) == 0
    for bad in ("yesterday", "-5x", "2023-13-01", ""):
        with pytest.raises(InputError):
            parse_timestamp(bad)


def test_topic_names_like_kafka():
    assert parse_topic_name(" orders.v1_x-y ") == "orders.v1_x-y"
    for bad, msg in (("", "empty"), (".", "is not allowed"), ("a b", "ASCII"), ("x" * 250, "longer than the max allowed length 249"), ("<script>", "ASCII")):
        with pytest.raises(InputError, match=msg):
            parse_topic_name(bad)


def test_headers_configs_and_cursor():
    assert parse_headers("a: 1\n\nb:\nc: x: y\na: 2") == [("a", b"1"), ("b", b""), ("c", b"x: y"), ("a", b"2")]
    with pytest.raises(InputError, match="Header line 1"):
        parse_headers("novalue")
    assert parse_configs("retention.ms=1\n cleanup.policy = compact \n") == {"retention.ms": "1", "cleanup.policy": "compact"}
    with pytest.raises(InputError, match="Config line 1"):
        parse_configs("=x")
    assert parse_cursor("0:15, 1:20") == {0: 15, 1: 20} and format_cursor({1: 20, 0: 15}) == "0:15,1:20"
    for bad in ("", "0-15", "a:1", "0:-1"):
        with pytest.raises(InputError):
            parse_cursor(bad)


def test_listen():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen(":0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8080x", "host", "h:70000", "[::1]"):
        with pytest.raises(InputError):
            parse_listen(bad)


def test_client_settings(tmp_path):
    assert load_client_settings(None).client_id == "odradek-console"
    f = tmp_path / "client.properties"
    f.write_text("bootstrap.servers=h:1\nclient.id=ops\nrequest.timeout.ms=2500\nsecurity.protocol=plaintext\nacks=all\n")
    s = load_client_settings(f)
    assert (s.bootstrap, s.client_id, s.request_timeout_ms) == ("h:1", "ops", 2500)
    assert s.warnings == [f"{f}: acks is not used by the console's client; ignored"]
    # TLS/SASL settings go to the client; one that cannot work is refused, one that does nothing warned of
    f.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common."
                 "security.scram.ScramLoginModule required username=\"u\" password=\"p\";\n")
    s = load_client_settings(f)
    assert s.security["security.protocol"] == "SASL_SSL" and s.warnings == []
    assert set(s.client_kwargs()["security_config"]) == {"security.protocol", "sasl.mechanism", "sasl.jaas.config"}
    f.write_text("ssl.truststore.location=/x\n")
    assert load_client_settings(f).warnings == [f"{f}: ssl.truststore.location is not used with security.protocol=PLAINTEXT; ignored"]
    for text, msg in (("security.protocol=BOGUS", "expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
                      ("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN", "PLAIN needs a user name and a password"),
                      ("request.timeout.ms=soon", "request.timeout.ms must be a whole number")):
        f.write_text(text + "\n")
        with pytest.raises(InputError, match=msg):
            load_client_settings(f)
    with pytest.raises(InputError, match="cannot read the client config"):
        load_client_settings(tmp_path / "missing")
