from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from services.scheduler.api.models.common import In, Name, Out
from shared.config import known_link_type


class TemplateLinkIn(In):
    type: str
    label: str = Field(min_length=1, max_length=64)
    value: str = Field(default="", max_length=2048)

    _known_type = field_validator("type")(known_link_type)


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
