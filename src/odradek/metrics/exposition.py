"""The Prometheus text exposition format, version 0.0.4: ``# HELP``, ``# TYPE`` and one line per
sample, label values escaped. A family's name is what its ``# TYPE`` line says; samples may add a
suffix to it (``_bucket``, ``_sum``, ``_count`` of a histogram)."""

from __future__ import annotations

import math
from typing import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        v = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return v


def labels(*pairs: tuple[str, object]) -> str:
    """``{a="x",b="y"}`` from (name, value) pairs; "" without any."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(str(v))}"' for k, v in pairs) + "}"


def number(v: float | int) -> str:
    if type(v) is int:
        return str(v)
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v)}.0"
    return repr(float(v))


class Family:
    """One metric family: its name, type (counter, gauge, histogram, untyped), help, samples."""

    __slots__ = ("name", "type", "help", "lines")

    def __init__(self, name: str, type_: str, help_: str) -> None:
        self.name = name
        self.type = type_
        self.help = help_
        self.lines: list[str] = []

    def add(self, value: float | int, label_str: str = "", suffix: str = "") -> None:
        self.lines.append(f"{self.name}{suffix}{label_str} {number(value)}")

    def histogram(self, bounds: Iterable[float], counts: list[int], total: float, label_pairs: tuple = ()) -> None:
        """Cumulative ``_bucket`` lines (``le`` last), ``_sum`` and ``_count``."""
        acc = 0
        for b, c in zip(bounds, counts):
            acc += c
            self.add(acc, labels(*label_pairs, ("le", number(float(b)))), "_bucket")
        acc += counts[-1]
        self.add(acc, labels(*label_pairs, ("le", "+Inf")), "_bucket")
        base = labels(*label_pairs)
        self.add(total, base, "_sum")
        self.add(acc, base, "_count")

    def text(self) -> str:
        h = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        head = f"# HELP {self.name} {h}\n# TYPE {self.name} {self.type}\n"
        if not self.lines:
            return head
        return head + "\n".join(self.lines) + "\n"
