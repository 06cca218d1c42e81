"""Bearer tokens: the operator's (everything) and each team's (its own team only)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from aiohttp import web

from services.scheduler.api.problems import Problem
from shared.crypto import hash_token
from shared.settings import Settings


@dataclass(frozen=True)
class Caller:
    team_id: UUID | None  # None: the operator

    @property
    def is_operator(self) -> bool:
        return self.team_id is None

    @property
    def name(self) -> str:
        return "operator" if self.is_operator else "team token"

    def may_see(self, team_id: UUID) -> bool:
        return self.is_operator or self.team_id == team_id


OPERATOR = Caller(team_id=None)


def _unauthorized() -> Problem:
    return Problem(
        401,
        "a valid bearer token is required: Authorization: Bearer <token>",
        headers={"WWW-Authenticate": 'Bearer realm="cardsync"'},
    )


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(request: web.Request, pool: asyncpg.Pool, settings: Settings) -> Caller:
    token = bearer_token(request)
    if token is None or not token.isascii():  # a token is ASCII (RFC 6750); bytes that are not match none
        raise _unauthorized()
    operator = settings.operator_token.get_secret_value() if settings.operator_token else None
    if operator and hmac.compare_digest(token.encode(), operator.encode()):
        return OPERATOR
    team_id = await pool.fetchval("SELECT id FROM teams WHERE token_hash = $1", hash_token(token))
    if team_id is None:
        raise _unauthorized()
    return Caller(team_id=team_id)
