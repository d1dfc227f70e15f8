"""``odradek serve --log-format json``: one JSON object a line; a connection's errors carry the
connection, listener, principal, client id and the request's API."""

from __future__ import annotations

import json
import struct

import pytest

from helpers import BrokerProcess, wait_for
from wire import WireClient

pytestmark = pytest.mark.interop


class JsonLogBroker(BrokerProcess):
    def args(self) -> list[str]:
        return super().args() + ["--log-format", "json"]


def _json_lines(b: BrokerProcess) -> list[dict]:
    text = b.log_path.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_name_the_client_and_connection(tmp_path):
    b = JsonLogBroker(tmp_path / "data").start()
    try:
        w = WireClient(b.port)
        local = "%s:%d" % w.sock.getsockname()
        try:
            # a Metadata v12 request whose body is cut short: the broker closes this connection only
            cid = b"json-log-test"
            head = struct.pack(">hhih", 3, 12, 1, len(cid)) + cid + b"\x00"
            w.send_frame(head + b"\x05\x00")
            with pytest.raises(ConnectionError):
                w.recv_frame()
        finally:
            w.close()
        line = wait_for(lambda: next((x for x in _json_lines(b) if x.get("client_id") == "json-log-test"), None), 10,
                        what="the error's JSON log line")
        assert line["level"] == "warning" and line["logger"] == "odradek.connection"
        assert line["msg"].startswith(f"closing {local}: ")
        assert line["connection"] == local and line["listener"] == "PLAINTEXT"
        assert line["principal"] == "User:ANONYMOUS"
        assert (line["api_key"], line["api_version"]) == (3, 12)
        assert line["ts"].endswith("Z")
        # every log line is JSON (the one "ready" line on stdout is a plain print)
        text = b.log_path.read_text(errors="replace").splitlines()
        assert [x for x in text if x and not x.startswith("{")] == [f"odradek: broker 0 ready on 127.0.0.1:{b.port}"]
        assert any(x["msg"].startswith("Odradek broker 0 listening") for x in _json_lines(b))
        # the broker still serves
        WireClient(b.port).request(18, 0, {})
    finally:
        b.kill()
