"""Outgoing webhooks: a delivery for each of a team's webhooks that takes an event, sent, signed, until the
receiver answers 2xx, with backoff, for 24 hours.

Nothing is lost and nothing is sent under two ids. An event reaches the notifier through the outbox (written
in the transaction that did what it tells), and becomes its deliveries in one transaction, each with an id
made from the message's id and the webhook's: a redelivered message makes none twice. Any notifier replica
sends a due delivery after claiming it with a lease (``FOR UPDATE SKIP LOCKED``); the outcome is recorded
after the receiver's answer. A crash between the two sends it again, under the same ``webhook-id``, once the
lease is over: delivery is at least once, and receivers drop an id they have seen, as with every webhook
sender.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson

from shared import metrics
from shared.crypto import UndecryptableSecret, decrypt
from shared.messages import WebhookEvent
from shared.settings import Settings
from shared.tls import ssl_context
from shared.webhooks import PublicResolver, UrlRefused, check_url, payload, sign

log = logging.getLogger(__name__)
RETRY_FOR = timedelta(hours=24)
# Seconds before each next attempt (the last repeats): 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, then
# every 4 h.
BACKOFF = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0)
LEASE = 60.0  # seconds a claimed delivery is this replica's; an attempt takes at most TIMEOUT
TIMEOUT = 15.0
BATCH = 32
_NAMESPACE = uuid.UUID("6f1c2b8e-7d4a-4c36-9a57-3e0f1d2c4b59")

_RUN = """
SELECT r.id::text AS run_id, r.team_id::text AS team_id, r.trigger, r.dry_run,
       CASE r.status WHEN 'photos' THEN 'reconciling' ELSE r.status END AS status,
       r.error, r.counts, r.started_at, r.finished_at
  FROM sync_runs r WHERE r.id = $1 AND r.team_id = $2
"""
# The members of a member event, as they are now: a member deleted since (or by the run) is its id alone.
_MEMBERS = """
SELECT x.id::text, m.directory_id, m.status,
       coalesce(nullif(m.card_name, ''), a.name) AS name,
       coalesce(nullif(m.card_email, ''), a.email) AS email, m.card_job_title AS job_title
  FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, n)
  LEFT JOIN members m ON m.id = x.id AND m.team_id = $2
  LEFT JOIN accounts a ON a.id = m.account_id
 ORDER BY x.n
"""
_CLAIM = """
UPDATE webhook_deliveries d
   SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
  FROM webhooks w
 WHERE d.id IN (SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
   AND w.id = d.webhook_id
RETURNING d.id::text, d.body, d.attempts, d.created_at, w.url, w.secret_encrypted
"""


def delivery_id(message_id: str, webhook_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{message_id}:{webhook_id}"))


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt, with a tenth of jitter."""
    delay = BACKOFF[min(attempts, len(BACKOFF)) - 1]
    return delay * random.uniform(0.9, 1.1)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


async def _data(conn: asyncpg.Connection, msg: WebhookEvent) -> dict[str, Any] | None:
    if msg.event != "run.finished":
        rows = await conn.fetch(_MEMBERS, [uuid.UUID(i) for i in msg.member_ids], uuid.UUID(msg.team_id))
        members = [dict(r) if r["status"] is not None else {"id": r["id"], "status": "deleted"} for r in rows]
        return {"team_id": msg.team_id, "run_id": msg.run_id, "batch": msg.seq, "members": members}
    run = await conn.fetchrow(_RUN, uuid.UUID(msg.run_id), uuid.UUID(msg.team_id))
    if run is None:
        return None
    return {
        "team_id": run["team_id"],
        "run_id": run["run_id"],
        "status": run["status"],
        "trigger": run["trigger"],
        "dry_run": run["dry_run"],
        "error": run["error"],
        "counts": run["counts"] or {},
        "started_at": _iso(run["started_at"]),
        "finished_at": _iso(run["finished_at"]),
    }


async def make_deliveries(pool: asyncpg.Pool, msg: WebhookEvent) -> int:
    """A delivery of ``msg`` for each of the team's webhooks that take its event; none twice."""
    timestamp = _iso(msg.sent_at) or ""
    async with pool.acquire() as conn, conn.transaction():
        hooks = await conn.fetch(
            "SELECT id::text FROM webhooks WHERE team_id = $1 AND $2 = ANY(events) ORDER BY id",
            uuid.UUID(msg.team_id),
            msg.event,
        )
        if not hooks:
            return 0
        data = await _data(conn, msg)
        if data is None:
            return 0
        body = orjson.dumps(payload(msg.event, timestamp, data))
        status = await conn.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body)"
            " SELECT d, w, $3, $4 FROM unnest($1::uuid[], $2::uuid[]) AS x(d, w) ON CONFLICT DO NOTHING",
            [delivery_id(msg.message_id, h["id"]) for h in hooks],
            [h["id"] for h in hooks],
            msg.event,
            body,
        )
    return int(status.rsplit(" ", 1)[-1])


