from __future__ import annotations

from datetime import datetime
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


class AccountIn(In):
    email: Email
    name: str = Field(default="", max_length=200)


class AccountOut(Out):
    id: UUID
    email: str
