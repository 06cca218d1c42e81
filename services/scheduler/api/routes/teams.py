"""Teams and accounts."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.teams import AccountIn, AccountOut, TeamCreated, TeamIn, TeamOut, TeamsOut
from services.scheduler.api.problems import Problem
from shared.crypto import hash_token, new_token


async def create_team(call: Call) -> web.Response:
    body: TeamIn = call.body
    token = new_token()
    admins = {a.email.lower(): a for a in body.admins}  # one membership per account
    async with call.pool.acquire() as conn, conn.transaction():
        team = await conn.fetchrow("INSERT INTO teams (name) VALUES ($1) RETURNING id, name", body.name)
        await conn.execute(
            "INSERT INTO team_tokens (team_id, token_hash, name) VALUES ($1, $2, 'first token')",
            team["id"],
            hash_token(token),
        )
        for admin in admins.values():
            account_id = await conn.fetchval(
                "INSERT INTO accounts (email, name) VALUES ($1, $2) ON CONFLICT (email_key) DO UPDATE"
                " SET name = CASE WHEN accounts.name = '' THEN EXCLUDED.name ELSE accounts.name END"
                " RETURNING id",
                admin.email,
                admin.name,
            )
            await conn.execute(
                "INSERT INTO members (team_id, account_id, managed, status, role, card_name, card_email)"
                " VALUES ($1, $2, false, 'active', 'admin', NULLIF($3, ''), $4)",
                team["id"],
                account_id,
                admin.name,
                admin.email,
            )
    return json_response(TeamCreated(id=team["id"], name=team["name"], token=token), 201)


async def list_teams(call: Call) -> web.Response:
    assert call.caller is not None
    if call.caller.is_operator:
        rows = await call.pool.fetch("SELECT id, name, created_at FROM teams ORDER BY name, id")
    else:
        ids = await call.caller.teams(call.pool)
        rows = await call.pool.fetch(
            "SELECT id, name, created_at FROM teams WHERE id = ANY($1::uuid[]) ORDER BY name, id", ids
        )
    return json_response(TeamsOut(teams=[TeamOut(**dict(r)) for r in rows]))


async def get_team(call: Call) -> web.Response:
    row = await call.pool.fetchrow("SELECT id, name, created_at FROM teams WHERE id = $1", call.team)
    return json_response(TeamOut(**dict(row)))


async def create_account(call: Call) -> web.Response:
    body: AccountIn = call.body
    row = await call.pool.fetchrow(
        "INSERT INTO accounts (email, name) VALUES ($1, $2)"
        " ON CONFLICT (email_key) DO NOTHING RETURNING id, email",
        body.email,
        body.name,
    )
    if row is None:
        raise Problem(409, f"an account with the email {body.email} exists already")
    return json_response(AccountOut(**dict(row)), 201)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/teams",
        create_team,
        "Make a team with its first admins",
        {201: TeamCreated},
        body=TeamIn,
        access="operator",
    ),
    Endpoint("GET", "/api/v1/teams", list_teams, "The teams the caller may act for", {200: TeamsOut}),
    Endpoint("GET", "/api/v1/teams/{team_id}", get_team, "Read a team", {200: TeamOut}),
    Endpoint(
        "POST",
        "/api/v1/accounts",
        create_account,
        "Make an account that belongs to no team",
        {201: AccountOut},
        body=AccountIn,
        access="operator",
        problems={409: "an account with this email exists already"},
    ),
)
