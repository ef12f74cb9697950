"""Create the private CA and the one certificate that SeaweedFS's components use for mutual TLS on gRPC.

Usage: seaweedfs_certs.py DIR   (run with the services venv's Python, which has ``cryptography``)

SeaweedFS's master, volume server, filer and S3 gateway talk to each other over gRPC, and by default anyone who can
reach those ports can list, read and delete every file (``weed shell`` needs no credentials). With a CA in
``security.toml``'s ``[grpc]`` section, each gRPC server accepts only clients presenting a certificate that CA
signed. The CA's key is thrown away once the certificate is signed, so nobody can sign another one; the
certificate's key stays in DIR (mode 0600, inside the stack's 0700 state folder).
Files that exist are kept, so the certificates survive restarts. Written with ``cryptography`` because Python's
standard library cannot create certificates and ``openssl`` is not on every machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, private, serialization.NoEncryption())


def create_certificates(folder: Path) -> None:
    """Create ``ca.crt`` and ``node.crt``/``node.key`` in ``folder`` unless they exist (the CA key is not kept)."""
    if all((folder / name).exists() for name in ("ca.crt", "node.crt", "node.key")):
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "engagement-mlops local SeaweedFS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seaweedfs")]))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    _write(folder / "node.key", _pem_key(node_key))
    _write(folder / "node.crt", node.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: seaweedfs_certs.py DIR")
    create_certificates(Path(sys.argv[1]))
