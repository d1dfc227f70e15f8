"""odradek user create/delete --log-dir: SCRAM credentials written straight into a (stopped)
single-node broker's embedded metadata store, in Kafka's credential format."""

from __future__ import annotations

from odradek.cli.main import main
from odradek.metadata.store import EmbeddedStore
from odradek.security import scram


def test_offline_create_change_and_delete(tmp_path, capsys):
    d = str(tmp_path / "data")
    assert main(["user", "create", "admin", "--password", "s3cret", "--mechanism", "SCRAM-SHA-256",
                 "--mechanism", "SCRAM-SHA-512", "--iterations", "8192", "--log-dir", d]) == 0
    creds = EmbeddedStore(tmp_path / "data").scram_credentials()["admin"]
    assert set(creds) == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
    c = scram.ScramCredential.from_kafka(creds["SCRAM-SHA-512"])
    assert c.iterations == 8192
    # the stored keys are the password's: a SCRAM exchange with it succeeds, with another fails
    server = scram.ScramServer("SCRAM-SHA-512", lambda user: c if user == "admin" else None)
    client = scram.ScramClient("SCRAM-SHA-512", "admin", "s3cret")
    client.verify(server.step(client.final(server.step(client.first()))))
    assert main(["user", "delete", "admin", "--mechanism", "SCRAM-SHA-256", "--log-dir", d]) == 0
    assert set(EmbeddedStore(tmp_path / "data").scram_credentials()["admin"]) == {"SCRAM-SHA-512"}
    assert main(["user", "delete", "admin", "--log-dir", d]) == 0
    assert "admin" not in EmbeddedStore(tmp_path / "data").scram_credentials()
    assert main(["user", "delete", "admin", "--log-dir", d]) == 1  # nothing left to delete
    assert main(["user", "create", "x", "--password", "p", "--iterations", "100", "--log-dir", d]) == 2
    assert main(["user", "create", "x", "--password", "p", "--log-dir", d, "--zookeeper", "127.0.0.1:1"]) == 2
    assert "RESOURCE_NOT_FOUND" in capsys.readouterr().out
