from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import In, Out

RunStatus = Literal["queued", "fetching", "reconciling", "succeeded", "failed", "held"]


class RunIn(In):
    dry_run: bool = False
    requested_by: str | None = Field(
        default=None,
        max_length=256,
        description="who pressed Sync Now (e.g. the admin's email); else the token",
    )


class RunsQuery(In):
    limit: int = Field(default=50, ge=1, le=1000)


class RunOut(Out):
    id: UUID
    team_id: UUID
    trigger: Literal["manual", "schedule"]
    requested_by: str | None
    dry_run: bool
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    graph_requests: int
    error: str | None
    member_errors: list[dict[str, Any]]
    plan: dict[str, Any] | None


class RunsOut(Out):
    runs: list[RunOut]
