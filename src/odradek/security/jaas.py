"""Kafka's ``sasl.jaas.config`` values: ``<LoginModule class> <flag> key="value" key2=value2;``.

Only the options matter to Odradek: PLAIN's broker users (``user_<name>="<password>"``), the
broker's own ``username``/``password`` for inter-broker SASL, OAUTHBEARER's unsecured-validator
options. Values may be double-quoted with backslash escapes, or bare words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FLAGS = ("required", "requisite", "sufficient", "optional")
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s=;"]+)|(=)|(;))', re.S)


class JaasError(ValueError):
    pass


@dataclass
class JaasEntry:
    login_module: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)


def parse(text: str) -> list[JaasEntry]:
    """Parse one sasl.jaas.config value (one or more login module entries, each ending with ';')."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JaasError(f"cannot parse JAAS configuration near {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", m.group(1))))
        elif m.group(2) is not None:
            tokens.append(("word", m.group(2)))
        elif m.group(3):
            tokens.append(("=", "="))
        else:
            tokens.append((";", ";"))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    entries: list[JaasEntry] = []
    i = 0
    while i < len(tokens):
        if tokens[i][0] != "word" or i + 1 >= len(tokens) or tokens[i + 1][0] != "word":
            raise JaasError("a JAAS entry starts with a login module class and a control flag")
        module, flag = tokens[i][1], tokens[i + 1][1].lower()
        if flag not in FLAGS:
            raise JaasError(f"unknown JAAS control flag {tokens[i + 1][1]!r}")
        i += 2
        options = {}
        while i < len(tokens) and tokens[i][0] != ";":
            if i + 2 >= len(tokens) or tokens[i][0] != "word" or tokens[i + 1][0] != "=" or tokens[i + 2][0] not in ("word", "str"):
                raise JaasError("JAAS options are key=value")
            options[tokens[i][1]] = tokens[i + 2][1]
            i += 3
        if i >= len(tokens):
            raise JaasError("a JAAS entry ends with ';'")
        i += 1
        entries.append(JaasEntry(module, flag, options))
    if not entries:
        raise JaasError("empty JAAS configuration")
    return entries


def options(text: str) -> dict[str, str]:
    """The options of the first (usually only) entry."""
    return parse(text)[0].options


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
