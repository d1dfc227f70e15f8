"""How record bytes are shown: text, JSON (pretty-printed), or hex; truncated past a limit.

Nothing here produces HTML: the results are plain strings that the pages escape.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

__all__ = ["Decoded", "decode_bytes", "hexdump", "search_text"]

#: Shown inline in the message list; the record page shows up to FULL_LIMIT.
PREVIEW_LIMIT = 1024
FULL_LIMIT = 256 * 1024

_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


@dataclass(frozen=True)
class Decoded:
    """``kind`` is ``null``, ``text``, ``json`` or ``hex``; ``text`` is what to show (already
    truncated when ``truncated``); ``size`` is the length of the original bytes."""

    kind: str
    text: str
    size: int
    truncated: bool = False


def _printable(s: str) -> bool:
    for ch in s:
        if ch < " " or "\x7f" <= ch <= "\x9f":
            if ch not in _ALLOWED_CONTROLS:
                return False
        elif ch in "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff":
            continue  # invisible but harmless as text (escaped like everything else)
        elif unicodedata.category(ch) == "Cs":
            return False
    return True


def _utf8_prefix(data: bytes) -> str | None:
    """``data`` decoded as UTF-8, allowing a character cut at the very end (a truncation)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and e.start >= len(data) - 3:
            try:
                return data[: e.start].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None


def decode_bytes(data: bytes | bytearray | memoryview | None, limit: int = PREVIEW_LIMIT, *, hex_limit: int | None = None) -> Decoded:
    """Text when ``data`` is printable UTF-8, JSON pretty-printed when it parses as a JSON object
    or array, hex otherwise. At most ``limit`` bytes are looked at and shown (``hex_limit`` as
    hex, where a byte takes a screen's width of four characters)."""
    if data is None:
        return Decoded("null", "", 0)
    data = bytes(data)
    size = len(data)
    truncated = size > limit
    head = data[:limit] if truncated else data
    text = _utf8_prefix(head)
    if text is not None and _printable(text):
        if not truncated:
            stripped = text.lstrip()
            if stripped[:1] in ("{", "["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    pass
                else:
                    return Decoded("json", json.dumps(parsed, indent=2, ensure_ascii=False), size)
        return Decoded("text", text, size, truncated)
    if hex_limit is not None and len(head) > hex_limit:
        head, truncated = head[:hex_limit], True
    return Decoded("hex", hexdump(head), size, truncated)


def hexdump(data: bytes, width: int = 16) -> str:
    """``hexdump -C`` style: offset, hex bytes, printable ASCII."""
    lines = []
    for pos in range(0, len(data), width):
        chunk = data[pos : pos + width]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{pos:08x}  {hexpart:<{width * 3 - 1}}  |{text}|")
    return "\n".join(lines)


def search_text(data: bytes | None) -> str:
    """What a filter matches against: the bytes as UTF-8 (bad bytes replaced), lower-cased."""
    if data is None:
        return ""
    return bytes(data).decode("utf-8", "replace").casefold()
