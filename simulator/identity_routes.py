"""The identity platform endpoints an app needs: OpenID discovery and keys, the authorize endpoint, the token
endpoint (client credentials and authorization codes) and the admin-consent redirect, with Entra's error
answers."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING
from urllib.parse import unquote

import orjson
from aiohttp import web

from simulator.assertions import check_assertion
from simulator.authorize import authorize, page
from simulator.code_grant import redeem
from simulator.errors import app_not_found, identity_error, tenant_not_found
from simulator.oidc import ANY_TENANT
from simulator.reply_urls import reply_url_error, response_url

if TYPE_CHECKING:
    from simulator.server import Simulator
    from simulator.tenant import Tenant

GRAPH_SCOPES = {"https://graph.microsoft.com/.default", "00000003-0000-0000-c000-000000000000/.default"}
_IGNORED_SCOPES = {"openid", "profile", "offline_access"}


def _json(body: dict, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _no_tenant(tenant: str, error: str = "invalid_request") -> web.Response:
    return _json(identity_error(error, 90002, tenant_not_found(tenant)), 400)


class IdentityRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self.keys)
        app.router.add_get("/{tenant}/oauth2/v2.0/authorize", self.authorize)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_get("/{tenant}/v2.0/adminconsent", self.admin_consent)

    async def openid_configuration(self, request: web.Request) -> web.Response:
        name = request.match_info["tenant"]
        tenant = self.sim.find_tenant(name)
        if tenant is None and name not in ANY_TENANT:
            return _no_tenant(name, "invalid_tenant")
        base = f"{self.sim.authority_url}/{name}"
        issuer_tenant = tenant.tenant_id if tenant else "{tenantid}"
        return _json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self.sim.authority_url}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "cloud_instance_name": "microsoftonline.com",
                "tenant_region_scope": "EU",
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        name = request.match_info["tenant"]
        tenant = self.sim.find_tenant(name)
        if tenant is None and name not in ANY_TENANT:
            return _no_tenant(name, "invalid_tenant")
        issuer = f"{self.sim.authority_url}/{tenant.tenant_id if tenant else '{tenantid}'}/v2.0"
        return _json({"keys": [self.sim.signing_key.jwk(issuer)]})

    async def authorize(self, request: web.Request) -> web.Response:
        return await authorize(self.sim, request)

    async def token(self, request: web.Request) -> web.Response:
        name = request.match_info["tenant"]
        form = await request.post()
        client_id, secret = str(form.get("client_id", "")), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, raw_secret = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(raw_secret)
        if form.get("grant_type") == "authorization_code":
            status, body = redeem(self.sim, name, form, client_id, secret)
            return _json(body, status)
        tenant = self.sim.find_tenant(name)
        if tenant is None:
            return _no_tenant(name)
        self.sim.requests[tenant.tenant_id]["token"] += 1
        assertion = form.get("client_assertion")
        if assertion and not secret and client_id in tenant.apps:
            refused = check_assertion(
                str(assertion),
                str(form.get("client_assertion_type", "")),
                client_id,
                f"{self.sim.authority_url}/{name}/oauth2/v2.0/token",
                tenant.certificates.get(client_id, []),
            )
            if refused is not None:
                status = 401 if refused.error == "invalid_client" else 400
                return _json(identity_error(refused.error, refused.aadsts, refused.description), status)
            secret = tenant.apps[client_id]  # the app proved itself with its certificate
        error = _check_token_request(
            tenant, form.get("grant_type"), client_id, secret, str(form.get("scope", ""))
        )
        if error is not None:
            return error
        lifetime = int(self.sim.token_lifetime)
        token = self.sim.tokens.issue(
            tenant.tenant_id, client_id, frozenset(tenant.permissions[client_id]), lifetime
        )
        return _json(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            }
        )

    async def admin_consent(self, request: web.Request) -> web.Response:
        name = request.match_info["tenant"]
        query = request.query
        redirect_uri, client_id = query.get("redirect_uri"), query.get("client_id", "")
        tenant = self.sim.consent_target(name)
        if tenant is None:
            return _no_tenant(name)
        home = self.sim.app_home(client_id)
        if home is None:
            return page(700016, app_not_found(client_id, name))
        problem = reply_url_error(home.redirect_uris[client_id], client_id, redirect_uri)
        if problem is not None:
            return page(*problem)
        params: dict[str, str] = {}
        if self.sim.consent_denied:
            params = {
                "error": "access_denied",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
            }
        else:
            if client_id not in tenant.apps:
                tenant.register_app(
                    client_id,
                    home.apps[client_id],
                    home.permissions[client_id],
                    home.redirect_uris[client_id],
                )
            params = {"admin_consent": "True", "tenant": tenant.tenant_id, "scope": query.get("scope", "")}
        if "state" in query:
            params["state"] = query["state"]
        raise web.HTTPFound(response_url(str(redirect_uri), params))


def _check_token_request(
    tenant: Tenant, grant_type: object, client_id: str, secret: object, scope: str
) -> web.Response | None:
    if grant_type != "client_credentials":
        return _json(
            identity_error(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            ),
            400,
        )
    if not client_id:
        return _json(
            identity_error(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            ),
            400,
        )
    if client_id not in tenant.apps:
        return _json(
            identity_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant.tenant_id}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or "
                "consented to by any user in the tenant.",
            ),
            400,
        )
    if not secret:
        return _json(
            identity_error(
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' "
                "is required for the 'client_credentials' grant type.",
            ),
            401,
        )
    if secret != tenant.apps[client_id]:
        return _json(
            identity_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                "secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            ),
            401,
        )
    scopes = set(scope.split()) - _IGNORED_SCOPES
    if len(scopes) != 1 or not scopes <= GRAPH_SCOPES:
        return _json(
            identity_error(
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            ),
            400,
        )
    return None
