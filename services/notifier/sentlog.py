"""The sent-log as a claim on each email, shared by every notifier replica through the database.

A replica sends an email only after it committed a ``sending`` row for the email's key with itself as holder
and a lease; it marks the row ``sent`` (or ``failed``) after the server's answer. The row's primary key makes
the claim exclusive across replicas and processes. A row still ``sending`` after its lease belongs to a holder
that died, and may be claimed again. A holder renews its lease before an attempt when less than half is left;
an attempt is bounded by the transport's attempt timeout, which is well under half a lease, so it always ends
inside the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from services.notifier.delivery import backoff
from shared import runs
from shared.batching import Batcher

log = logging.getLogger(__name__)

_TRANSIENT_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def digest_key(run_id: str, kind: str, member_id: str) -> str:
    # A held run may later be summarised too: the held notice has a key of its own.
    return f"digest:{run_id}:{member_id}" if kind == "summary" else f"digest:{run_id}:{kind}:{member_id}"


def notice_key(kind: str, team_id: str, run_id: str, day: str, member_id: str) -> str:
    """A failure notice, or one of groups gone, is one per admin, team and day, whichever run asks; the word
    that the sync works again is one per run and admin."""
    if kind in ("failed", "group_gone"):
        return f"notice:{kind}:{team_id}:{day}:{member_id}"
    return f"notice:{kind}:{run_id}:{member_id}"


class LostClaim(Exception):
    """Another replica claimed the email after this one's lease ran out: it is theirs to send."""


class Lease:
    """This replica's hold on one email, taken when the claim statement was sent (``since``, monotonic)."""

    def __init__(self, sentlog: SentLog, key: str, since: float):
        self.sentlog = sentlog
        self.key = key
        self.expires = since + sentlog.lease

    async def keep(self) -> None:
        """Before a send attempt: renew when less than half the lease is left; LostClaim if it is gone."""
        if time.monotonic() < self.expires - self.sentlog.lease / 2:
            return
        since = time.monotonic()
        if not await self.sentlog.renew(self.key):
            raise LostClaim(f"the email {self.key} was claimed by another replica")
        self.expires = since + self.sentlog.lease


@dataclass(frozen=True)
class Claimed:
    lease: Lease
    row: Mapping[str, Any] | None = None


Outcome = Claimed | Literal["busy", "done"]


async def settle(claim: Callable[[], Awaitable[Outcome]]) -> Claimed | None:
    """Claim an email; while another holder's lease is live, wait for it to finish or lapse and try again.
    None when the email needs no sending (sent, failed for good, or no longer wanted)."""
    attempt = 0
    while (outcome := await claim()) == "busy":
        await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        attempt += 1
    return outcome if isinstance(outcome, Claimed) else None


_CLAIM = """
    INSERT INTO sent_emails AS s (key, recipient, state, holder, lease_until)
    VALUES ($1, $2, 'sending', $3, now() + make_interval(secs => $4))
    ON CONFLICT (key) DO UPDATE
       SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, recipient = EXCLUDED.recipient
     WHERE s.state = 'sending' AND s.lease_until < now()
    RETURNING true
"""

# Rows are locked in key order, as the claims take them, so that a claim and a mark never wait for each other
# in a circle (a claim locks the rows of the emails it finds busy); invites follow in member order.
_MARK_SENT = """
    WITH logged AS (
        UPDATE sent_emails s SET state = 'sent', sent_at = now(), lease_until = NULL
          FROM (SELECT key FROM sent_emails WHERE key = ANY($1::text[]) AND state = 'sending'
                 ORDER BY key FOR UPDATE) l
         WHERE s.key = l.key)
    UPDATE invites i SET status = 'sent', sent_at = now(), error = NULL, updated_at = now()
      FROM (SELECT member_id FROM invites WHERE member_id = ANY($2::uuid[]) AND status IN ('pending',
          'queued')
             ORDER BY member_id FOR UPDATE) l
     WHERE i.member_id = l.member_id
"""

# Whether an invite failed now (and not before): it goes into its run's member errors once.
_MARK_FAILED = """
    WITH logged AS (
        UPDATE sent_emails SET state = 'failed', error = $2, lease_until = NULL WHERE key = $1 AND state =
            'sending'),
    failed AS (
        UPDATE invites SET status = 'failed', error = $2, updated_at = now()
         WHERE member_id = $3 AND status IN ('pending', 'queued') RETURNING member_id)
    SELECT EXISTS (SELECT 1 FROM failed)
"""

# After an outage outlasted the retries: an admin can send the invite again with the pending ones.
_RELEASE = """
    WITH released AS (DELETE FROM sent_emails WHERE key = $1 AND holder = $2 AND state = 'sending')
    UPDATE invites SET status = 'pending', error = $3, updated_at = now()
     WHERE member_id = $4 AND status IN ('pending', 'queued')
"""


class SentLog:
    def __init__(self, pool: asyncpg.Pool, holder: str, lease: float):
        self.pool = pool
        self.holder = holder
        self.lease = lease
        self._sent: Batcher[tuple[str, str | None], None] = Batcher(pool, self._mark_sent)

    async def claim(self, key: str, recipient: str) -> Outcome:
        since = time.monotonic()
        if await self.pool.fetchval(_CLAIM, key, recipient, self.holder, self.lease):
            return Claimed(Lease(self, key, since))
        state = await self.pool.fetchval("SELECT state FROM sent_emails WHERE key = $1", key)
        return "busy" if state in ("sending", None) else "done"

    async def renew(self, key: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "UPDATE sent_emails SET lease_until = now() + make_interval(secs => $3)"
                " WHERE key = $1 AND holder = $2 AND state = 'sending' RETURNING true",
                key,
                self.holder,
                self.lease,
            )
        )

    async def sent(self, key: str, member_id: str | None = None) -> None:
        """Record that the server took the email (and the invite, for an invite's key), in a batch with
        others. Until this commits a crash sends the email again, so database errors are retried for half a
        lease."""
        deadline = time.monotonic() + self.lease / 2
        attempt = 0
        while True:
            try:
                return await self._sent.submit((key, member_id))
            except _TRANSIENT_DB_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                delay = backoff(attempt, 5.0)
                log.warning("recording %s as sent failed, retrying in %.1f s: %r", key, delay, exc)
                await asyncio.sleep(delay)
                attempt += 1

    @staticmethod
    async def _mark_sent(conn: asyncpg.Connection, items: Sequence[tuple[str, str | None]]) -> list[None]:
        members = [member for _, member in items if member is not None]
        await conn.execute(_MARK_SENT, [key for key, _ in items], members)
        return [None] * len(items)

    async def failed(
        self,
        key: str,
        error: str,
        member_id: str | None = None,
        run_id: str | None = None,
        directory_id: str | None = None,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(_MARK_FAILED, key, error, member_id) and run_id is not None:
                await runs.add_member_errors(conn, run_id, [{"directory_id": directory_id, "message": error}])

    async def release(self, key: str, error: str, member_id: str | None = None) -> None:
        await self.pool.execute(_RELEASE, key, self.holder, error, member_id)
