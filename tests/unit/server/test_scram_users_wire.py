"""AlterUserScramCredentials (KIP-554) over a real socket: every refusal a deletion or an upsertion
can get, per user, and a user with any error changes nothing; DescribeUserScramCredentials shows
what was stored."""

from __future__ import annotations

import hashlib
import os

from odradek.protocol.errors import ErrorCode
from wire import ask

ALTER, DESCRIBE = 51, 50
SHA256, SHA512 = 1, 2


def _upsert(name: str, mechanism: int = SHA256, iterations: int = 4096, salt: bytes | None = None, salted: bytes | None = None) -> dict:
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", b"secret", salt, iterations) if salted is None else salted
    return {"name": name, "mechanism": mechanism, "iterations": iterations, "salt": salt, "salted_password": salted}


def _alter(port: int, deletions: list[dict], upsertions: list[dict]) -> dict[str, tuple[int, str | None]]:
    r = ask(port, ALTER, 0, {"deletions": deletions, "upsertions": upsertions})
    return {x.user: (x.error_code, x.error_message) for x in r.results}


def _described(port: int, names: list[str]) -> dict[str, tuple[int, list[tuple[int, int]]]]:
    r = ask(port, DESCRIBE, 0, {"users": [{"name": n} for n in names]})
    assert r.error_code == ErrorCode.none, r
    return {x.user: (x.error_code, [(i.mechanism, i.iterations) for i in x.credential_infos]) for x in r.results}


def test_alter_user_scram_credentials_refusals_per_user(shared_broker):
    port = shared_broker.port
    assert _alter(port, [], [_upsert("su-alice"), _upsert("su-alice", SHA512, 8192)]) == {"su-alice": (ErrorCode.none, None)}
    got = _alter(port, [
        {"name": "", "mechanism": SHA256},
        {"name": "su-bob", "mechanism": 3},
        {"name": "su-carol", "mechanism": SHA256},
        {"name": "su-dave", "mechanism": SHA256},
        {"name": "su-hank", "mechanism": SHA512},
    ], [
        _upsert("su-carol"),
        _upsert("su-erin", iterations=100),
        _upsert("su-frank", SHA512, iterations=20000),
        _upsert("su-gina", salt=b""),
        _upsert("su-hank"),
        _upsert("su-ivy", SHA512),
    ])
    assert {u: code for u, (code, _m) in got.items()} == {
        "": ErrorCode.unacceptable_credential,
        "su-bob": ErrorCode.unsupported_sasl_mechanism,
        "su-carol": ErrorCode.duplicate_resource,
        "su-dave": ErrorCode.resource_not_found,
        "su-hank": ErrorCode.resource_not_found,  # its deletion fails: its upsertion is not applied either
        "su-erin": ErrorCode.unacceptable_credential,
        "su-frank": ErrorCode.unacceptable_credential,
        "su-gina": ErrorCode.unacceptable_credential,
        "su-ivy": ErrorCode.none,
    }, got
    assert got["su-bob"][1] == "Unknown SCRAM mechanism 3"
    assert got["su-carol"][1] == "A user credential cannot be altered twice in the same request: su-carol"
    assert got["su-dave"][1] == "Attempt to delete a user credential that does not exist: su-dave"
    assert (got["su-erin"][1], got["su-frank"][1]) == ("Too few iterations: 100", "Too many iterations: 20000")
    assert got["su-gina"][1] == "salt and salted password must not be empty"

    d = _described(port, ["su-alice", "su-hank", "su-ivy", "su-erin"])
    assert d["su-alice"] == (ErrorCode.none, [(SHA256, 4096), (SHA512, 8192)])
    assert d["su-ivy"] == (ErrorCode.none, [(SHA512, 4096)])
    assert d["su-hank"][0] == d["su-erin"][0] == ErrorCode.resource_not_found

    assert _alter(port, [{"name": "su-alice", "mechanism": SHA256}], []) == {"su-alice": (ErrorCode.none, None)}
    assert _described(port, ["su-alice"])["su-alice"] == (ErrorCode.none, [(SHA512, 8192)])
