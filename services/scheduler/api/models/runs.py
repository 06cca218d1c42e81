from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from services.scheduler.api.models.common import In, Out, examples

RunStatus = Literal["queued", "fetching", "reconciling", "succeeded", "failed", "held"]


class RunIn(In):
    """Sync Now: a run to queue, unless the team already has one queued or running."""

    model_config = examples({"dry_run": True, "requested_by": "megan.bowen@contoso.com"})

    dry_run: bool = Field(
        default=False, description="plan only: compute what the run would do, change nothing"
    )
    requested_by: str | None = Field(
        default=None,
        max_length=256,
        description="who pressed Sync Now (e.g. the admin's email); else the token",
    )


class RunsQuery(In):
    """How many runs to list."""

    limit: int = Field(default=50, ge=1, le=1000, description="the most runs to return")


class RunProgress(Out):
    """Where an active run stands; each counter is written by the service doing that part."""

    phase: Literal["fetching", "reconciling", "photos"] = Field(
        description="reading the directory, applying the members, or checking and storing their photos"
    )
    users_read: int = Field(default=0, description="directory users the fetcher has read")
    members_applied: int = Field(default=0, description="members the reconciler has applied")
    photos_checked: int = Field(default=0, description="photos the fetcher has checked with Microsoft Graph")
    photos_stored: int = Field(default=0, description="photos the reconciler has stored")
    updated_at: datetime = Field(description="when a counter last moved")


class RunOut(Out):
    """A run: one sync of one team, manual or scheduled, and its record (R17)."""

    model_config = examples(
        {
            "id": "5c9e7a3b-1d2f-4e6a-9b8c-7d6e5f4a3b2c",
            "team_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "trigger": "manual",
            "requested_by": "megan.bowen@contoso.com",
            "dry_run": False,
            "status": "succeeded",
            "created_at": "2026-05-04T09:30:00Z",
            "started_at": "2026-05-04T09:30:01Z",
            "finished_at": "2026-05-04T09:31:12Z",
            "counts": {
                "created": 3,
                "invited": 3,
                "updated": 12,
                "unchanged": 240,
                "removed": 1,
                "deleted": 0,
                "skipped": 1,
            },
            "graph_requests": 14,
            "error": None,
            "member_errors": [
                {
                    "directory_id": "1d7e6f5a-0000-4000-8000-00000000002b",
                    "message": "adele.vance@contoso.com is also the email of another directory user;"
                    " each email can be one member only",
                }
            ],
            "plan": None,
        }
    )

    id: UUID = Field(description="the run's id")
    team_id: UUID = Field(description="the team it syncs")
    trigger: Literal["manual", "schedule", "notification"] = Field(
        description="Sync Now, the team's cadence, or a change Graph notified"
    )
    requested_by: str | None = Field(description="who asked for a manual run")
    dry_run: bool = Field(description="a plan only (R18): it changes nothing but its own record")
    status: RunStatus = Field(
        description="queued, fetching, reconciling; then succeeded (all done, photos included), failed, or "
        "held"
        " (removals wait for an approval, R10)"
    )
    created_at: datetime = Field(description="when it was queued")
    started_at: datetime | None = Field(description="when a fetcher took it")
    finished_at: datetime | None = Field(description="when it ended")
    counts: dict[str, int] = Field(
        description="the whole team after the run: created, invited, updated, unchanged, removed, deleted, "
        "skipped"
    )
    graph_requests: int = Field(description="the Microsoft Graph requests it made")
    error: str | None = Field(description="why it failed, in words an admin can act on")
    member_errors: list[dict[str, Any]] = Field(
        description="the members it skipped, each as directory_id and message; the run went on without them"
    )
    plan: dict[str, Any] | None = Field(
        description="a dry run's plan: create, update (field by field, old and new), remove, invite, roles; "
        "exclude lists the users of the synced groups the scope rules leave out (directory_id, name, email, "
        "rule; the first 1,000) and exclude_count counts them"
    )
    progress: RunProgress | None = Field(
        default=None, description="while the run is active: its phase and counters; null once it ended"
    )
    undoes: UUID | None = Field(
        default=None,
        description="an undo run: the run whose changes it reverses (its trigger is manual); else null",
    )
    undone_by: UUID | None = Field(
        default=None, description="the undo run that reverses (or is about to reverse) this run; else null"
    )
    applies_run: UUID | None = Field(
        default=None,
        description="the dry run whose plan this run applies (POST …/runs/{id}/apply); it fails, saying what "
        "moved, when its own plan is not that one",
    )


class RunsOut(Out):
    """The team's runs."""

    runs: list[RunOut] = Field(description="newest first")


class RunDayOut(Out):
    """The runs of one day that changed nothing, counted instead of kept (R17)."""

    day: date = Field(description="the day, UTC")
    runs: int = Field(description="runs that changed nothing that day")
    graph_requests: int = Field(description="the Graph requests they made")


class RunDaysOut(Out):
    """Days of runs that changed nothing, newest first."""

    days: list[RunDayOut] = Field(description="newest first")


class HeldQuery(In):
    """How many of a held run's removals to list."""

    limit: int = Field(default=100, ge=1, le=1000, description="the most removals to return")


class HeldRemovalOut(Out):
    """A member whose removal a held run holds (R10)."""

    member_id: UUID = Field(description="the member")
    name: str = Field(description="the name on its card")
    email: str = Field(description="the email on its card, else its sign-in email")
    status: str = Field(description="the member's status now: invited, active, or removed once applied")


class HeldRemovalsOut(Out):
    """The removals a run held for approval, by name; empty for a run that held none."""

    model_config = examples(
        {
            "total": 1,
            "removals": [
                {
                    "member_id": "1d7e6f5a-0000-4000-8000-00000000002b",
                    "name": "Adele Vance",
                    "email": "adele.vance@contoso.com",
                    "status": "active",
                }
            ],
        }
    )

    total: int = Field(description="how many removals the run held")
    removals: list[HeldRemovalOut] = Field(description="up to ``limit`` of them, by name")
