"""Client assertions (private_key_jwt) at the token endpoint, checked as the identity platform documents them.

A JWT signed with RS256 under the ``x5t`` header (the certificate's SHA-1 thumbprint) or PS256 under
``x5t#S256`` (its SHA-256 thumbprint), by a certificate registered on the app; ``aud`` the token endpoint the
request was sent to, ``iss`` and ``sub`` the client id, ``exp`` (and ``nbf`` when present) around now, a
``jti``. A refusal carries Entra's AADSTS code: 700027 for a certificate not registered, expired on the app,
or a signature that does not match; 700024 outside the time range; 700023 for another audience; 700021 for
another client; 50027 for a token that is not a JWT at all.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300  # seconds either side the platform allows
_DOCS = "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials"


@dataclass(frozen=True)
class Refusal:
    error: str
    aadsts: int
    description: str


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _when(moment: datetime) -> str:
    return moment.strftime("%m/%d/%Y %H:%M:%S")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _not_registered(client_id: str, thumbprint: str) -> Refusal:
    return Refusal(
        "invalid_client",
        700027,
        "The certificate with identifier used to sign the client assertion is not registered on application."
        f" [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit"
        " the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id"
        f" '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to"
        " determine the corresponding service endpoint and"
        " https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build"
        " a query request URL, such as"
        f" 'https://graph.microsoft.com/beta/applications/{client_id}']",
    )


def check_assertion(
    assertion: str,
    assertion_type: str,
    client_id: str,
    token_endpoint: str,
    certificates: list[x509.Certificate],
) -> Refusal | None:
    """None when ``assertion`` authenticates ``client_id``; else the platform's refusal."""
    if assertion_type != JWT_BEARER:
        return Refusal(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed. [Reason - the client_assertion_type must be"
            f" '{JWT_BEARER}'.]",
        )
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return Refusal("invalid_client", 50027, "JWT token is invalid or malformed.")
    algorithm = header.get("alg")
    if "x5t#S256" in header and algorithm == "PS256":
        digest, wanted = hashlib.sha256, str(header["x5t#S256"])
    elif "x5t" in header and algorithm in ("RS256", "PS256"):
        digest, wanted = hashlib.sha1, str(header["x5t"])
    else:
        return Refusal("invalid_client", 50027, "JWT token is invalid or malformed.")
    try:
        thumbprint = _b64url_decode(wanted)
    except ValueError:
        return Refusal("invalid_client", 50027, "JWT token is invalid or malformed.")
    shown = thumbprint.hex().upper()
    found = next(
        (
            c
            for c in certificates
            if digest(c.public_bytes(serialization.Encoding.DER)).digest() == thumbprint
        ),
        None,
    )
    if found is None:
        return _not_registered(client_id, shown)
    start, end = found.not_valid_before_utc, found.not_valid_after_utc
    if end <= datetime.now(UTC):
        return Refusal(
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint"
            f" of key used by client: '{shown}', Found key 'Start={_when(start)}, End={_when(end)}']",
        )
    try:
        jwt.decode(
            assertion,
            found.public_key(),  # type: ignore[arg-type]
            algorithms=[str(algorithm)],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        return Refusal(
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature value did not"
            f" match the expected signature value., Thumbprint of key used by client: '{shown}']",
        )
    except jwt.PyJWTError:
        return Refusal("invalid_client", 50027, "JWT token is invalid or malformed.")
    if claims.get("aud") != token_endpoint:
        return Refusal(
            "invalid_client",
            700023,
            "Client assertion audience claim does not match Realm issuer. Review the documentation at"
            f" {_DOCS} .",
        )
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return Refusal(
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the"
            " documentation at"
            f" {_DOCS} .",
        )
    if not claims.get("jti"):
        return Refusal("invalid_client", 50027, "JWT token is invalid or malformed. [Reason - no jti claim.]")
    now = time.time()
    expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
    if (
        not isinstance(expires, (int, float))
        or not isinstance(not_before, (int, float))
        or expires + CLOCK_SKEW < now
        or not_before - CLOCK_SKEW > now
    ):
        return Refusal(
            "invalid_client",
            700024,
            f"Client assertion is not within its valid time range. Current time: {_iso(now)}, assertion valid"
            f" from {_iso(float(not_before or 0))}, expiry time of assertion {_iso(float(expires or 0))}."
            " Review the documentation at"
            f" {_DOCS} .",
        )
    return None
