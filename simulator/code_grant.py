"""The token endpoint's authorization_code grant: the code's checks, in the order the identity platform
answers them, and the tokens it gives for a code: a delegated access token, the ID token and the client
info."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from multidict import MultiMapping

from simulator.errors import app_not_found, identity_error, tenant_not_found
from simulator.oidc import ANY_TENANT, AuthorizationCode, client_info, pkce_matches

if TYPE_CHECKING:
    from simulator.server import Simulator

_OIDC_SCOPES = ("openid", "profile", "email")
_DEFAULT_SCOPE = "https://graph.microsoft.com/User.Read"

Answer = tuple[int, dict[str, Any]]


def _invalid_grant(aadsts: int, description: str) -> Answer:
    return 400, identity_error("invalid_grant", aadsts, description)


def _client_error(sim: Simulator, name: str, client_id: str, secret: object) -> Answer | None:
    if not client_id:
        return 400, identity_error(
            "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
        )
    if sim.find_tenant(name) is None and name not in ANY_TENANT:
        return 400, identity_error("invalid_request", 90002, tenant_not_found(name))
    home = sim.app_home(client_id)
    if home is None:
        return 400, identity_error("unauthorized_client", 700016, app_not_found(client_id, name))
    if not secret:
        return 401, identity_error(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if secret != home.apps[client_id]:  # a multi-tenant app's secret lives in its home tenant
        return 401, identity_error(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            "secret "
            f"value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    return None


def _redeemable(
    sim: Simulator, name: str, form: MultiMapping[str], client_id: str
) -> AuthorizationCode | Answer:
    code = str(form.get("code", ""))
    if not code:
        return 400, identity_error(
            "invalid_request", 900144, "The request body must contain the following parameter: 'code'."
        )
    grant = sim.codes.lookup(code)
    if grant is None or grant.client_id != client_id:
        return _invalid_grant(70000, "The provided value for the 'code' parameter is not valid.")
    if grant.redeemed:
        return _invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
            "existing refresh token.",
        )
    if grant.expires_at <= time.monotonic():
        return _invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new "
            "interactive authorization request for this user and resource.",
        )
    path_tenant = sim.find_tenant(name)
    if (path_tenant.tenant_id if path_tenant else None) != grant.authority_tenant:
        return _invalid_grant(
            700005,
            "Provided Authorization Code is intended to use against other tenant, thus rejected.",
        )
    redirect_uri = str(form.get("redirect_uri", ""))
    if redirect_uri != grant.redirect_uri:
        return 400, identity_error(
            "invalid_client",
            500112,
            f"The reply address '{redirect_uri}' does not match the reply address '{grant.redirect_uri}' "
            "provided when requesting Authorization code.",
        )
    verifier = str(form.get("code_verifier", ""))
    if grant.challenge and not (verifier and pkce_matches(verifier, grant.challenge, grant.method)):
        return _invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    return grant


def redeem(sim: Simulator, name: str, form: MultiMapping[str], client_id: str, secret: object) -> Answer:
    """Tokens for an authorization code, or the identity platform's error; a code is spent only by success."""
    error = _client_error(sim, name, client_id, secret)
    if error is not None:
        return error
    grant = _redeemable(sim, name, form, client_id)
    if isinstance(grant, tuple):
        return grant
    tenant = sim.tenants.get(grant.tenant_id)
    user = tenant.users.get(grant.user_id) if tenant else None
    if user is None:
        return _invalid_grant(50034, "The user account does not exist in the directory.")
    grant.redeemed = True
    sim.requests[grant.tenant_id]["token"] += 1
    return 200, _tokens(sim, grant, user, form.get("client_info") == "1")


def _tokens(sim: Simulator, grant: AuthorizationCode, user: dict[str, Any], with_client_info: bool) -> dict:
    lifetime = int(sim.token_lifetime)
    resource = [s for s in grant.scopes if s not in _OIDC_SCOPES and s != "offline_access"]
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(
            [s for s in _OIDC_SCOPES if s in grant.scopes] + (sorted(resource) or [_DEFAULT_SCOPE])
        ),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": sim.tokens.issue(
            grant.tenant_id, grant.client_id, frozenset(), lifetime, grant.user_id
        ),
    }
    if "openid" in grant.scopes:
        answer["id_token"] = sim.id_token(grant, user)
    if with_client_info:
        answer["client_info"] = client_info(grant.user_id, grant.tenant_id)
    return answer
