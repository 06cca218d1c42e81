"""The v2.0 authorize endpoint of the authorization-code flow: checks the request, decides who signs in and
sends the browser back with a code or an error.

Errors about the app or its redirect URI stay on the sign-in page (an HTML 400); the app never hears of them.
Errors in the rest of the request go back to the redirect URI as ``error``, ``error_description`` and
``state``.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from simulator.errors import app_not_found, error_page, tenant_not_found
from simulator.oidc import ANY_TENANT, client_info
from simulator.reply_urls import reply_url_error, response_url

if TYPE_CHECKING:
    from simulator.server import Simulator
    from simulator.tenant import Tenant

_RESPONSE_MODES = ("query", "fragment", "form_post")
_CHALLENGE_SIZES = {"S256": range(43, 44), "plain": range(43, 129)}


def page(aadsts: int, message: str) -> web.Response:
    return web.Response(status=400, content_type="text/html", text=error_page(aadsts, message))


def _missing(name: str) -> tuple[str, int, str]:
    return "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."


def _request_error(query: MultiMapping[str]) -> tuple[str, int, str] | None:
    """What is wrong with the request itself, once the app and its redirect URI are known good."""
    response_type = query.get("response_type")
    if not response_type:
        return _missing("response_type")
    if response_type != "code":
        return (
            "unsupported_response_type",
            700054,
            f"response_type '{response_type}' is not enabled for the app.",
        )
    if query.get("response_mode", "query") not in _RESPONSE_MODES:
        return "invalid_request", 70007, f"The response_mode '{query['response_mode']}' is not supported."
    if not query.get("scope", "").split():
        return _missing("scope")
    challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
    if method is not None and not challenge:
        return _missing("code_challenge")
    if challenge:
        method = method or "plain"  # as RFC 7636 says and Entra documents; S256 is what msal sends
        if method not in _CHALLENGE_SIZES:
            return "invalid_request", 90100, f"The code_challenge_method '{method}' is not valid."
        if len(challenge) not in _CHALLENGE_SIZES[method]:
            return "invalid_request", 501491, "Invalid size of Code_Challenge parameter."
    return None


def _sign_in_page(hint: str | None, query: Mapping[str, str]) -> web.Response:
    """No one to sign in yet: the page waits for a person, who types a username; the request goes on with it
    as the login_hint. Nothing goes back to the app."""
    note = (
        f"<p role='alert'>We couldn't find an account with that username: {html.escape(hint)}</p>"
        if hint
        else ""
    )
    kept = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in query.items()
        if k != "login_hint"
    )
    return web.Response(
        content_type="text/html",
        text="<!DOCTYPE html><html lang='en'><head><title>Sign in to your account</title></head><body>"
        f"<h1>Sign in</h1>{note}<form method='GET'>{kept}<label for='login_hint'>Email or username</label> "
        "<input id='login_hint' name='login_hint' type='email' autocomplete='username' required> "
        "<button>Next</button></form></body></html>",
    )


class _Back:
    """The way back to the app: its redirect URI, the response mode and the state the request carried."""

    def __init__(self, redirect_uri: str, mode: str, state: str | None) -> None:
        self.redirect_uri, self.mode, self.state = redirect_uri, mode, state

    def send(self, params: dict[str, str]) -> web.Response:
        if self.state is not None:
            params = {**params, "state": self.state}
        if self.mode != "form_post":
            raise web.HTTPFound(response_url(self.redirect_uri, params, self.mode))
        fields = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
            for k, v in params.items()
        )
        return web.Response(
            content_type="text/html",
            text=f"<html><body onload='document.forms[0].submit()'><form method='POST' "
            f"action='{html.escape(self.redirect_uri)}'>{fields}</form></body></html>",
        )

    def error(self, error: str, aadsts: int, description: str) -> web.Response:
        return self.send({"error": error, "error_description": f"AADSTS{aadsts}: {description}"})


def _user(sim: Simulator, hint: str | None) -> tuple[Tenant, dict[str, Any]] | None:
    """The person at the browser: the account a login_hint names, else the one signed in."""
    if hint:
        return sim.find_user(hint)
    if sim.signed_in is None:
        return None
    tenant = sim.tenants.get(sim.signed_in[0])
    user = tenant.users.get(sim.signed_in[1]) if tenant else None
    return (tenant, user) if tenant and user else None


async def authorize(sim: Simulator, request: web.Request) -> web.Response:
    name, query = request.match_info["tenant"], request.query
    client_id = query.get("client_id", "")
    if not client_id:
        return page(*_missing("client_id")[1:])
    authority = sim.find_tenant(name)
    if authority is None and name not in ANY_TENANT:
        return page(90002, tenant_not_found(name))
    home = sim.app_home(client_id)
    if home is None:
        return page(700016, app_not_found(client_id, name))
    redirect_uri = query.get("redirect_uri", "")
    problem = reply_url_error(home.redirect_uris[client_id], client_id, redirect_uri)
    if problem is not None:
        return page(*problem)
    mode = query.get("response_mode", "query")
    back = _Back(redirect_uri, mode if mode in _RESPONSE_MODES else "query", query.get("state"))
    error = _request_error(query)
    if error is not None:
        return back.error(*error)
    if sim.deny_sign_in:
        return back.error("access_denied", 65004, "User declined to consent to access the app.")
    hint = query.get("login_hint")
    found = _user(sim, hint)
    if found is None:
        if query.get("prompt") == "none":
            return back.error(
                "login_required", 50058, "A silent sign-in request was sent but no user is signed in."
            )
        return _sign_in_page(hint, query)
    tenant, user = found
    if authority is not None and authority.tenant_id != tenant.tenant_id:
        return page(
            50020,
            f"User account '{user.get('userPrincipalName')}' from identity provider "
            f"'https://sts.windows.net/{tenant.tenant_id}/' does not exist in tenant '{authority.domain}' "
            "and "
            f"cannot access the application '{client_id}' in that tenant. The account needs to be added as "
            "an "
            "external user in the tenant first. Sign out and sign in again with a different Microsoft Entra "
            "user account.",
        )
    if user.get("accountEnabled") is False:
        return page(50057, "The user account is disabled.")
    challenge = query.get("code_challenge") or None
    code = sim.codes.issue(
        client_id=client_id,
        redirect_uri=redirect_uri,
        authority_tenant=authority.tenant_id if authority else None,
        tenant_id=tenant.tenant_id,
        user_id=user["id"],
        scopes=frozenset(query["scope"].split()),
        nonce=query.get("nonce"),
        challenge=challenge,
        method=query.get("code_challenge_method") or "plain",
    )
    params = {"code": code, "session_state": str(uuid.uuid4())}
    if query.get("client_info") == "1":
        params["client_info"] = client_info(user["id"], tenant.tenant_id)
    return back.send(params)
