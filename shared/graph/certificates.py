"""Client certificates of an own app (R1): read from PEM, checked, and kept as one encrypted credential.

A certificate credential is the app's private key with either the certificate itself (its thumbprints and
expiry are read from it) or the SHA-1 thumbprint the app registration shows for it (expiry unknown). It is
stored in the same encrypted column as a client secret, as JSON that starts with ``MARK``: what the column
holds says which kind it is, wherever a copy of it goes (a retired subscription keeps one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MARK = '{"kind":"certificate"'
_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_KEY_BLOCK = re.compile(r"-----BEGIN ((?:RSA |ENCRYPTED )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


class CertificateInvalid(ValueError):
    """The certificate or key cannot be used; ``field`` names the request field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CertificateKey:
    """What msal signs a client assertion with: the private key (PEM), the certificate's SHA-1 thumbprint
    (hex) and, when known, the certificate (PEM) and its expiry."""

    private_key: str = field(repr=False)
    thumbprint: str
    certificate: str | None = None
    expires_at: datetime | None = None

    def msal_credential(self) -> dict[str, str]:
        """msal's ``client_credential``: with the certificate, msal signs with PS256 under its SHA-256
        thumbprint (``x5t#S256``) and sends it (``x5c``); with a thumbprint alone, RS256 under ``x5t``."""
        if self.certificate is not None:
            return {"private_key": self.private_key, "public_certificate": self.certificate}
        return {"private_key": self.private_key, "thumbprint": self.thumbprint}

    def dumps(self) -> str:
        body = {
            "private_key": self.private_key,
            "thumbprint": self.thumbprint,
            "certificate": self.certificate,
        }
        return MARK + "," + json.dumps(body, separators=(",", ":"))[1:]

    @classmethod
    def loads(cls, text: str) -> CertificateKey | None:
        """The certificate credential ``text`` holds; None when it is a client secret."""
        if not text.startswith(MARK):
            return None
        body = json.loads(text)
        certificate = body.get("certificate")
        expires = _load_certificates(certificate)[0].not_valid_after_utc if certificate else None
        return cls(body["private_key"], body["thumbprint"], certificate, expires)


def _load_certificates(text: str) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(block.encode()) for block in _CERT_BLOCK.findall(text)]


def _load_key(text: str, field: str) -> rsa.RSAPrivateKey:
    found = _KEY_BLOCK.search(text)
    if found is None:
        raise CertificateInvalid(field, "no PEM private key (-----BEGIN PRIVATE KEY-----) was found")
    if found.group(1) == "ENCRYPTED PRIVATE KEY":
        raise CertificateInvalid(field, "the private key is encrypted: give it without a passphrase")
    try:
        key = serialization.load_pem_private_key(found.group(0).encode(), password=None)
    except (ValueError, TypeError):
        raise CertificateInvalid(field, "the private key is not a readable PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise CertificateInvalid(field, "the private key must be an RSA key of 2048 bits or more")
    return key


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def from_certificate(
    certificate_pem: str, private_key_pem: str | None, now: datetime | None = None
) -> CertificateKey:
    """A credential from a PEM certificate whose private key is in the same text or in ``private_key_pem``;
    CertificateInvalid for a malformed PEM, a key that is not the certificate's, or an expired certificate."""
    now = now or datetime.now(UTC)
    try:
        certificates = _load_certificates(certificate_pem)
    except ValueError:
        raise CertificateInvalid(
            "client_certificate", "the certificate is not a readable PEM certificate"
        ) from None
    if not certificates:
        raise CertificateInvalid(
            "client_certificate", "no PEM certificate (-----BEGIN CERTIFICATE-----) was found"
        )
    certificate = certificates[0]
    if private_key_pem:
        key = _load_key(private_key_pem, "private_key")
    else:
        key = _load_key(certificate_pem, "client_certificate")
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != certificate.public_key().public_bytes(*public):
        raise CertificateInvalid(
            "private_key" if private_key_pem else "client_certificate",
            "the private key does not belong to the certificate",
        )
    expires = certificate.not_valid_after_utc
    if expires <= now:
        raise CertificateInvalid(
            "client_certificate", f"the certificate expired on {expires.isoformat()}: make a new one"
        )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()
    return CertificateKey(_pem(key), thumbprint, pem, expires)


def from_thumbprint(thumbprint: str, private_key_pem: str) -> CertificateKey:
    """A credential from the thumbprint the app registration shows and the certificate's private key (which
    cannot be checked against a certificate it does not have; its expiry is unknown)."""
    if not _THUMBPRINT.match(thumbprint):
        raise CertificateInvalid(
            "certificate_thumbprint",
            "the thumbprint must be the certificate's SHA-1 thumbprint, 40 hex digits",
        )
    return CertificateKey(_pem(_load_key(private_key_pem, "private_key")), thumbprint.upper())
