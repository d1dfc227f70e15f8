"""The odradek command without a broker: parsing, times, tables, templates, exit codes."""

from __future__ import annotations

import io
import json
import time

import pytest

from odradek.cli import common
from odradek.cli.main import build_parser, main
from odradek.cli.perf import percentile
from odradek.cli.tools import _Template, parse_time
from odradek.client.types import ConsumerRecord


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_is_unchanged_and_subcommands_exist() -> None:
    p = build_parser()
    a = p.parse_args(["serve", "x.properties", "--override", "a=b"])
    assert a.config == "x.properties" and a.override == ["a=b"] and a.log_level == "info"
    for argv in (["topic", "list"], ["topic", "create", "t", "-p", "3"], ["produce", "t"], ["consume", "t", "-n", "1"],
                 ["group", "describe", "g"], ["group", "reset-offsets", "g", "--to-earliest", "--all-topics"],
                 ["cluster", "health"], ["perf", "produce", "t"], ["perf", "consume", "t"], ["txn", "list"], ["txn", "describe", "x"],
                 ["txn", "find-hanging", "--topic", "t"], ["txn", "abort", "--topic", "t", "--partition", "0", "--start-offset", "3"],
                 ["consume", "t", "--isolation", "read_committed"]):
        assert callable(p.parse_args(argv).func)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["topic"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["consume", "t", "--from-beginning", "--offset", "3"])
    assert e.value.code == 2


def test_unreachable_cluster_exits_3(capsys: pytest.CaptureFixture) -> None:
    port = free_port()
    rc = main(["topic", "list", "-b", f"127.0.0.1:{port}", "--timeout", "2"])
    assert rc == common.EXIT_UNREACHABLE
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_bootstrap_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODRADEK_BOOTSTRAP_SERVER", "10.1.2.3:19092")
    args = build_parser().parse_args(["topic", "list"])
    assert common.bootstrap(args) == "10.1.2.3:19092"
    args = build_parser().parse_args(["topic", "list", "--bootstrap-server", "h:1"])
    assert common.bootstrap(args) == "h:1"


def test_parse_time() -> None:
    assert parse_time("1700000000000") == 1700000000000
    assert parse_time("2023-11-14T22:13:20Z") == 1700000000000
    assert abs(parse_time("-10m") - (time.time() - 600) * 1000) < 5000
    with pytest.raises(common.CommandError):
        parse_time("yesterday-ish")


def test_table_alignment() -> None:
    out = io.StringIO()
    common.table(["topic", "partitions", "rack"], [["a", 3, None], ["longer-name", 12, None]], out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITIONS", "RACK"]
    assert lines[1].index("3") == lines[2].index("12") + 1  # numbers right-aligned
    assert lines[1].endswith("-")


def test_template_and_json_records() -> None:
    r = ConsumerRecord("t", 2, 41, 1700000000000, 0, b"k", b"v\xff", (("h", b"1"),))
    assert _Template("{partition}:{offset}\\t{key}={value} {headers} {time}").render(r) == "2:41\tk=v\\xff h=1 2023-11-14T22:13:20.000Z"
    from odradek.cli.tools import _record_json

    d = json.loads(_record_json(r))
    assert d == {"topic": "t", "partition": 2, "offset": 41, "timestamp": 1700000000000, "key": "k", "value": "v\\xff", "headers": [["h", "1"]]}


def test_percentile() -> None:
    xs = sorted(float(i) for i in range(1, 101))
    assert percentile(xs, 50) in (50.0, 51.0) and percentile(xs, 99) == 99.0 and percentile(xs, 100) == 100.0


def test_serve_exit_codes_and_stop_on_signals(capsys: pytest.CaptureFixture) -> None:
    """The broker's and the console's way to run a server: 0 when it ends, 1 with the message on
    an OSError; SIGINT sets the event a long-running command waits on (instead of interrupting it)."""
    import asyncio
    import os
    import signal

    async def ends() -> None:
        return None

    async def cannot() -> None:
        raise OSError(98, "Address already in use")

    assert common.serve(ends(), lambda e: f"never {e}") == 0
    assert common.serve(cannot(), lambda e: f"odradek: cannot start: {e.strerror}") == 1
    assert capsys.readouterr().err == "odradek: cannot start: Address already in use\n"

    async def interrupted() -> bool:
        stop = common.stop_on_signals()
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(stop.wait(), 10)
        return stop.is_set()

    assert asyncio.run(interrupted())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the loop's handler went with the loop
