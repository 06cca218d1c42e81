from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import Email, In, Name, Out, examples

_TEAM_ID = "the team's id"
_TEAM_NAME = "the team's name, as the card platform shows it"
_TOKEN_ID = "the token's id, to revoke it by"


class AdminIn(In):
    """A first admin of a new team: a hand-added, active full team admin (no invite)."""

    email: Email = Field(description="the admin's login email; an existing account with it is reused")
    name: str = Field(default="", max_length=200, description="the admin's name, for the card")


class TeamIn(In):
    """A new team with its first admins."""

    model_config = examples(
        {"name": "Contoso", "admins": [{"email": "megan.bowen@contoso.com", "name": "Megan Bowen"}]}
    )

    name: Name = Field(description=_TEAM_NAME)
    admins: list[AdminIn] = Field(default_factory=list, max_length=100, description="the team's first admins")


class TeamCreated(Out):
    """A team just made, with its first bearer token."""

    model_config = examples(
        {
            "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "name": "Contoso",
            "token": "q7Jd2yXbV4pWk9sLr3TzN8mHd6Fa1Ce5Gu0RiLn4Ke8",
        }
    )

    id: UUID = Field(description=_TEAM_ID)
    name: str = Field(description=_TEAM_NAME)
    token: str = Field(description="the team's bearer token; shown once, stored hashed")


class TeamOut(Out):
    """A team."""

    model_config = examples(
        {
            "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "name": "Contoso",
            "created_at": "2026-05-04T09:30:00Z",
        }
    )

    id: UUID = Field(description=_TEAM_ID)
    name: str = Field(description=_TEAM_NAME)
    created_at: datetime = Field(description="when the team was made")


class TeamsOut(Out):
    """The teams the caller may act for."""

    teams: list[TeamOut] = Field(description="ordered by name")


class AccountIn(In):
    """A new account in no team: someone who made a card of their own."""

    model_config = examples({"email": "alex.wilber@contoso.com", "name": "Alex Wilber"})

    email: Email = Field(description="the login email, unique on the platform whatever its case")
    name: str = Field(default="", max_length=200, description="the person's name")


class AccountOut(Out):
    """An account just made."""

    id: UUID = Field(description="the account's id")
    email: str = Field(description="the login email")


class TeamRef(Out):
    """A team, named."""

    id: UUID = Field(description=_TEAM_ID)
    name: str = Field(description=_TEAM_NAME)


class MeOut(Out):
    """Who the API takes the caller to be."""

    model_config = examples(
        {
            "kind": "admin",
            "email": "megan.bowen@contoso.com",
            "name": "Megan Bowen",
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "teams": [{"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "name": "Contoso"}],
            "csrf_token": "o3Vn8Qm1Zk5Yt7Pw2Rx4",
        },
        {"kind": "operator"},
    )

    kind: Literal["operator", "team", "admin"] = Field(
        description="operator: the operator token; team: a team token; admin: a person signed in with "
        "Microsoft"
    )
    email: str | None = Field(default=None, description="a signed-in admin's email")
    name: str | None = Field(default=None, description="a signed-in admin's name")
    tenant_id: str | None = Field(default=None, description="the tenant a signed-in admin belongs to")
    teams: list[TeamRef] | None = Field(default=None, description="the teams the caller may act for")
    csrf_token: str | None = Field(default=None, description="send as X-CSRF-Token with a session's changes")


class TokenIn(In):
    """A new team token."""

    name: str = Field(default="", max_length=200, description="what the token is for, to tell tokens apart")


class TokenOut(Out):
    """A live team token, without its secret."""

    id: UUID = Field(description=_TOKEN_ID)
    name: str = Field(description="what the token is for")
    created_at: datetime = Field(description="when it was issued")
    last_used_at: datetime | None = Field(description="its last use, to the minute; null if never used")


class TokenCreated(TokenOut):
    """A team token just issued, with its secret."""

    model_config = examples(
        {
            "id": "9b2d4c1e-3f5a-4e6b-8c7d-0a1b2c3d4e5f",
            "name": "nightly export",
            "created_at": "2026-05-04T09:30:00Z",
            "last_used_at": None,
            "token": "Hq8Xz2Lm5Vb7Nc1Kd4Tf9Wg3Ys6Pj0RaUe7Mi2Ob5Qh",
        }
    )

    token: str = Field(description="the bearer token; shown once, stored hashed")


class TokensOut(Out):
    """The team's live tokens."""

    tokens: list[TokenOut] = Field(description="oldest first")
