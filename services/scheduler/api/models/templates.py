from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from services.scheduler.api.models.common import In, Name, Out, examples
from shared.card_links import link_problem
from shared.config import known_link_type


def _safe_link(value: str) -> str:
    """A value a card link may hold (blank: a link the member's own email or phone fills, R13)."""
    if value and (problem := link_problem(value)):
        raise ValueError(f"the link {problem}")
    return value


_TYPE = "email, phone, url, linkedin, twitter, instagram, facebook, address or text"
_TEMPLATE = {
    "name": "Sales",
    "links": [
        {"type": "email", "label": "Email", "value": ""},
        {"type": "url", "label": "Book a meeting", "value": "https://contoso.com/meet"},
    ],
}


class TemplateLinkIn(In):
    """A link of a new template."""

    type: str = Field(description=_TYPE)
    label: str = Field(min_length=1, max_length=64, description="what the card shows")
    value: str = Field(
        default="",
        max_length=2048,
        description="what it opens; blank for an email or phone link the member's own value fills (R13)",
    )

    _known_type = field_validator("type")(known_link_type)
    _safe_value = field_validator("value")(_safe_link)


class TemplateIn(In):
    """A new template: links that members it is applied to carry (R13)."""

    model_config = examples(_TEMPLATE)

    name: Name = Field(description="the template's name")
    links: list[TemplateLinkIn] = Field(
        default_factory=list, max_length=50, description="its links, in order"
    )


class TemplateLinkOut(Out):
    """A link of a template."""

    id: UUID = Field(description="the template link's id")
    type: str = Field(description=_TYPE)
    label: str = Field(description="what the card shows")
    value: str = Field(description="what it opens; blank: the member's own email or phone")


class TemplateOut(Out):
    """A template with its links."""

    model_config = examples(
        {
            "id": "8a9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c1d",
            "name": "Sales",
            "links": [
                {**link, "id": f"8a9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c{n}e"}
                for n, link in enumerate(_TEMPLATE["links"])
            ],
            "created_at": "2026-05-04T09:30:00Z",
        }
    )

    id: UUID = Field(description="the template's id")
    name: str = Field(description="the template's name")
    links: list[TemplateLinkOut] = Field(description="its links, in order")
    created_at: datetime = Field(description="when it was made")


class TemplatesOut(Out):
    """The team's templates."""

    templates: list[TemplateOut] = Field(description="oldest first")


class SubteamOut(Out):
    """A subteam: the members of one synced group (R3)."""

    id: UUID = Field(description="the subteam's id")
    name: str = Field(description="its name, the group's")
    directory_group_id: str | None = Field(description="the directory group it is bound to; null when none")
    member_count: int = Field(description="its members, removed ones left out")


class SubteamsOut(Out):
    """The team's subteams."""

    subteams: list[SubteamOut] = Field(description="ordered by name")


class InvitesQueued(Out):
    """Pending invites handed to the notifier."""

    queued: int = Field(description="how many invites will be sent")
