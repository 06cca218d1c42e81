from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import Email, In, Name, Out


class AdminIn(In):
    email: Email
    name: str = Field(default="", max_length=200)


class TeamIn(In):
    name: Name
    admins: list[AdminIn] = Field(default_factory=list, max_length=100)


class TeamCreated(Out):
    id: UUID
    name: str
    token: str = Field(description="the team's bearer token; shown once, stored hashed")


class TeamOut(Out):
    id: UUID
    name: str
    created_at: datetime


class TeamsOut(Out):
    teams: list[TeamOut]


class AccountIn(In):
    email: Email
    name: str = Field(default="", max_length=200)


class AccountOut(Out):
    id: UUID
    email: str


class TeamRef(Out):
    id: UUID
    name: str


class MeOut(Out):
    kind: Literal["operator", "team", "admin"]
    email: str | None = None
    name: str | None = None
    tenant_id: str | None = None
    teams: list[TeamRef] | None = Field(default=None, description="the teams the caller may act for")
    csrf_token: str | None = Field(default=None, description="send as X-CSRF-Token with a session's changes")


class TokenIn(In):
    name: str = Field(default="", max_length=200, description="what the token is for, to tell tokens apart")


class TokenOut(Out):
    id: UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token; shown once, stored hashed")


class TokensOut(Out):
    tokens: list[TokenOut]
