"""Log line formats of ``odradek serve``: text (the default) or one JSON object a line.

A JSON line has ``ts`` (UTC, ms), ``level``, ``logger``, ``msg``, the fields a caller passed as
``extra={"fields": {...}}`` (a connection's lines carry ``connection``, ``listener``, ``client_id``,
``principal`` and, for a failed request, ``api_key`` and ``api_version``), and ``exception`` with the
traceback when there is one. The field names are those of ``odradek console --log-format json``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

TEXT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if v is not None})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
