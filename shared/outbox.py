"""The outbox relay: publishes what transactions wrote to the outbox, once, in order, from any replica."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg

from shared.bus import Bus

log = logging.getLogger(__name__)
BATCH = 500
RETRY_UNDELIVERED = timedelta(seconds=5)


async def relay_once(pool: asyncpg.Pool, bus: Bus) -> int:
    """Publish one batch of pending outbox rows; several relays share the work through SKIP LOCKED."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, routing_key, message_id, body FROM outbox"
            " WHERE published_at IS NULL AND (retry_at IS NULL OR retry_at <= now())"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            BATCH,
        )
        if not rows:
            return 0
        undelivered = set(
            await bus.publish_raw([(r["routing_key"], r["message_id"], bytes(r["body"])) for r in rows])
        )
        published = [r["id"] for i, r in enumerate(rows) if i not in undelivered]
        await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", published)
        if undelivered:
            keys = sorted({rows[i]["routing_key"] for i in undelivered})
            log.warning(
                "outbox relay: %d messages (%s) reached no queue; is every service running? Offered again"
                " in %.0f s",
                len(undelivered),
                ", ".join(keys),
                RETRY_UNDELIVERED.total_seconds(),
            )
            await conn.execute(
                "UPDATE outbox SET retry_at = now() + $2::interval WHERE id = ANY($1::bigint[])",
                [rows[i]["id"] for i in undelivered],
                RETRY_UNDELIVERED,
            )
    return len(rows)


async def run_relay(pool: asyncpg.Pool, bus: Bus, interval: float = 0.5) -> None:
    """Relay forever: drain while there is work, then wait ``interval`` (or a NOTIFY on 'outbox')."""
    wake = asyncio.Event()
    listener = await pool.acquire()

    def on_notify(*_args) -> None:
        wake.set()

    try:
        await listener.add_listener("outbox", on_notify)
        listener.add_termination_listener(on_notify)
        while True:
            if listener.is_closed():  # the database went away: its supervisor starts the relay on a new one
                raise ConnectionError("the outbox relay's LISTEN connection closed")
            try:
                while await relay_once(pool, bus) == BATCH:
                    pass
            except (TimeoutError, OSError, asyncpg.PostgresConnectionError) as exc:
                log.warning("outbox relay: %r; retrying", exc)
            except Exception:
                log.exception("outbox relay failed; retrying")
            try:
                await asyncio.wait_for(wake.wait(), interval)
            except TimeoutError:
                pass
            wake.clear()
    finally:
        if not listener.is_closed():
            await listener.remove_listener("outbox", on_notify)
        await pool.release(listener)
