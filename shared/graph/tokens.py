"""App-only tokens for Graph from msal (client credentials), one msal app per tenant and client id (R1)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from shared.graph.certificates import CertificateKey
from shared.graph.errors import GraphUnavailable, token_error

log = logging.getLogger(__name__)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PUBLIC_CLOUD_HOSTS = frozenset({"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"})
EARLY_REFRESH = 300.0  # seconds before expiry a token counts as stale
HTTP_TIMEOUT = 30.0
CHECK_TIMEOUT = 10.0  # per request of a credential check, which a person waits for


@dataclass(frozen=True)
class Credentials:
    """An app's credentials: a client secret, or a certificate whose key signs a client assertion."""

    tenant_id: str
    client_id: str
    secret: str = field(repr=False)
    certificate: CertificateKey | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Tenant, client id and a digest of the secret (or key): a rotated one never meets the old one's
        token."""
        material = self.certificate.dumps() if self.certificate else self.secret
        return self.tenant_id, self.client_id, hashlib.sha256(material.encode()).hexdigest()

    def msal_credential(self) -> str | dict[str, str]:
        return self.certificate.msal_credential() if self.certificate else self.secret


class _Session(requests.Session):
    """requests for msal: our CA bundle on every request (REQUESTS_CA_BUNDLE beats a session's verify)."""

    def __init__(self, ca_file: str | None, timeout: float = HTTP_TIMEOUT):
        super().__init__()
        self._verify: str | bool = ca_file or True
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        if self._verify is not True:
            kwargs["verify"] = self._verify
        return super().request(method, url, **kwargs)


def msal_http(ca_file: str | None) -> requests.Session:
    """The HTTP client msal should use: it trusts ``ca_file`` besides the system's CAs and times out."""
    return _Session(ca_file)


class TokenProvider:
    """One msal ConfidentialClientApplication per (tenant, client id, secret), used off the event loop; a
    rotated secret gets an app of its own, never the old secret's cached token."""

    def __init__(self, authority_url: str, ca_file: str | None = None):
        self.authority_url = authority_url.rstrip("/")
        self.ca_file = ca_file
        self._apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
        self._tokens: dict[tuple[str, str, str], tuple[str, float, float]] = {}  # token, stale at, issued at
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        # One HTTP session for every tenant's app: its connections are kept alive, so that a tenant's first
        # token (its OpenID configuration, then the token itself) costs no TLS handshakes of its own.
        self._http: _Session | None = None

    async def token(self, creds: Credentials) -> str:
        key = creds.key
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            app = await self._app(creds)
            result = await asyncio.to_thread(self._acquire, app)
            return self._remember(creds, result)

    async def check(self, creds: Credentials, timeout: float = CHECK_TIMEOUT) -> str:
        """Take a token for ``creds`` from the identity platform now, whatever is cached, and return it, or
        raise the typed error when none is given. Only a token given is kept, for the next Graph request: the
        msal app is made for this one request, so credentials refused, however many, leave nothing behind."""
        session = _Session(self.ca_file, timeout)
        try:
            app = await asyncio.to_thread(self._build, creds, session)
            result = await asyncio.to_thread(self._acquire, app)
        finally:
            session.close()
        return self._remember(creds, result)

    async def refresh(self, creds: Credentials, stale: str, unless_younger_than: float = 0.0) -> str | None:
        """A new token after Graph refused ``stale`` (unless another request already replaced it); None, and
        ``stale`` stands, when it was issued less than ``unless_younger_than`` seconds ago.

        The age matters for a 403: an app-only token carries the permissions the app had when it was issued,
        so a permission an admin granted since (the usual fix for that 403) only comes with a new one, while a
        token issued a moment ago already has the grants there are (a run that truly lacks a permission then
        asks for a new token once in that time, however many of its requests are refused)."""
        key = creds.key
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached and cached[0] != stale:
                return cached[0]
            if cached and time.monotonic() - cached[2] < unless_younger_than:
                return None
            self._tokens.pop(key, None)
            app = await self._app(creds)
            result = await asyncio.to_thread(self._acquire, app, True)
            return self._remember(creds, result)

    def _remember(self, creds: Credentials, result: dict[str, Any]) -> str:
        if "access_token" not in result:
            raise token_error(
                result, creds.tenant_id, creds.client_id, certificate=creds.certificate is not None
            )
        lifetime = float(result.get("expires_in") or 0)
        now = time.monotonic()
        self._tokens[creds.key] = (result["access_token"], now + max(0.0, lifetime - EARLY_REFRESH), now)
        return result["access_token"]

    async def _app(self, creds: Credentials) -> msal.ConfidentialClientApplication:
        app = self._apps.get(creds.key)
        if app is None:
            if self._http is None:
                self._http = _Session(self.ca_file)
            app = self._apps[creds.key] = await asyncio.to_thread(self._build, creds, self._http)
        return app

    def _build(self, creds: Credentials, session: requests.Session) -> msal.ConfidentialClientApplication:
        authority = f"{self.authority_url}/{creds.tenant_id}"
        public = urlsplit(self.authority_url).hostname in PUBLIC_CLOUD_HOSTS
        try:
            return msal.ConfidentialClientApplication(
                creds.client_id,
                client_credential=creds.msal_credential(),
                authority=authority,
                http_client=session,
                instance_discovery=None if public else False,
            )
        except ValueError as exc:  # msal could not read the tenant's OpenID configuration: an unknown tenant
            log.warning("msal refused the authority %s: %s", authority, exc)
            raise token_error({"error": "invalid_tenant"}, creds.tenant_id, creds.client_id) from exc
        except (TypeError, KeyError) as exc:  # msal read the certificate credential and refused it
            raise token_error(
                {"error": "invalid_client", "error_description": f"the certificate cannot be used: {exc}"},
                creds.tenant_id,
                creds.client_id,
                certificate=True,
            ) from exc
        except requests.RequestException as exc:
            raise GraphUnavailable(
                f"the identity platform at {self.authority_url} could not be reached: {exc}"
            ) from exc

    @staticmethod
    def _acquire(app: msal.ConfidentialClientApplication, drop_cached: bool = False) -> dict[str, Any]:
        if drop_cached:
            # msal refuses force_refresh for client credentials; emptying its cached access tokens is the way.
            cache = app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        try:
            return app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except requests.RequestException as exc:
            return {
                "error": "temporarily_unavailable",
                "error_description": f"the identity platform could not be reached: {exc}",
            }
