"""Access tokens: opaque strings bound to a tenant and an app, with the app's permissions at issue time, and
to the signed-in user for a delegated token."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AccessToken:
    tenant_id: str
    client_id: str
    permissions: frozenset[str]
    expires_at: float
    user_id: str | None = None


class TokenStore:
    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

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
        self._tokens[token] = AccessToken(tenant_id, client_id, permissions, now + lifetime, user_id)
        return token

    def lookup(self, token: str) -> AccessToken | None:
        return self._tokens.get(token)

    def expire_tenant(self, tenant_id: str) -> None:
        now = time.monotonic()
        for key, token in self._tokens.items():
            if token.tenant_id == tenant_id and token.expires_at > now:
                self._tokens[key] = replace(token, expires_at=now)
