from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import Out, examples


class MergeOut(Out):
    """A merge a run proposed (R4): a directory user whose email is a removed member's, bound to another
    directory user. The admin accepts it (the same member comes back, bound to the new user) or rejects it
    (the user becomes a new member; the removed one goes)."""

    model_config = examples(
        {
            "id": "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e",
            "run_id": "5c9e7a3b-1d2f-4e6a-9b8c-7d6e5f4a3b2c",
            "member_id": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
            "old_directory_id": "3e1b2c4d-0000-4000-8000-00000000001c",
            "directory_id": "7a6b5c4d-0000-4000-8000-000000000042",
            "email": "john.smith@contoso.com",
            "name": "John Smith",
            "status": "proposed",
            "decided_by": None,
            "decided_at": None,
            "decision_run_id": None,
            "created_at": "2026-05-04T09:31:00Z",
        }
    )

    id: UUID = Field(description="the merge's id")
    run_id: UUID = Field(description="the run that proposed it")
    member_id: UUID | None = Field(description="the removed member; null once it is gone")
    old_directory_id: str | None = Field(description="the directory user the removed member was bound to")
    directory_id: str = Field(description="the new directory user with the member's email")
    email: str = Field(description="the email they share")
    name: str | None = Field(description="the new directory user's name")
    status: Literal["proposed", "accepted", "rejected"] = Field(
        description="proposed (the user is skipped meanwhile), accepted or rejected"
    )
    decided_by: str | None = Field(description="who decided")
    decided_at: datetime | None = Field(description="when")
    decision_run_id: UUID | None = Field(description="the run that applies the decision")
    created_at: datetime = Field(description="when it was proposed")


class MergesOut(Out):
    """The merges a run proposed."""

    merges: list[MergeOut] = Field(description="oldest first")
