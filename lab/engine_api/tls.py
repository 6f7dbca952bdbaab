"""Lab CA and server certificate, so clients verify TLS exactly as against a real engine."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"


def _write(path, data, private=False):
    """Write bytes, keeping private keys readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _validity(builder, days):
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=days)
    )


def _load_or_create_ca(state_dir, fqdn):
    """The CA is persisted so clients keep trusting the site across restarts."""
    cert_path, key_path = os.path.join(state_dir, CA_CERT), os.path.join(state_dir, CA_KEY)
    if os.path.exists(cert_path) and os.path.exists(key_path):
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            return x509.load_pem_x509_certificate(c.read()), serialization.load_pem_private_key(k.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lab.example"),
            x509.NameAttribute(NameOID.COMMON_NAME, "%s.lab-ca" % fqdn),
        ]
    )
    builder = _validity(x509.CertificateBuilder(), 3650).subject_name(name).issuer_name(name)
    cert = (
        builder.public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def ensure_certificates(state_dir, fqdn):
    """Return (ca_file, cert_file, key_file); the server cert names 127.0.0.1, localhost and the engine FQDN."""
    ca_cert, ca_key = _load_or_create_ca(state_dir, fqdn)
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName(fqdn), x509.DNSName("localhost")]
    )
    builder = _validity(x509.CertificateBuilder(), 365)
    cert = (
        builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = [os.path.join(state_dir, n) for n in (CA_CERT, SERVER_CERT, SERVER_KEY)]
    _write(paths[1], cert.public_bytes(serialization.Encoding.PEM))
    _write(paths[2], _key_pem(key), private=True)
    return tuple(paths)
