"""Whether a team's near-real-time sync is on, and if not, why: what the configuration shows with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.scheduler.realtime import subscription_records as store
from services.scheduler.realtime.address import Unreachable, endpoints
from shared.config import SyncConfig
from shared.settings import Settings


@dataclass(frozen=True)
class Status:
    state: str  # off, pending, on, failed
    reason: str | None
    checked_at: datetime | None


async def realtime_status(
    pool: asyncpg.Pool, settings: Settings, team_id: UUID, config: SyncConfig
) -> Status:
    """What stops it is told from the saved configuration and the settings at once; what Graph answered, from
    the last look at the team's subscriptions (pending until one has looked since it was wanted)."""
    if not config.realtime:
        return Status("off", "near-real-time sync is off in the sync configuration", None)
    if isinstance(urls := endpoints(settings), Unreachable):
        return Status("off", urls.reason, None)
    if not config.groups:
        return Status("off", "no groups are synced", None)
    if not await pool.fetchval("SELECT 1 FROM directory_connections WHERE team_id = $1", team_id):
        return Status("off", "no directory is connected", None)
    found = await store.status(pool, team_id)
    if found is None or found["state"] in ("off", "pending"):
        return Status("pending", "the subscriptions to the directory's changes are being made", None)
    return Status(found["state"], found["reason"], found["checked_at"])
