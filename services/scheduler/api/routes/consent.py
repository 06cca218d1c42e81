"""Connecting a tenant by admin consent to the platform's own multi-tenant app (R1 a)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from urllib.parse import urlencode

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.directory import (
    ConsentCallbackQuery,
    ConsentUrlOut,
    ConsentUrlQuery,
    DirectoryOut,
)
from services.scheduler.api.problems import Problem
from services.scheduler.consent import ConsentError, confirm_tenant
from services.scheduler.consent_state import make_state, read_state
from shared.graph.tokens import GRAPH_SCOPE

log = logging.getLogger(__name__)
CALLBACK_PATH = "/api/v1/directory/consent-callback"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,127}$")


def _secret_key(call: Call) -> str:
    if call.settings.secret_key is None:
        raise Problem(503, "CARDSYNC_SECRET_KEY is not set, so a consent state cannot be signed")
    return call.settings.secret_key.get_secret_value()


async def consent_url(call: Call) -> web.Response:
    query: ConsentUrlQuery = call.query
    if not call.settings.app_client_id:
        raise Problem(409, "the platform app is not configured: set CARDSYNC_APP_CLIENT_ID")
    state = make_state(_secret_key(call), call.team, datetime.now(timezone.utc))
    params = {
        "client_id": call.settings.app_client_id,
        "scope": GRAPH_SCOPE,
        "redirect_uri": query.redirect_uri or call.settings.public_url.rstrip("/") + CALLBACK_PATH,
        "state": state,
    }
    url = f"{call.settings.authority_url.rstrip('/')}/organizations/v2.0/adminconsent?{urlencode(params)}"
    return json_response(ConsentUrlOut(url=url))


async def consent_callback(call: Call) -> web.Response:
    query: ConsentCallbackQuery = call.query
    if query.error:
        raise Problem(
            400, f"the identity platform refused the consent: {query.error_description or query.error}"
        )
    team_id = read_state(_secret_key(call), query.state or "", datetime.now(timezone.utc))
    if team_id is None:
        raise Problem(
            400, "the consent state is missing, invalid or expired: start again from the consent URL"
        )
    if not _TENANT.match(query.tenant or "") or (query.admin_consent or "").lower() != "true":
        raise Problem(400, "the callback carries no granted admin consent for a tenant")
    if not await call.pool.fetchval("SELECT 1 FROM teams WHERE id = $1", team_id):
        raise Problem(400, "the team of this consent state no longer exists")
    try:
        await confirm_tenant(call.settings, query.tenant)
    except ConsentError as exc:
        raise Problem(400, str(exc)) from None
    row = await call.pool.fetchrow(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted)"
        " VALUES ($1, 'consent', $2, $3, NULL) ON CONFLICT (team_id) DO UPDATE SET kind = 'consent',"
        " tenant_id = EXCLUDED.tenant_id, client_id = EXCLUDED.client_id, secret_encrypted = NULL,"
        " connected_at = now() RETURNING tenant_id, client_id, connected_at, kind",
        team_id,
        query.tenant,
        call.settings.app_client_id,
    )
    log.info("team %s connected tenant %s by admin consent", team_id, query.tenant)
    return json_response(DirectoryOut(**dict(row)))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory/consent-url",
        consent_url,
        "The admin-consent URL of the platform's app, with a signed state",
        {200: ConsentUrlOut},
        query=ConsentUrlQuery,
    ),
    Endpoint(
        "GET",
        CALLBACK_PATH,
        consent_callback,
        "Where the identity platform returns after an admin consent; the state authenticates",
        {200: DirectoryOut},
        query=ConsentCallbackQuery,
        access="public",
    ),
)
