"""What the console tests share: the console as a subprocess, an HTTP session with cookies and
CSRF tokens, a TCP proxy that can stall or refuse (a cluster that hangs or goes away), and the
headless Chromium that Playwright drives."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

from helpers import ROOT, free_port, odradek_env, stop_process, track, wait_for, wait_listening

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def launch_chromium(playwright):
    """Debian's Chromium, driven by Playwright (never a downloaded browser). Missing: a loud failure."""
    if not os.path.exists(CHROMIUM):
        raise AssertionError(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)


class ConsoleProcess:
    """An ``odradek console`` subprocess on a free loopback port, stopped by PID."""

    def __init__(self, bootstrap: str, workdir: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.port = port or free_port()
        self.extra = list(args)
        self.env = dict(env or {})
        self.log_path = Path(workdir) / f"console-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "odradek", "console", "--bootstrap-server", self.bootstrap,
                "--listen", f"127.0.0.1:{self.port}", *self.extra]

    def start(self, timeout: float = 20.0) -> "ConsoleProcess":
        self._log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=odradek_env(self.env), cwd=str(ROOT)))
        wait_listening(self.proc, self.port, timeout, "console", self.log_text)
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if not stop_process(self.proc, timeout):
            raise AssertionError(f"console did not stop within {timeout} s:\n{self.log_text()[-3000:]}")
        self._log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def csrf(self) -> str:
        m = re.search(r'name="_csrf" value="([0-9a-f]+)"', self.text)
        assert m, f"no CSRF token on {self.url}"
        return m.group(1)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


class Session:
    """A browser-like HTTP client: keeps cookies, follows 303 redirects, sends Origin on POSTs."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None) -> None:
        self.base = base
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.cookies: dict[str, str] = {}
        self.auth = auth

    def request(self, method: str, path: str, form: dict[str, str] | None = None, *, headers: dict[str, str] | None = None,
                follow: bool = True, timeout: float = 60.0) -> Reply:
        hdrs = {"Host": f"{self.host}:{self.port}", "Connection": "close"}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.auth:
            import base64

            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            hdrs.setdefault("Origin", self.base)
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            got = {k.lower(): v for k, v in resp.getheaders()}
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name] = rest.split(";")[0]
        finally:
            conn.close()
        if follow and resp.status in (301, 302, 303) and "location" in got:
            return self.request("GET", got["location"], follow=True, timeout=timeout)
        return Reply(resp.status, got, data, path)

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict[str, str], **kw) -> Reply:
        return self.request("POST", path, form, **kw)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. ``stall()`` stops passing the target's answers (a
    cluster that hangs), ``refuse()`` closes every connection and the listening socket (a cluster
    gone away), ``resume()`` undoes both on the same port. One thread, select(); stopped by close()."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._stalled = False
        self._listener: socket.socket | None = None
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._upstream: set[socket.socket] = set()
        self._pending: dict[socket.socket, bytes] = {}
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._listen()
        self._thread = threading.Thread(target=self._run, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.setblocking(False)
        self._listener = s

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def stall(self) -> None:
        with self._lock:
            self._stalled = True

    def refuse(self) -> None:
        with self._lock:
            self._refuse = True
        self._wake()
        wait_for(lambda: self._listener is None, 5, what="proxy to close")

    def resume(self) -> None:
        with self._lock:
            self._stalled = False
            self._refuse = False
            if self._listener is None:
                self._listen()
        self._wake()

    def close(self) -> None:
        self._stop = True
        self._wake()
        self._thread.join(5)

    _refuse = False

    def _drop_all(self) -> None:
        for a in list(self._pairs):
            try:
                a.close()
            except OSError:
                pass
        self._pairs.clear()
        self._upstream.clear()
        self._pending.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                if self._refuse and (self._listener is not None or self._pairs):
                    self._drop_all()
                stalled = self._stalled
                listener = self._listener
            readable = [self._wake_r, *self._pairs]
            if listener is not None:
                readable.append(listener)
            if stalled:
                readable = [s for s in readable if s not in self._upstream]
            try:
                ready, _, _ = select.select(readable, [], [], 0.2)
            except (OSError, ValueError):
                continue
            for s in ready:
                if s is self._wake_r:
                    self._wake_r.recv(4096)
                elif s is listener:
                    try:
                        client, _ = listener.accept()
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        continue
                    self._pairs[client] = upstream
                    self._pairs[upstream] = client
                    self._upstream.add(upstream)
                elif s in self._pairs:
                    other = self._pairs[s]
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        for x in (s, other):
                            self._pairs.pop(x, None)
                            self._upstream.discard(x)
                            try:
                                x.close()
                            except OSError:
                                pass
                        continue
                    try:
                        other.sendall(data)
                    except OSError:
                        pass
        self._drop_all()


def wait_log(console: ConsoleProcess, pattern: str, timeout: float = 15.0) -> str:
    """The first log line of ``console`` matching ``pattern`` (a regular expression)."""
    rx = re.compile(pattern)

    def find():
        for line in console.log_text().splitlines():
            if rx.search(line):
                return line
        return None

    return wait_for(find, timeout, what=f"a console log line matching {pattern!r}")
