"""Claiming invites in batches: the invites asked for at the same moment are claimed in one statement."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notifier import store
from services.notifier.sentlog import Claimed, Lease, Outcome, SentLog
from shared.batching import Batcher

Pair = tuple[str, str]  # (member id, team id)


@dataclass(frozen=True)
class InviteAsk:
    """Ids in canonical form (lowercase, hyphenated), as the database writes them."""

    team_id: str
    member_id: str
    token_hash: str


class InviteClaims:
    """Claims wait up to ``linger`` seconds for company: an invite is rarely alone (a sync invites many
    members), and a few milliseconds before the email is written cost nothing, where a statement per invite
    costs the database. (Marking sent does not wait: that write closes the window in which a crash duplicates
    an email.)"""

    def __init__(self, sentlog: SentLog, ttl_days: int, linger: float = 0.01):
        self.sentlog = sentlog
        self.ttl = timedelta(days=ttl_days)
        self._batcher: Batcher[InviteAsk, Outcome] = Batcher(sentlog.pool, self._claim_batch, linger=linger)

    async def claim(self, ask: InviteAsk) -> Outcome:
        """Claimed, with the row an invite email needs (its ``expires_at`` included); "busy" while another
        holder sends it; "done" when there is nothing to send: sent, claimed, failed, or the member is
        gone."""
        return await self._batcher.submit(ask)

    async def _claim_batch(self, conn: asyncpg.Connection, asks: Sequence[InviteAsk]) -> list[Outcome]:
        # The same member twice in a batch is one claim; the later asks wait for its outcome like any other.
        first: dict[Pair, InviteAsk] = {}
        for ask in asks:
            first.setdefault((ask.member_id, ask.team_id), ask)
        outcomes = await self._claim(conn, list(first.values()), make_missing=True)
        answers: list[Outcome] = []
        for ask in asks:
            pair = (ask.member_id, ask.team_id)
            answers.append(outcomes.get(pair, "done") if first[pair] is ask else "busy")
        return answers

    async def _claim(
        self, conn: asyncpg.Connection, asks: list[InviteAsk], *, make_missing: bool
    ) -> dict[Pair, Outcome]:
        expires_at = datetime.now(UTC) + self.ttl
        rows = [(a.member_id, a.team_id, a.token_hash) for a in asks]
        log = self.sentlog
        since = time.monotonic()
        found = await store.claim_invites(conn, rows, log.holder, log.lease, expires_at)
        missing = {r["member_id"] for r in found if r["missing"]}
        if missing and make_missing:
            await store.make_invites(conn, [row for row in rows if row[0] in missing])
        if make_missing and (unasked := {a.member_id for a in asks} - {r["member_id"] for r in found}):
            await store.unqueue_removed(conn, list(unasked))
        outcomes: dict[Pair, Outcome] = {}
        for r in found:
            pair = (r["member_id"], r["team_id"])
            if r["claimed"]:
                outcomes[pair] = Claimed(Lease(log, r["key"], since), dict(r, expires_at=expires_at))
            elif not r["missing"]:
                outcomes[pair] = "done" if r["logged"] in ("sent", "failed") else "busy"
        if missing and make_missing:
            made = [a for a in asks if a.member_id in missing]
            outcomes.update(await self._claim(conn, made, make_missing=False))
        return outcomes
