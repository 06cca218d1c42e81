"""The identity platform's token signing key: an RSA key with a self-signed certificate, published as a JWK
and used to sign ID tokens with RS256."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class SigningKey:
    """A 2048-bit RSA key; its ``kid`` is the certificate's SHA-1 thumbprint, as Entra's kid and x5t are."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(self.private_key, hashes.SHA256())
        )
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.kid = b64url(hashlib.sha1(der).digest())
        self._der = der

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int(numbers.n),
            "e": _int(numbers.e),
            "x5c": [base64.b64encode(self._der).decode()],
            "cloud_instance_name": "microsoftonline.com",
            "issuer": issuer,
        }

    def sign(self, claims: dict[str, Any], foreign: bool = False) -> str:
        """An RS256 JWT with this key's kid; ``foreign`` signs it with a new key instead, which nothing
        publishes."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if foreign else self.private_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
