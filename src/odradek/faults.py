"""Crash points for crash tests: ``ODRADEK_CRASH_AT=<name>`` makes the broker kill itself (SIGKILL,
as ``kill -9`` would) the first time it reaches the named point. Unset, it costs one dict lookup
at import and nothing afterwards. Only tests set it."""

from __future__ import annotations

import os
import signal

_AT = os.environ.get("ODRADEK_CRASH_AT") or None


def crash_point(name: str) -> None:
    if _AT is not None and _AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
