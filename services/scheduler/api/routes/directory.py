"""The team's directory connection (R1) and the group search used to pick synced groups (R2)."""

from __future__ import annotations

import logging

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.directory import (
    DirectoryIn,
    DirectoryOut,
    GroupOut,
    GroupsOut,
    GroupsQuery,
)
from services.scheduler.api.problems import Problem
from shared.crypto import encrypt
from shared.graph.errors import GraphAuthError, GraphError, GraphUnavailable
from shared.graph.groups import search_groups
from shared.graph.tokens import Credentials

log = logging.getLogger(__name__)
_COLUMNS = "tenant_id, client_id, connected_at, kind"
_FIELDS = {"tenant_id": "tenant_id", "client_id": "client_id", "secret": "client_secret"}


async def put_directory(call: Call) -> web.Response:
    body: DirectoryIn = call.body
    keys = call.settings.secret_keys()
    if not keys:
        raise Problem(503, "CARDSYNC_SECRET_KEYS is not set, so client secrets cannot be stored")
    await _take_a_token(call, Credentials(body.tenant_id, body.client_id, body.client_secret))
    secret = encrypt(keys, body.client_secret)
    row = await call.pool.fetchrow(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted)"
        " VALUES ($1, 'own_app', $2, $3, $4) ON CONFLICT (team_id) DO UPDATE SET kind = 'own_app',"
        " tenant_id = EXCLUDED.tenant_id, client_id = EXCLUDED.client_id,"
        f" secret_encrypted = EXCLUDED.secret_encrypted, connected_at = now() RETURNING {_COLUMNS}",
        call.team,
        body.tenant_id,
        body.client_id,
        secret,
    )
    details = {"kind": "own_app", "tenant_id": body.tenant_id, "client_id": body.client_id}
    await call.audit("directory.connect", details)
    log.info("team %s connected tenant %s with its own app %s", call.team, body.tenant_id, body.client_id)
    return json_response(DirectoryOut(**dict(row)))


async def _take_a_token(call: Call, creds: Credentials) -> None:
    """Credentials that cannot give a token are refused before anything is saved: a 422 naming the field the
    identity platform blamed, or a 503 when it did not answer."""
    try:
        await call.graph.tokens.check(creds)
    except GraphUnavailable as exc:
        log.warning("no token for tenant %s to connect team %s: %s", creds.tenant_id, call.team, exc.reason)
        raise Problem(
            503, f"the credentials could not be checked, so nothing was saved: {exc.reason}; try again later"
        ) from None
    except GraphAuthError as exc:
        field = _FIELDS.get(exc.credential or "")
        raise Problem(
            422,
            f"no token could be taken with these credentials, so nothing was saved: {exc.reason}",
            errors=[{"loc": [field] if field else [], "msg": exc.reason}],
        ) from None


async def get_directory(call: Call) -> web.Response:
    row = await call.pool.fetchrow(
        f"SELECT {_COLUMNS} FROM directory_connections WHERE team_id = $1", call.team
    )
    if row is None:
        raise Problem(404, "this team has no directory connected")
    return json_response(DirectoryOut(**dict(row)))


async def delete_directory(call: Call) -> web.Response:
    async with call.pool.acquire() as conn, conn.transaction():
        tenant = await conn.fetchval(
            "DELETE FROM directory_connections WHERE team_id = $1 RETURNING tenant_id", call.team
        )
        if tenant is not None:
            await call.audit("directory.disconnect", {"tenant_id": tenant}, conn)
    return web.Response(status=204)


async def search_directory_groups(call: Call) -> web.Response:
    query: GroupsQuery = call.query
    connection = await call.pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", call.team)
    if connection is None:
        raise Problem(409, "connect a directory first: PUT /api/v1/teams/{team_id}/directory")
    try:
        groups = await search_groups(call.settings, connection, query.search, query.limit, graph=call.graph)
    except GraphError as exc:
        log.warning("group search for team %s failed: %s", call.team, exc.reason)
        raise Problem(502, f"the group search failed: {exc.reason}") from None
    return json_response(GroupsOut(groups=[GroupOut(**g) for g in groups]))


ENDPOINTS = (
    Endpoint(
        "PUT",
        "/api/v1/teams/{team_id}/directory",
        put_directory,
        "Connect (or reconnect) the team's tenant with an app registration of its own",
        {200: DirectoryOut},
        body=DirectoryIn,
        problems={
            422: "no token could be taken with these credentials (the errors name the field); nothing was "
            "saved",
            503: "the identity platform did not answer, or CARDSYNC_SECRET_KEYS is not set; nothing was "
            "saved",
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory",
        get_directory,
        "Read the directory connection",
        {200: DirectoryOut},
        problems={404: "the team has no directory connected"},
    ),
    Endpoint(
        "DELETE",
        "/api/v1/teams/{team_id}/directory",
        delete_directory,
        "Disconnect the directory",
        {204: None},
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/directory/groups",
        search_directory_groups,
        "Search the tenant's groups by name",
        {200: GroupsOut},
        query=GroupsQuery,
        problems={409: "the team has no directory connected", 502: "the directory's group search failed"},
    ),
)
