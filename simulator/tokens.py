"""Access tokens bound to a tenant and an app, with the app's permissions at issue time, and to the signed-in
user for a delegated token.

An app-only token is a signed JWT shaped as the identity platform's v1 tokens for Graph are: ``aud``
``https://graph.microsoft.com``, ``tid``, ``appid``, ``idtyp`` ``app`` and the application permissions
granted at issue time in ``roles`` (left out when there are none). A client reads ``roles`` to learn what it
may do; it cannot check the signature, which only Graph does. A delegated token stays an opaque string."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

GRAPH_AUDIENCE = "https://graph.microsoft.com"


@dataclass(frozen=True)
class AccessToken:
    tenant_id: str
    client_id: str
    permissions: frozenset[str]
    expires_at: float
    user_id: str | None = None


class TokenStore:
    def __init__(self, sign: Callable[[dict[str, Any]], str] | None = None) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._sign = sign

    def issue(
        self,
        tenant_id: str,
        client_id: str,
        permissions: frozenset[str],
        lifetime: float,
        user_id: str | None = None,
    ) -> str:
        now = time.monotonic()
        if len(self._tokens) > 10_000:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
        token = secrets.token_urlsafe(48)
        if user_id is None and self._sign is not None:
            token = self._sign(app_claims(tenant_id, client_id, permissions, lifetime))
        self._tokens[token] = AccessToken(tenant_id, client_id, permissions, now + lifetime, user_id)
        return token

    def lookup(self, token: str) -> AccessToken | None:
        return self._tokens.get(token)

    def expire_tenant(self, tenant_id: str) -> None:
        now = time.monotonic()
        for key, token in self._tokens.items():
            if token.tenant_id == tenant_id and token.expires_at > now:
                self._tokens[key] = replace(token, expires_at=now)


def app_claims(
    tenant_id: str, client_id: str, permissions: frozenset[str], lifetime: float
) -> dict[str, Any]:
    """The claims of an app-only access token for Graph (client credentials)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": GRAPH_AUDIENCE,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + int(lifetime),
        "appid": client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{client_id}")),
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{client_id}")),
        "tid": tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }
    if permissions:
        claims["roles"] = sorted(permissions)
    return claims
