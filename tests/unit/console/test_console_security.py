import base64

import pytest

from odradek.console.parsing import InputError
from odradek.console.security import Csrf, PasswordFile, hash_password, is_loopback, origin_matches


def basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_password_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text(f"# users\nalice:wonder:land\nbob:{hash_password('builder', iterations=1000)}\n")
    pf = PasswordFile.load(f)
    assert pf.check(basic("alice", "wonder:land")) == "alice"
    assert pf.check(basic("alice", "wonder")) is None
    assert pf.check(basic("bob", "builder")) == "bob"
    assert pf.check(basic("bob", "builder")) == "bob"  # from the cache of successful checks
    assert pf.check(basic("bob", "Builder")) is None
    assert pf.check(basic("eve", "x")) is None
    for bad in (None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode()):
        assert pf.check(bad) is None
    f.write_text("just-a-name\n")
    with pytest.raises(InputError, match="line 1 must be user:password"):
        PasswordFile.load(f)
    f.write_text("# nobody\n")
    with pytest.raises(InputError, match="names no user"):
        PasswordFile.load(f)


def test_csrf_tokens_are_bound_to_the_cookie_and_the_secret():
    c = Csrf()
    cookie = c.new_cookie()
    token = c.token(cookie)
    assert c.valid(cookie, token)
    assert not c.valid(c.new_cookie(), token)
    assert not c.valid(cookie, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not c.valid(None, token) and not c.valid(cookie, None)
    assert not Csrf().valid(cookie, token)  # another console (or a restart) does not accept it


def test_origin_and_loopback():
    assert origin_matches(None, "127.0.0.1:8080")
    assert origin_matches("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not origin_matches("http://evil.example", "127.0.0.1:8080")
    assert not origin_matches("null", "127.0.0.1:8080")
    assert not origin_matches("http://127.0.0.1:8080", None)
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")
