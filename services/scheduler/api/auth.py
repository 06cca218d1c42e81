"""Who is calling: the operator (everything), a team token (its own team), or a signed-in admin (the teams
they administer). A bearer token wins over a session cookie; a cookie request that changes anything needs the
session's CSRF token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from aiohttp import web

from services.scheduler.api.problems import Problem
from services.scheduler.api.sessions import Session, load_session
from shared.crypto import hash_token
from shared.settings import Settings

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The teams a signed-in person administers: as the account with their email, or as the member made from their
# directory object in a tenant connected to that team. Removed members administer nothing.
ADMIN_TEAMS = """
SELECT m.team_id FROM accounts a JOIN members m ON m.account_id = a.id
 WHERE a.email_key = lower(btrim($1)) AND m.role = 'admin' AND m.status <> 'removed'
UNION
SELECT m.team_id FROM members m JOIN directory_connections d ON d.team_id = m.team_id
 WHERE m.directory_id = $2 AND lower(d.tenant_id) = lower($3) AND m.role = 'admin' AND m.status <> 'removed'
"""

# A live team token, its last use noted at most once a minute so scripts that poll do not write on every call.
_TEAM_TOKEN = """
WITH t AS (SELECT id, team_id, last_used_at FROM team_tokens WHERE token_hash = $1 AND revoked_at IS NULL),
used AS (
    UPDATE team_tokens SET last_used_at = now() FROM t
     WHERE team_tokens.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
)
SELECT id, team_id FROM t
"""


@dataclass(frozen=True)
class Caller:
    kind: Literal["operator", "team_token", "admin"]
    team_id: UUID | None = None  # a team token's team
    token_id: UUID | None = None
    session: Session | None = None  # set when a browser session authenticated the call

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    @property
    def name(self) -> str:
        return {"operator": "operator", "team_token": "team token"}.get(self.kind, "signed-in admin")

    @property
    def actor_id(self) -> str | None:
        if self.kind == "team_token":
            return str(self.token_id)
        if self.kind == "admin" and self.session is not None:
            return f"{self.session.tenant_id}/{self.session.object_id}"
        return None

    @property
    def email(self) -> str | None:
        return self.session.email if self.session is not None else None

    async def teams(self, pool: asyncpg.Pool) -> list[UUID]:
        """The teams this caller may act for (not for the operator, who may act for all)."""
        if self.kind == "team_token":
            return [self.team_id] if self.team_id else []
        if self.kind == "admin" and self.session is not None:
            s = self.session
            rows = await pool.fetch(ADMIN_TEAMS, s.email or "", s.object_id, s.tenant_id)
            return [r["team_id"] for r in rows]
        return []

    async def may_act_for(self, pool: asyncpg.Pool, team_id: UUID) -> bool:
        return self.is_operator or team_id in await self.teams(pool)


OPERATOR = Caller(kind="operator")


def _unauthorized() -> Problem:
    return Problem(
        401,
        "a valid bearer token or a signed-in session is required: Authorization: Bearer <token>, or sign in"
        " at /auth/login",
        headers={"WWW-Authenticate": 'Bearer realm="cardsync"'},
    )


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def is_operator_token(settings: Settings, token: str) -> bool:
    operator = settings.operator_token.get_secret_value() if settings.operator_token else None
    return bool(operator) and token.isascii() and hmac.compare_digest(token.encode(), operator.encode())


def csrf_matches(session: Session, sent: str) -> bool:
    return sent.isascii() and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


async def authenticate(request: web.Request, pool: asyncpg.Pool, settings: Settings) -> Caller:
    token = bearer_token(request)
    if token is not None:
        return await _bearer(token, pool, settings)
    session = await load_session(pool, settings, request)
    if session is None:
        raise _unauthorized()
    if request.method not in _SAFE_METHODS and not csrf_matches(
        session, request.headers.get(CSRF_HEADER, "")
    ):
        raise Problem(403, f"a signed-in request that changes anything needs the {CSRF_HEADER} header")
    return Caller(kind=session.kind, session=session)


async def _bearer(token: str, pool: asyncpg.Pool, settings: Settings) -> Caller:
    if not token.isascii():  # a token is ASCII (RFC 6750); bytes that are not match none
        raise _unauthorized()
    if is_operator_token(settings, token):
        return OPERATOR
    row = await pool.fetchrow(_TEAM_TOKEN, hash_token(token))
    if row is None:
        raise _unauthorized()
    return Caller(kind="team_token", team_id=row["team_id"], token_id=row["id"])
