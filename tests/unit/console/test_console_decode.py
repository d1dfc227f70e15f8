from odradek.console.decode import decode_bytes, hexdump, search_text


def test_text_json_hex_and_null():
    assert decode_bytes(None).kind == "null"
    assert decode_bytes(b"").kind == "text"
    assert decode_bytes("héllo\n\tworld".encode()).text == "héllo\n\tworld"
    d = decode_bytes(b'{"a": [1, 2], "b": "\xc3\xa9"}')
    assert d.kind == "json" and d.text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": "é"\n}'
    assert decode_bytes(b"[1,2").kind == "text"  # not JSON: shown as it is
    assert decode_bytes(b"42").kind == "text"  # only objects and arrays are pretty-printed
    assert decode_bytes(b"\x00\x01abc").kind == "hex"
    assert decode_bytes(b"\xff\xfe").kind == "hex"
    assert decode_bytes("bell\x07".encode()).kind == "hex"
    assert decode_bytes("\u202eevil".encode()).kind == "text"  # escaped like any text


def test_truncation_keeps_whole_characters():
    d = decode_bytes(("é" * 10).encode(), limit=5)  # 5 bytes: two whole é and half of one
    assert d.kind == "text" and d.text == "éé" and d.truncated and d.size == 20
    big = b'{"a": "' + b"x" * 2000 + b'"}'
    d = decode_bytes(big, limit=100)
    assert d.kind == "text" and d.truncated and len(d.text) == 100  # a cut JSON is shown as text
    d = decode_bytes(bytes(1000), limit=1000, hex_limit=32)
    assert d.kind == "hex" and d.truncated and d.text.count("\n") == 1


def test_hexdump_and_search():
    assert hexdump(b"AB\x00") == "00000000  41 42 00" + " " * 39 + "  |AB.|"
    assert search_text(b"Hello \xff") == "hello \ufffd"
    assert search_text(None) == ""
