"""Scraping a broker's /metrics in tests: the text as served, validated with prometheus_client's
parser, and its samples by name and labels."""

from __future__ import annotations

import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        # validity: prometheus_client's parser reads every family (raises on bad text)
        self.families = list(text_string_to_metric_families(text))
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.types: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, type_ = line.split(" ", 3)
                self.types[name] = type_
                continue
            if not line or line.startswith("#"):
                continue
            m = _LINE.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = tuple(sorted((k, v) for k, v in _LABEL.findall(m.group(3) or "")))
            key = (m.group(1), labels)
            assert key not in self.samples, f"duplicate series {line!r}"
            self.samples[key] = float(m.group(4))

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def get(self, name: str, **labels) -> float | None:
        """The value of the series with exactly these labels (None when absent)."""
        key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
        return self.samples.get(key)

    def value(self, name: str, **labels) -> float:
        v = self.get(name, **labels)
        assert v is not None, f"no series {name}{labels}"
        return v

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets of every series of ``name``."""
        return [dict(lab) for n, lab in self.samples if n == name]

    def sum(self, name: str, **match) -> float:
        """Sum of the series of ``name`` whose labels include ``match``."""
        want = {k: str(v) for k, v in match.items()}
        return sum(v for (n, lab), v in self.samples.items()
                   if n == name and all(dict(lab).get(k) == x for k, x in want.items()))


def scrape(port: int, host: str = "127.0.0.1") -> Scrape:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=15) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(r.read().decode())