class WebhookSender:
    """Sends the due deliveries, any number of replicas side by side."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=ssl_context(self.settings.ca_file),
                resolver=PublicResolver(self.settings.webhooks_allow_private),
                limit=BATCH,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send_due(self) -> int:
        """Claim and send one batch of due deliveries; how many were claimed."""
        rows = await self.pool.fetch(_CLAIM, BATCH, LEASE)
        if rows:
            outcomes = await asyncio.gather(*(self._attempt(r) for r in rows))
            await self._record(rows, outcomes)
        return len(rows)

    async def _attempt(self, row: asyncpg.Record) -> tuple[int | None, str | None]:
        """(HTTP status, error): a 2xx status and no error is a delivery."""
        keys = self.settings.secret_keys()
        if not keys:
            return None, "CARDSYNC_SECRET_KEYS is not set on the notifier, so the delivery cannot be signed"
        try:
            secret = decrypt(keys, row["secret_encrypted"])
        except UndecryptableSecret as exc:
            return None, str(exc)
        try:  # a literal address is never resolved: it is checked here (a name, by the resolver)
            check_url(row["url"], self.settings.webhooks_allow_private)
        except UrlRefused as exc:
            return None, f"the URL is refused: {exc}"
        body = bytes(row["body"])
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "CardSync-Webhooks/1",
            "webhook-id": row["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, row["id"], timestamp, body),
        }
        try:
            async with self._http().post(
                row["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.content.read(65536)  # a little of the answer, so the connection can be reused
                if 200 <= resp.status < 300:
                    return resp.status, None
                return resp.status, f"the receiver answered {resp.status} {resp.reason or ''}".rstrip()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return None, f"the receiver could not be reached: {exc or type(exc).__name__}"

    async def _record(
        self, rows: list[asyncpg.Record], outcomes: list[tuple[int | None, str | None]]
    ) -> None:
        now = datetime.now(UTC)
        updates = []
        for row, (status, error) in zip(rows, outcomes, strict=True):
            if error is None:
                state, next_at = "delivered", None
            else:
                next_at = now + timedelta(seconds=backoff(row["attempts"]))
                state = "failed" if next_at > row["created_at"] + RETRY_FOR else "pending"
                log.warning("webhook delivery %s, attempt %d: %s", row["id"], row["attempts"], error)
            metrics.WEBHOOK_ATTEMPTS.labels("retried" if state == "pending" else state).inc()
            updates.append((uuid.UUID(row["id"]), state, status, (error or "")[:1000] or None, next_at))
        await self.pool.executemany(
            "UPDATE webhook_deliveries SET status = $2, last_status = $3, last_error = $4,"
            " next_attempt_at = coalesce($5, next_attempt_at),"
            " finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END WHERE id = $1",
            updates,
        )

    async def run(self, idle: float = 1.0) -> None:
        """Until cancelled: send while there are due deliveries, else wait ``idle`` seconds (or a new one)."""
        try:
            while True:
                try:
                    while await self.send_due() == BATCH:
                        pass
                except (asyncpg.PostgresError, OSError) as exc:
                    log.warning("sending webhooks failed, retrying: %s", exc)
                try:
                    await asyncio.wait_for(self.wake.wait(), idle)
                except TimeoutError:
                    pass
                self.wake.clear()
        finally:
            await self.close()
