from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from services.scheduler.api.models.common import In, Out, examples


class AuditQuery(In):
    """A page of the audit log."""

    action: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z_]+(\.[a-z_]+)?$",
        description="only this action, or every action of a kind: `run` is run.request, run.approve and "
        "run.apply",
    )
    limit: int = Field(default=100, ge=1, le=1000, description="the most entries to return")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class AuditEntryOut(Out):
    """Something done to the team, by whom, from where."""

    model_config = examples(
        {
            "id": 4711,
            "at": "2026-05-04T09:30:00Z",
            "actor_kind": "admin",
            "actor_id": "72f988bf-86f1-41af-91ab-2d7cd011db47/3e1b2c4d-0000-4000-8000-00000000001c",
            "actor_email": "megan.bowen@contoso.com",
            "address": "203.0.113.7",
            "action": "config.save",
            "details": {"version": 4, "changed": ["cadence"]},
        }
    )

    id: int = Field(description="the entry's number, rising with time")
    at: datetime = Field(description="when it happened")
    actor_kind: Literal["operator", "team_token", "admin", "anonymous"] = Field(description="who acted")
    actor_id: str | None = Field(description="a team token's id, or a signed-in admin's tenant/object id")
    actor_email: str | None = Field(description="a signed-in admin's email")
    address: str | None = Field(description="the address the request came from")
    action: str = Field(description="e.g. directory.connect, config.save, run.request, token.revoke")
    details: dict[str, Any] = Field(description="what the action changed; never a secret")


class AuditOut(Out):
    """A page of the team's audit log."""

    entries: list[AuditEntryOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")
