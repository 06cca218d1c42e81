"""The simulated Microsoft cloud: identity endpoints and Graph v1.0 over HTTPS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Self

import aiohttp
import orjson
import trustme
from aiohttp import web

from simulator import batch, router
from simulator.delta import DeltaStore
from simulator.errors import GraphError
from simulator.identity_routes import IdentityRoutes
from simulator.limits import Limits, ThrottleEvent, budget_for
from simulator.notifications import Notifier
from simulator.oidc import AuthorizationCode, CodeStore, id_token_claims
from simulator.request import GraphRequest, GraphResponse, split_url
from simulator.signing import SigningKey
from simulator.subscriptions import Subscriptions
from simulator.tenant import Tenant
from simulator.tokens import TokenStore

_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)


class Simulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float = 3599,
        delta_token_lifetime: float = 7 * 86400,
        latency: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.tenants: dict[str, Tenant] = {}
        self.signing_key = SigningKey()
        self.tokens = TokenStore(self.signing_key.sign)
        self.codes = CodeStore()
        self.signed_in: tuple[str, str] | None = None
        self.deny_sign_in = False  # the person at the sign-in page cancels: authorize answers access_denied
        self._id_token_tamper: tuple[dict[str, Any], bool] | None = None
        self.limits = Limits()
        self.requests = self.limits.requests
        self.throttle_events: dict[str, list[ThrottleEvent]] = self.limits.events
        self.token_lifetime = token_lifetime
        self.delta_token_lifetime = delta_token_lifetime
        self.latency = latency
        self.consent_denied = False
        self.consent_tenant: str | None = None
        self.ca_file = ""
        self._delta: dict[str, DeltaStore] = {}
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        # Change notifications: the subscriptions, and what sends them (with random numbers of its own).
        self.subscriptions = Subscriptions()
        self.notifier = Notifier(self.subscriptions, self.tenants, random.Random(seed))
        self._notifying: asyncio.Task | None = None
        self._dir: str | None = None

    # Addresses
    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def authority_url(self) -> str:
        return self.base_url

    def client_ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    # Tenants and faults
    def add_tenant(self, tenant: Tenant) -> Tenant:
        self.tenants[tenant.tenant_id] = tenant
        self._delta[tenant.tenant_id] = DeltaStore(lifetime=self.delta_token_lifetime)
        return tenant

    def remove_tenant(self, tenant_id: str) -> None:
        del self.tenants[tenant_id]
        del self._delta[tenant_id]

    def find_tenant(self, name: str) -> Tenant | None:
        """A tenant by id or by its domain name, as the authority path may carry either."""
        if name in self.tenants:
            return self.tenants[name]
        return next((t for t in self.tenants.values() if t.domain.lower() == name.lower()), None)

    def consent_target(self, name: str) -> Tenant | None:
        """The tenant whose administrator answers an admin-consent prompt at this authority."""
        if name in ("organizations", "common"):
            chosen = self.consent_tenant or next(reversed(self.tenants), None)
            return self.tenants.get(chosen) if chosen else None
        return self.find_tenant(name)

    def app_home(self, client_id: str) -> Tenant | None:
        return next((t for t in self.tenants.values() if client_id in t.apps), None)

    # Sign-in
    def sign_in(self, tenant_id: str, object_id: str) -> None:
        """The browser's signed-in user, whom the authorize endpoint signs in when no login_hint names
        another."""
        if object_id not in self.tenants[tenant_id].users:
            raise KeyError(f"no user {object_id} in tenant {tenant_id}")
        self.signed_in = (tenant_id, object_id)

    def find_user(self, upn_or_mail: str) -> tuple[Tenant, dict[str, Any]] | None:
        """The account a login_hint names, in any tenant: by user principal name, else by mail."""
        if "@" not in upn_or_mail:
            return None
        for tenant in self.tenants.values():
            user = tenant.find_user(upn_or_mail)
            if user is not None:
                return tenant, user
        wanted = upn_or_mail.lower()
        for tenant in self.tenants.values():
            user = next((u for u in tenant.users.values() if str(u.get("mail", "")).lower() == wanted), None)
            if user is not None:
                return tenant, user
        return None

    def tamper_next_id_token(self, foreign_key: bool = False, **claims: Any) -> None:
        """The next ID token only carries these claims instead (None drops one) and, with ``foreign_key``, is
        signed by a key the keys URL does not publish, under the published kid: a token a verifier must
        refuse."""
        self._id_token_tamper = (claims, foreign_key)

    def id_token(self, grant: AuthorizationCode, user: dict[str, Any]) -> str:
        """A signed v2.0 ID token for a redeemed code, issued by the user's tenant."""
        claims = id_token_claims(grant, user, f"{self.authority_url}/{grant.tenant_id}/v2.0")
        changes, foreign = self._id_token_tamper or ({}, False)
        self._id_token_tamper = None
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self.signing_key.sign(claims, foreign)

    def delta_store(self, tenant_id: str) -> DeltaStore:
        return self._delta[tenant_id]

    def throttle(self, tenant_id: str, times: int = 1, retry_after: float = 1, status: int = 429) -> None:
        """The next ``times`` Graph requests of the tenant answer ``status`` with this Retry-After."""
        self.limits.inject(tenant_id, times, retry_after, status)

    def set_budget(self, tenant_id: str, units: int | None = None, window: float = 10.0) -> None:
        """Enforce a resource-unit budget per window; by default Graph's limit for the tenant's size."""
        self.limits.window = window
        self.limits.budget[tenant_id] = units or budget_for(len(self.tenants[tenant_id].users))

    def clear_budget(self, tenant_id: str) -> None:
        self.limits.budget.pop(tenant_id, None)

    def expire_tokens(self, tenant_id: str) -> None:
        self.tokens.expire_tenant(tenant_id)

    def expire_delta_tokens(self, tenant_id: str, answer: str = "syncStateNotFound") -> None:
        self._delta[tenant_id].expire_all(answer)

    # Lifecycle
    async def start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="graph-sim-")
        ca = trustme.CA()
        self.ca_file = str(Path(self._dir) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(self.host, "localhost").configure_cert(server_ssl)
        app = web.Application(client_max_size=4 * 1024 * 1024)
        IdentityRoutes(self).add_to(app)
        app.router.add_route("*", "/v1.0/{tail:.*}", self._graph)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=server_ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.subscriptions.session = aiohttp.ClientSession()
        self._notifying = asyncio.ensure_future(self.notifier.run())

    async def stop(self) -> None:
        if self._notifying is not None:
            self._notifying.cancel()
            await asyncio.gather(self._notifying, return_exceptions=True)
            self._notifying = None
        if self.subscriptions.session is not None:
            await self.subscriptions.session.close()
            self.subscriptions.session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Graph over HTTP
    async def _graph(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        client_request_id = request.headers.get("client-request-id")
        try:
            req = await self._graph_request(request)
            if req.path == "$batch":
                response = batch.run(req, self.limits, self._rng)
            elif req.path.split("/")[0] == "subscriptions":
                response = await self.subscriptions.handle(req)
            else:
                response = router.run(req, self.limits)
        except GraphError as error:
            response = GraphResponse(error.status, error.body(client_request_id), error.headers)
        return _to_http(response, client_request_id)

    async def _graph_request(self, request: web.Request) -> GraphRequest:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token is empty.", {"WWW-Authenticate": _CHALLENGE}
            )
        token = self.tokens.lookup(auth[7:].strip())
        if token is None or token.tenant_id not in self.tenants:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed.",
                {"WWW-Authenticate": _CHALLENGE},
            )
        if token.expires_at <= time.monotonic():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                {"WWW-Authenticate": _CHALLENGE},
            )
        path, query = split_url(str(request.rel_url))
        body = None
        if request.method in ("POST", "PATCH") and request.can_read_body:
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
        return GraphRequest(
            method=request.method,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in request.headers.items()},
            tenant=self.tenants[token.tenant_id],
            client_id=token.client_id,
            permissions=token.permissions,
            graph_url=self.graph_url,
            delta=self._delta[token.tenant_id],
            body=body,
        )


def _to_http(response: GraphResponse, client_request_id: str | None) -> web.Response:
    request_id = str(uuid.uuid4())
    headers = {
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
        **response.headers,
    }
    if isinstance(response.body, bytes):
        return web.Response(status=response.status, body=response.body, headers=headers)
    headers.setdefault("Content-Type", _JSON)
    return web.Response(status=response.status, body=orjson.dumps(response.body), headers=headers)
