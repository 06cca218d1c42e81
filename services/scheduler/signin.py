"""Signing an admin in with Microsoft: OpenID Connect's authorization code flow with PKCE.

msal builds the request (state, nonce, PKCE) and redeems the code; msal does not check the ID token, so this
module does, as the identity platform documents for a multi-tenant app: an RS256 signature by a key of the
discovery document's ``jwks_uri``, the issuer for the token's own ``tid``, the audience, the nonce and the
expiry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
import msal
import requests

from shared.graph.tokens import PUBLIC_CLOUD_HOSTS, msal_http
from shared.settings import Settings

log = logging.getLogger(__name__)
SCOPES = ["email"]  # msal adds openid, profile and offline_access itself
LEEWAY = 120  # seconds of clock skew allowed on exp, nbf and iat, as msal allows
KEYS_TTL = 3600.0
KEYS_REFETCH_AFTER = 60.0  # an unknown kid fetches the keys again, at most this often
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class SignInError(Exception):
    """The sign-in cannot be completed; the message says why, for the person signing in."""


class SignInUnavailable(SignInError):
    """The identity platform did not answer, or sign-in is not configured."""


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    object_id: str
    email: str | None
    name: str


def person_email(claims: dict[str, Any]) -> str | None:
    """The email a signed-in person is known by: their user principal name, or ``email`` when its domain is
    the principal name's.

    The ``email`` claim is whatever the user's tenant put in ``mail``, so a hostile tenant can write anyone's
    address there; a user principal name's domain is one the tenant has verified as its own, so an address on
    that domain is vouched for. A guest's principal name (``…#EXT#@…``) names no mailbox and is not used."""
    upn = str(claims.get("preferred_username") or "").strip()
    upn = upn if "@" in upn and "#EXT#" not in upn.upper() else ""
    email = str(claims.get("email") or "").strip()
    if email and upn and email.rpartition("@")[2].lower() == upn.rpartition("@")[2].lower():
        return email
    return upn or None


class SignIn:
    """The platform app's sign-in. Made once per API process; its msal app and the signing keys are shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.authority = settings.authority_url.rstrip("/")
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = asyncio.Lock()
        self._discovery: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_at = 0.0
        self._keys_lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.app_client_id and self.settings.app_client_secret)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def start(self, redirect_uri: str, login_hint: str | None = None) -> dict[str, Any]:
        """msal's flow for one round trip: its ``auth_uri`` goes to the browser, the rest stays server-side. A
        ``login_hint`` (a username) fills in the platform's sign-in page, as a link to a named person's
        sign-in."""
        app = await self._msal()
        prompt = None if login_hint else "select_account"
        return await asyncio.to_thread(
            app.initiate_auth_code_flow,
            SCOPES,
            redirect_uri=redirect_uri,
            prompt=prompt,
            login_hint=login_hint,
        )

    async def finish(self, flow: dict[str, Any], answer: dict[str, str]) -> Identity:
        """The person the platform signed in, from the redirect's ``answer``; SignInError unless every check
        holds."""
        app = await self._msal()
        try:
            result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, answer)
        except (ValueError, RuntimeError) as exc:  # msal: the state or the nonce does not match the flow
            raise SignInError(f"the sign-in answer does not match its request: {exc}") from None
        except requests.RequestException as exc:
            raise SignInUnavailable(f"the identity platform could not be reached: {exc}") from None
        if "id_token" not in result:
            description = str(result.get("error_description") or result.get("error") or "no ID token")
            raise SignInError(f"the identity platform refused the sign-in: {description.splitlines()[0]}")
        claims = await self.verify(result["id_token"], nonce=_nonce_hash(flow.get("nonce", "")))
        return Identity(
            tenant_id=claims["tid"],
            object_id=claims["oid"],
            email=person_email(claims),
            name=str(claims.get("name") or ""),
        )

    async def verify(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, nonce and times check out."""
        try:
            header = jwt.get_unverified_header(id_token)
            unverified = jwt.decode(id_token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise SignInError(f"the ID token cannot be read: {exc}") from None
        if header.get("alg") != "RS256":
            raise SignInError("the ID token is not signed with RS256")
        tenant_id = str(unverified.get("tid") or "")
        if not _GUID.match(tenant_id):
            raise SignInError("the ID token names no tenant")
        key = await self._key(str(header.get("kid") or ""))
        discovery = await self._discovered()
        issuer = str(discovery["issuer"]).replace("{tenantid}", tenant_id)
        try:
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.settings.app_client_id,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "nbf", "aud", "iss", "tid", "oid", "nonce"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInError(f"the ID token failed a check: {exc}") from None
        if claims["nonce"] != nonce:
            raise SignInError("the ID token was issued for another sign-in (its nonce does not match)")
        if not _GUID.match(str(claims["oid"])):
            raise SignInError("the ID token names no user object")
        return claims

    async def _msal(self) -> msal.ConfidentialClientApplication:
        if not self.configured:
            raise SignInUnavailable(
                "sign-in with Microsoft is not configured: set CARDSYNC_APP_CLIENT_ID and "
                "CARDSYNC_APP_CLIENT_SECRET"
            )
        async with self._app_lock:
            if self._app is None:
                self._app = await asyncio.to_thread(self._build)
        return self._app

    def _build(self) -> msal.ConfidentialClientApplication:
        public = urlsplit(self.authority).hostname in PUBLIC_CLOUD_HOSTS
        secret = self.settings.app_client_secret
        try:
            return msal.ConfidentialClientApplication(
                self.settings.app_client_id,
                client_credential=secret.get_secret_value() if secret else None,
                authority=f"{self.authority}/organizations",
                http_client=msal_http(self.settings.ca_file),
                instance_discovery=None if public else False,
            )
        except (ValueError, requests.RequestException) as exc:
            raise SignInUnavailable(
                f"the identity platform at {self.authority} could not be read: {exc}"
            ) from None

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context), timeout=aiohttp.ClientTimeout(total=15)
            )
        try:
            async with self._http.get(url) as resp:
                resp.raise_for_status()
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInUnavailable(f"the identity platform's {url} could not be read: {exc}") from None

    async def _discovered(self) -> dict[str, Any]:
        if self._discovery is None:
            document = await self._get_json(
                f"{self.authority}/organizations/v2.0/.well-known/openid-configuration"
            )
            if not isinstance(document.get("jwks_uri"), str) or not isinstance(document.get("issuer"), str):
                raise SignInUnavailable(
                    "the identity platform's discovery document names no jwks_uri or issuer"
                )
            self._discovery = document
        return self._discovery

    async def _key(self, kid: str) -> jwt.PyJWK:
        async with self._keys_lock:
            age = time.monotonic() - self._keys_at
            if age > KEYS_TTL or (kid not in self._keys and age > KEYS_REFETCH_AFTER):
                jwks = await self._get_json((await self._discovered())["jwks_uri"])
                self._keys = _signing_keys(jwks)
                self._keys_at = time.monotonic()
        if kid not in self._keys:
            raise SignInError("the ID token is signed by a key the identity platform does not publish")
        return self._keys[kid]


def _signing_keys(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in jwks.get("keys") or []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm="RS256")
        except (KeyError, jwt.PyJWTError) as exc:
            log.warning("a published signing key cannot be read: %s", exc)
    return keys


def _nonce_hash(nonce: str) -> str:
    """The nonce msal sends is the SHA-256 of the one it keeps in the flow."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()
