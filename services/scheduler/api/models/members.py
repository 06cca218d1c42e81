from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import Email, In, Out

_TEXT = Field(default=None, max_length=1024)


class MembersQuery(In):
    status: Literal["invited", "active", "removed"] | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class InviteOut(Out):
    status: Literal["pending", "queued", "sent", "failed", "claimed"]
    sent_at: datetime | None


class CardOut(Out):
    name: str | None
    email: str | None
    job_title: str | None
    company: str | None
    phone: str | None
    location: str | None
    has_photo: bool
    fields: dict[str, Any]


class LinkOut(Out):
    id: UUID
    type: str
    label: str
    value: str
    template_link_id: UUID | None


class MemberSubteamOut(Out):
    id: UUID
    name: str
    role: Literal["admin", "member"]


class MemberOut(Out):
    id: UUID
    account_id: UUID
    login_email: str
    directory_id: str | None
    managed: bool
    status: Literal["invited", "active", "removed"]
    role: Literal["admin", "member"]
    subscription_active: bool
    invite: InviteOut | None
    card: CardOut
    links: list[LinkOut]
    subteams: list[MemberSubteamOut]
    template_id: UUID | None


class MembersOut(Out):
    members: list[MemberOut]
    next_cursor: str | None


class CardPatch(In):
    """The writable part of a member's card; ``has_photo`` is accepted so a card read can be sent back."""

    name: str | None = _TEXT
    email: Email | None = None
    job_title: str | None = _TEXT
    company: str | None = _TEXT
    phone: str | None = _TEXT
    location: str | None = _TEXT
    has_photo: bool | None = Field(
        default=None,
        description="read-only: ignored, the photo comes from the directory",
        json_schema_extra={"readOnly": True},
    )
    fields: dict[str, str | None] | None = Field(
        default=None, max_length=100, description="custom fields to set; null removes one"
    )


class MemberPatch(In):
    card: CardPatch


class TemplateAssign(In):
    template_id: UUID
