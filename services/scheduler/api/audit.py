"""The audit log: who did what to a team, when and from where. Rows are only ever added."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from aiohttp import web

if TYPE_CHECKING:
    from services.scheduler.api.auth import Caller


async def record(
    db: asyncpg.Pool | asyncpg.Connection,
    request: web.Request,
    caller: Caller | None,
    action: str,
    team_id: UUID | None,
    details: dict[str, Any] | None = None,
    *,
    actor_id: str | None = None,
    actor_email: str | None = None,
) -> None:
    """One entry; ``caller`` None is someone not (yet) authenticated, such as a failed sign-in."""
    await db.execute(
        "INSERT INTO audit_log (team_id, actor_kind, actor_id, actor_email, address, action, details)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        team_id,
        caller.kind if caller else "anonymous",
        actor_id or (caller.actor_id if caller else None),
        actor_email or (caller.email if caller else None),
        request.remote,
        action,
        details or {},
    )
