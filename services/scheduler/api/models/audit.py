from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from services.scheduler.api.models.common import In, Out


class AuditQuery(In):
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class AuditEntryOut(Out):
    id: int
    at: datetime
    actor_kind: Literal["operator", "team_token", "admin", "anonymous"]
    actor_id: str | None = Field(description="a team token's id, or a signed-in admin's tenant/object id")
    actor_email: str | None
    address: str | None = Field(description="the address the request came from")
    action: str = Field(description="e.g. directory.connect, config.save, run.request, token.revoke")
    details: dict[str, Any]


class AuditOut(Out):
    entries: list[AuditEntryOut] = Field(description="newest first")
    next_cursor: str | None
