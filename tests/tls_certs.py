"""A throwaway certificate authority for TLS tests: a CA, a broker certificate for 127.0.0.1 and
localhost, and client certificates with a chosen subject, as PEM files (and PKCS12 stores)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def _name(dn: dict[str, str]) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "O": NameOID.ORGANIZATION_NAME,
            "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "C": NameOID.COUNTRY_NAME}
    # x509 names are written least specific first: C, ST, L, O, OU, CN
    order = ["C", "ST", "L", "O", "OU", "CN"]
    return x509.Name([x509.NameAttribute(oids[k], dn[k]) for k in order if k in dn])


@dataclass
class Issued:
    cert: Path  # PEM certificate (chain: leaf, CA)
    key: Path  # PEM PKCS#8 key
    combined: Path  # key + chain in one PEM (Kafka's PEM keystore file)
    p12: Path  # PKCS12 keystore, password "changeit"


class CA:
    def __init__(self, root: Path, name: str = "Odradek Test CA") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = _name({"CN": name, "O": "Odradek"})
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.root / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, dn: dict[str, str], *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (
            x509.CertificateBuilder().subject_name(_name(dn)).issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
        )
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        out = Issued(self.root / f"{stem}.crt", self.root / f"{stem}.key", self.root / f"{stem}.pem",
                     self.root / f"{stem}.p12")
        out.cert.write_bytes(chain)
        out.key.write_bytes(key_pem)
        out.combined.write_bytes(key_pem + chain)
        out.p12.write_bytes(pkcs12.serialize_key_and_certificates(
            stem.encode(), key, cert, [self.cert], serialization.BestAvailableEncryption(b"changeit")))
        return out
