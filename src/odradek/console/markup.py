"""HTML built safely: every value is escaped unless it is already :class:`Markup`.

Pages are assembled from small templates with :func:`html`, which escapes each argument it
interpolates (keys, values and headers of records, topic and group names, error messages), so a
record holding ``<script>`` shows as text. Only strings this module returns are trusted::

    html("<td>{}</td>", record_value)                     # escaped
    html("<ul>{}</ul>", join(html("<li>{}</li>", n) for n in names))
    html('<a href="{}">{}</a>', url("/topics", name), name)
"""

from __future__ import annotations

import html as _html
import string
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["Markup", "escape", "html", "join", "url", "attrs"]


class Markup(str):
    """A string that is already HTML: interpolated as is."""

    __slots__ = ()

    def __add__(self, other: object) -> "Markup":
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other: object) -> "Markup":
        return Markup(str.__add__(escape(other), self))

    def __html__(self) -> str:
        return self


def escape(value: object) -> Markup:
    """``value`` as HTML text: Markup as is, None as the empty string, anything else escaped
    (``& < > " '``), safe both in element content and in quoted attribute values."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(_html.escape(str(value), quote=True))


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markup):
            return value
        return escape(format(value, format_spec) if format_spec else value)


_FORMATTER = _Formatter()


def html(template: str, *args: Any, **kwargs: Any) -> Markup:
    """``template.format(*args, **kwargs)`` with every argument escaped (Markup kept as is).

    The template itself is trusted: it is always a literal in this package."""
    return Markup(_FORMATTER.vformat(template, args, kwargs))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """Concatenate, escaping each part that is not Markup."""
    return Markup(sep.join(escape(p) for p in parts))


def url(*segments: object, query: Mapping[str, Any] | None = None) -> str:
    """A path from segments, each percent-encoded as one path segment (a group id holding ``/``
    stays one segment), plus an optional query string (None values left out). The first
    segment is taken as the literal prefix (``"/topics"``)."""
    if not segments:
        raise ValueError("url() needs a prefix")
    head = str(segments[0])
    tail = "".join("/" + quote(str(s), safe="") for s in segments[1:])
    out = head.rstrip("/") + tail if tail else head
    if query:
        items = [(k, v) for k, v in query.items() if v is not None and v != ""]
        if items:
            out += "?" + urlencode(items)
    return out


def attrs(**values: Any) -> Markup:
    """Attributes from keywords (``data_x`` becomes ``data-x``); True is a bare attribute,
    False and None are left out."""
    out = []
    for k, v in values.items():
        name = k.rstrip("_").replace("_", "-")
        if v is None or v is False:
            continue
        if v is True:
            out.append(f" {name}")
        else:
            out.append(f' {name}="{escape(v)}"')
    return Markup("".join(out))
