"""OpenID Connect sign-in state as the identity platform keeps it: authorization codes bound to their request,
PKCE, and the claims of a v2.0 ID token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from simulator.signing import b64url

ANY_TENANT = ("organizations", "common")
CODE_LIFETIME = 600.0
ID_TOKEN_LIFETIME = 3600


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    computed = verifier if method == "plain" else b64url(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed.encode(), challenge.encode())


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    authority_tenant: str | None  # the tenant the authorize path named; None for organizations or common
    tenant_id: str
    user_id: str
    scopes: frozenset[str]
    nonce: str | None
    challenge: str | None
    method: str
    expires_at: float
    redeemed: bool = False


class CodeStore:
    """Codes for ten minutes, each redeemed once; a redeemed code is remembered so that a replay is told
    so."""

    def __init__(self, lifetime: float = CODE_LIFETIME) -> None:
        self.lifetime = lifetime
        self._codes: dict[str, AuthorizationCode] = {}

    def issue(self, **fields: Any) -> str:
        now = time.monotonic()
        if len(self._codes) > 10_000:
            self._codes = {k: c for k, c in self._codes.items() if c.expires_at > now}
        code = "1.A" + secrets.token_urlsafe(96)
        self._codes[code] = AuthorizationCode(expires_at=now + self.lifetime, **fields)
        return code

    def lookup(self, code: str) -> AuthorizationCode | None:
        return self._codes.get(code)


def client_info(user_id: str, tenant_id: str) -> str:
    return b64url(orjson.dumps({"uid": user_id, "utid": tenant_id}))


def pairwise_subject(tenant_id: str, user_id: str, client_id: str) -> str:
    """Stable for one user and one app, different for another app, as Entra's ``sub`` is."""
    return b64url(hashlib.sha256(f"{tenant_id}:{user_id}:{client_id}".encode()).digest())


def id_token_claims(grant: AuthorizationCode, user: dict[str, Any], issuer: str) -> dict[str, Any]:
    """A v2.0 ID token's payload; name, oid and preferred_username need ``profile``, email needs ``email``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": grant.client_id,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + ID_TOKEN_LIFETIME,
        "aio": b64url(secrets.token_bytes(48)),
        "rh": f"1.A{b64url(secrets.token_bytes(36))}.",
        "sub": pairwise_subject(grant.tenant_id, grant.user_id, grant.client_id),
        "tid": grant.tenant_id,
        "uti": b64url(uuid.uuid4().bytes),
        "ver": "2.0",
    }
    if grant.nonce is not None:
        claims["nonce"] = grant.nonce
    if "profile" in grant.scopes:
        claims.update(
            name=user.get("displayName", ""),
            oid=grant.user_id,
            preferred_username=user.get("userPrincipalName", ""),
        )
    if "email" in grant.scopes and user.get("mail"):
        claims["email"] = user["mail"]
    return claims
