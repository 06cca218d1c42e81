from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.scheduler.api.models.common import In, Out

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,127}$"


class DirectoryIn(In):
    tenant_id: str = Field(pattern=_ID_PATTERN, description="tenant id (GUID) or a verified domain")
    client_id: str = Field(pattern=_ID_PATTERN, description="application (client) id of the app registration")
    client_secret: str = Field(min_length=1, max_length=1024, description="stored encrypted, never returned")


class DirectoryOut(Out):
    tenant_id: str
    client_id: str
    connected_at: datetime
    kind: Literal["own_app", "consent"]


class ConsentUrlQuery(In):
    redirect_uri: str | None = Field(default=None, max_length=2048)


class ConsentUrlOut(Out):
    url: str


class ConsentCallbackQuery(In):
    """What the identity platform appends to the redirect; any of it may be missing or forged (then 400)."""

    tenant: str | None = None
    admin_consent: str | None = None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None


class GroupsQuery(In):
    search: str = Field(default="", max_length=256)
    limit: int = Field(default=25, ge=1, le=100)


class GroupOut(Out):
    id: str
    display_name: str | None
    description: str | None = None
    mail: str | None = None


class GroupsOut(Out):
    groups: list[GroupOut]
