from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import Email, In, Out, examples

_MEMBER_STATUS = "invited (not claimed yet), active (the person claimed the card) or removed"
_ROLE = "admin or member"


def _text(description: str) -> Any:
    return Field(default=None, max_length=1024, description=description)


class MembersQuery(In):
    """A page of the team's members."""

    status: Literal["invited", "active", "removed"] | None = Field(
        default=None, description="only members of this status; none: every status, removed included"
    )
    q: str | None = Field(
        default=None,
        max_length=200,
        description="only members whose card name or email, or login, contains this",
    )
    subteam: UUID | None = Field(default=None, description="only members of this subteam (its id)")
    limit: int = Field(default=100, ge=1, le=1000, description="the most members to return")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class InviteOut(Out):
    """The member's invite to join the team and claim the card (R11)."""

    status: Literal["pending", "queued", "sent", "failed", "claimed"] = Field(
        description="pending until sent (send_invites off waits for POST invites/send), then queued, sent or"
        " failed; claimed once the person claimed the card"
    )
    sent_at: datetime | None = Field(description="when the email was sent")


class CardOut(Out):
    """The member's card in this team."""

    name: str | None = Field(description="the name on the card")
    email: str | None = Field(description="the email on the card")
    job_title: str | None = Field(description="the job title")
    company: str | None = Field(description="the company")
    phone: str | None = Field(description="the phone number")
    location: str | None = Field(description="the address, one line")
    has_photo: bool = Field(description="whether a photo is stored; GET .../photo serves it")
    fields: dict[str, Any] = Field(description="custom fields by name, e.g. filled by custom mappings (R6)")


class LinkOut(Out):
    """A tappable link on the card."""

    id: UUID = Field(description="the link's id")
    type: str = Field(
        description="email, phone, url, linkedin, twitter, instagram, facebook, address or text"
    )
    label: str = Field(description="what the card shows")
    value: str = Field(description="what it opens, e.g. mailto:ann@contoso.com")
    template_link_id: UUID | None = Field(description="the template link it fills, if any (R13)")


class MemberSubteamOut(Out):
    """A subteam the member is in."""

    id: UUID = Field(description="the subteam's id")
    name: str = Field(description="its name, the synced group's")
    role: Literal["admin", "member"] = Field(description="the member's role in it: " + _ROLE)


class MemberOut(Out):
    """A member: an account's place in the team, with the team's card for the person."""

    model_config = examples(
        {
            "id": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
            "account_id": "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b",
            "login_email": "jsmith@contoso.com",
            "directory_id": "3e1b2c4d-0000-4000-8000-00000000001c",
            "managed": True,
            "status": "invited",
            "role": "member",
            "subscription_active": True,
            "invite": {"status": "sent", "sent_at": "2026-05-04T09:31:02Z"},
            "card": {
                "name": "John Smith",
                "email": "john.smith@contoso.com",
                "job_title": "VP of Sales",
                "company": "Contoso",
                "phone": "+1 425 555 0101",
                "location": "1 Main St, Redmond, WA, 98052, US",
                "has_photo": True,
                "fields": {"Department": "Sales"},
            },
            "links": [
                {
                    "id": "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f",
                    "type": "email",
                    "label": "Email",
                    "value": "mailto:john.smith@contoso.com",
                    "template_link_id": None,
                }
            ],
            "subteams": [{"id": "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b", "name": "Sales", "role": "member"}],
            "template_id": None,
        }
    )

    id: UUID = Field(description="the member's id")
    account_id: UUID = Field(description="the platform account it belongs to")
    login_email: str = Field(description="the account's login email (the directory user's userPrincipalName)")
    directory_id: str | None = Field(
        description="the directory user's object id; null for a hand-added member"
    )
    managed: bool = Field(
        description="made or claimed by a sync: only managed members are changed or removed"
    )
    status: Literal["invited", "active", "removed"] = Field(description=_MEMBER_STATUS)
    role: Literal["admin", "member"] = Field(description="the member's role in the team: " + _ROLE)
    subscription_active: bool = Field(description="whether its team subscription is on (off once removed)")
    invite: InviteOut | None = Field(description="its invite; null when it was never invited")
    card: CardOut = Field(description="the card")
    links: list[LinkOut] = Field(description="the card's links, in order")
    subteams: list[MemberSubteamOut] = Field(description="the subteams it is in")
    template_id: UUID | None = Field(description="the template applied to it, if any")


class MembersOut(Out):
    """A page of the team's members."""

    members: list[MemberOut] = Field(description="oldest first")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")


class CardPatch(In):
    """The writable part of a member's card; ``has_photo`` is accepted so a card read can be sent back."""

    name: str | None = _text("the name on the card")
    email: Email | None = Field(default=None, description="the email on the card")
    job_title: str | None = _text("the job title")
    company: str | None = _text("the company")
    phone: str | None = _text("the phone number")
    location: str | None = _text("the address, one line")
    has_photo: bool | None = Field(
        default=None,
        description="read-only: ignored, the photo comes from the directory",
        json_schema_extra={"readOnly": True},
    )
    fields: dict[str, str | None] | None = Field(
        default=None, max_length=100, description="custom fields to set; null removes one"
    )


class MemberPatch(In):
    """An edit of a member's card made on the platform; a later sync may overwrite it (R8)."""

    model_config = examples(
        {"card": {"job_title": "Head of Sales", "fields": {"Team": "EMEA", "Desk": None}}}
    )

    card: CardPatch = Field(description="the fields to change; those left out are kept")


class TemplateAssign(In):
    """A template to apply to the member (R13)."""

    template_id: UUID = Field(description="one of the team's templates")
