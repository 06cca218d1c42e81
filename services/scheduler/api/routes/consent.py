"""Connecting a tenant by admin consent to the platform's own multi-tenant app (R1 a).

The redirect's ``tenant`` is signed by nobody, and the platform app may take a token for every tenant that
ever consented to it: taken on trust, it would let anyone connect another company's directory. So consent
starts from a person signed in with Microsoft, for their own tenant; the state is single-use, kept server-side
and bound to the team, that tenant and the session; and the callback connects only that tenant, for that
session.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from services.scheduler.api import audit
from services.scheduler.api.auth import Caller
from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.directory import (
    ConsentCallbackQuery,
    ConsentUrlOut,
    ConsentUrlQuery,
    DirectoryOut,
)
from services.scheduler.api.problems import Problem
from services.scheduler.api.sessions import load_session, sign, unsign
from services.scheduler.consent import ConsentError, confirm_tenant
from shared.crypto import hash_token
from shared.graph.tokens import GRAPH_SCOPE

log = logging.getLogger(__name__)
CALLBACK_PATH = "/api/v1/directory/consent-callback"
STATE_TTL = timedelta(minutes=10)

# Used once: the state is spent by the first callback that names it, whatever that callback then proves.
_SPEND_STATE = """
UPDATE consent_states SET used_at = now()
 WHERE state_hash = $1 AND used_at IS NULL
RETURNING team_id, tenant_id, session_hash, created_at > now() - $2::interval AS fresh
"""


def _redirect_uri(call: Call, asked: str | None) -> str:
    """Our callback, or another page of this site: never a third party's, which would receive the state."""
    own = call.settings.public_url.rstrip("/")
    if not asked:
        return own + CALLBACK_PATH
    site, target = urlsplit(own), urlsplit(asked)
    if (target.scheme, target.netloc) != (site.scheme, site.netloc):
        raise Problem(
            422,
            "the redirect_uri must be a page of this site",
            errors=[{"loc": ["query", "redirect_uri"], "msg": f"must start with {own}/"}],
        )
    return asked


async def consent_url(call: Call) -> web.Response:
    query: ConsentUrlQuery = call.query
    session = call.caller.session if call.caller else None
    if call.caller is None or call.caller.kind != "admin" or session is None:
        raise Problem(
            403,
            "admin consent connects the tenant of the person who grants it: sign in with Microsoft at"
            " /auth/login and ask again (a bearer token proves no tenant)",
        )
    if not call.settings.app_client_id:
        raise Problem(409, "the platform app is not configured: set CARDSYNC_APP_CLIENT_ID")
    redirect_uri = _redirect_uri(call, query.redirect_uri)
    state = secrets.token_urlsafe(32)
    await call.pool.execute(
        "INSERT INTO consent_states (state_hash, team_id, tenant_id, session_hash) VALUES ($1, $2, $3, $4)",
        hash_token(state),
        call.team,
        session.tenant_id,
        session.id_hash,
    )
    params = {
        "client_id": call.settings.app_client_id,
        "scope": GRAPH_SCOPE,
        "redirect_uri": redirect_uri,
        "state": sign(call.settings, state),
    }
    url = (
        f"{call.settings.authority_url.rstrip('/')}/{session.tenant_id}/v2.0/adminconsent?{urlencode(params)}"
    )
    return json_response(ConsentUrlOut(url=url))


async def consent_callback(call: Call) -> web.Response:
    query: ConsentCallbackQuery = call.query
    state = unsign(call.settings, query.state or "")
    spent = await call.pool.fetchrow(_SPEND_STATE, hash_token(state), STATE_TTL) if state else None
    if spent is None or not spent["fresh"]:
        raise Problem(
            400, "the consent state is missing, unknown, used or expired: start again from the dashboard"
        )
    team_id, tenant_id = spent["team_id"], spent["tenant_id"]
    session = await load_session(call.pool, call.settings, call.request)
    reason = None
    if query.error:
        reason = f"the identity platform refused the consent: {query.error_description or query.error}"
    elif session is None or session.id_hash != spent["session_hash"]:
        reason = "this consent was started in another session: sign in and start again from the dashboard"
    elif (query.tenant or "").lower() != tenant_id.lower():
        reason = "the consent was granted for another tenant than the signed-in one: nothing was connected"
    elif (query.admin_consent or "").lower() != "true":
        reason = "the callback carries no granted admin consent"
    else:
        try:
            await confirm_tenant(call.settings, tenant_id)
        except ConsentError as exc:
            reason = str(exc)
    person = Caller(kind=session.kind, session=session) if session else None
    if reason is not None:
        details = {"tenant_id": tenant_id, "reason": reason}
        await audit.record(call.pool, call.request, person, "directory.consent_refused", team_id, details)
        raise Problem(400, reason)
    async with call.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted)"
            " VALUES ($1, 'consent', $2, $3, NULL) ON CONFLICT (team_id) DO UPDATE SET kind = 'consent',"
            " tenant_id = EXCLUDED.tenant_id, client_id = EXCLUDED.client_id, secret_encrypted = NULL,"
            " credential_type = NULL, credential_expires_at = NULL, certificate_thumbprint = NULL,"
            " connected_at = now() RETURNING tenant_id, client_id, connected_at, kind",
            team_id,
            tenant_id,
            call.settings.app_client_id,
        )
        details = {"kind": "consent", "tenant_id": tenant_id}
        await audit.record(conn, call.request, person, "directory.connect", team_id, details)
    log.info("team %s connected tenant %s by admin consent", team_id, tenant_id)
    if "application/json" in call.request.headers.get("Accept", ""):
        return json_response(DirectoryOut(**dict(row)))
    raise web.HTTPSeeOther(f"/teams/{team_id}/directory")


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory/consent-url",
        consent_url,
        "The admin-consent URL of the platform's app for the signed-in admin's tenant, with a single-use "
        "state",
        {200: ConsentUrlOut},
        query=ConsentUrlQuery,
        problems={
            403: "the caller is not an admin signed in with Microsoft (a bearer token proves no tenant)",
            409: "the platform app is not configured (CARDSYNC_APP_CLIENT_ID)",
            422: "the redirect_uri is not a page of this site",
        },
    ),
    Endpoint(
        "GET",
        CALLBACK_PATH,
        consent_callback,
        "Where the identity platform returns after an admin consent; the session and the state authenticate",
        {200: DirectoryOut, 303: None},
        query=ConsentCallbackQuery,
        access="session",
        problems={
            400: "the state is missing, unknown, used or expired, the request is not from its session, or the"
            " consent was refused or given for another tenant; nothing was connected"
        },
    ),
)
