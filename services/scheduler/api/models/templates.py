from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from services.scheduler.api.models.common import In, Name, Out
from shared.card_links import link_problem
from shared.config import known_link_type


def _safe_link(value: str) -> str:
    """A value a card link may hold (blank: a link the member's own email or phone fills, R13)."""
    if value and (problem := link_problem(value)):
        raise ValueError(f"the link {problem}")
    return value


class TemplateLinkIn(In):
    type: str
    label: str = Field(min_length=1, max_length=64)
    value: str = Field(default="", max_length=2048)

    _known_type = field_validator("type")(known_link_type)
    _safe_value = field_validator("value")(_safe_link)


class TemplateIn(In):
    name: Name
    links: list[TemplateLinkIn] = Field(default_factory=list, max_length=50)


class TemplateLinkOut(Out):
    id: UUID
    type: str
    label: str
    value: str


class TemplateOut(Out):
    id: UUID
    name: str
    links: list[TemplateLinkOut]
    created_at: datetime


class TemplatesOut(Out):
    templates: list[TemplateOut]


class SubteamOut(Out):
    id: UUID
    name: str
    directory_group_id: str | None
    member_count: int


class SubteamsOut(Out):
    subteams: list[SubteamOut]


class InvitesQueued(Out):
    queued: int
