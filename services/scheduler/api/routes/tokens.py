"""A team's bearer tokens: issued, listed without their secret, revoked one by one."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.teams import TokenCreated, TokenIn, TokenOut, TokensOut
from services.scheduler.api.problems import Problem
from shared.crypto import hash_token, new_token

_COLUMNS = "id, name, created_at, last_used_at"


async def issue_token(call: Call) -> web.Response:
    body: TokenIn = call.body
    token = new_token()
    async with call.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO team_tokens (team_id, token_hash, name) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
            call.team,
            hash_token(token),
            body.name,
        )
        await call.audit("token.issue", {"token_id": str(row["id"]), "name": body.name}, conn)
    return json_response(TokenCreated(**dict(row), token=token), 201)


async def list_tokens(call: Call) -> web.Response:
    rows = await call.pool.fetch(
        f"SELECT {_COLUMNS} FROM team_tokens WHERE team_id = $1 AND revoked_at IS NULL ORDER BY created_at, "
        "id",
        call.team,
    )
    return json_response(TokensOut(tokens=[TokenOut(**dict(r)) for r in rows]))


async def revoke_token(call: Call) -> web.Response:
    token_id = call.path_id("token_id")
    async with call.pool.acquire() as conn, conn.transaction():
        revoked = await conn.fetchval(
            "UPDATE team_tokens SET revoked_at = now() WHERE id = $1 AND team_id = $2 AND revoked_at IS NULL"
            " RETURNING id",
            token_id,
            call.team,
        )
        if revoked is None:
            raise Problem(404, "this team has no such token")
        await call.audit("token.revoke", {"token_id": str(token_id)}, conn)
    return web.Response(status=204)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/tokens",
        issue_token,
        "Issue a new team token (shown once)",
        {201: TokenCreated},
        body=TokenIn,
    ),
    Endpoint(
        "GET", "/api/v1/teams/{team_id}/tokens", list_tokens, "List the team's live tokens", {200: TokensOut}
    ),
    Endpoint(
        "DELETE",
        "/api/v1/teams/{team_id}/tokens/{token_id}",
        revoke_token,
        "Revoke a team token",
        {204: None},
    ),
)
