"""Whether a run can be undone, asked by the API before it queues the undo and by the reconciler again before
it applies it; and the journal's 30 days.

A run can be undone when it succeeded, was applied (not dry), is not an undo itself, was not undone already,
ended within ``KEEP_DAYS`` days, and kept a journal; and when no later run touched a member it touched (the
journal of the later runs says so), no member it made has claimed its card since, and each member it deleted
can come back as it was (its account's email and its directory user are no one else's now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

KEEP_DAYS = 30

_RUN = """
SELECT r.status, r.dry_run, r.undoes, r.finished_at, r.created_at, r.counts,
       r.finished_at < now() - make_interval(days => $3) AS too_old,
       (SELECT u.id FROM sync_runs u WHERE u.undoes = r.id AND u.status <> 'failed'
                                        AND u.id IS DISTINCT FROM $4 LIMIT 1) AS undone_by,
       EXISTS (SELECT 1 FROM run_journal j WHERE j.run_id = r.id) AS journaled
  FROM sync_runs r WHERE r.id = $1 AND r.team_id = $2
"""

# Each member of the run's journal that cannot be put back, with why. The later runs' journals are read by
# their run ids (the journal's key), a team's runs since the run being few.
_CONFLICTS = """
WITH mine AS (SELECT member_id, op, member, account FROM run_journal WHERE run_id = $1 AND op <> 'create'
               UNION ALL
               SELECT unnest(created), op, NULL, NULL FROM run_journal WHERE run_id = $1 AND op = 'create'),
later AS (SELECT k.member_id, min(k.run_id::text) AS run_id FROM run_journal k
           WHERE k.run_id IN (SELECT id FROM sync_runs
                               WHERE team_id = $2 AND id <> $1 AND NOT dry_run
                                 AND created_at > (SELECT created_at FROM sync_runs WHERE id = $1))
             AND k.member_id IN (SELECT member_id FROM mine)
           GROUP BY k.member_id),
-- The members the run made, and the accounts that go with them, which the undo removes first (a rejected
-- merge's new member holds the login of the member it deleted).
made AS (SELECT m.id, m.account_id,
                 NOT EXISTS (SELECT 1 FROM members o WHERE o.account_id = m.account_id AND o.id <> m.id)
                 AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = m.account_id AND a.created_by_team = $2)
                   AS account_goes
            FROM members m WHERE m.id IN (SELECT member_id FROM mine WHERE op = 'create'))
SELECT j.member_id::text, coalesce(m.card_name, j.member ->> 'card_name') AS name,
       coalesce(m.card_email, j.member ->> 'card_email') AS email,
       CASE
         WHEN l.member_id IS NOT NULL THEN 'a later run (' || l.run_id || ') changed this member'
         WHEN j.op = 'create' AND m.status = 'active' THEN 'the member has claimed its card since'
         WHEN j.op IN ('update', 'remove') AND m.id IS NULL THEN 'the member no longer exists'
         WHEN j.op = 'delete' AND m.id IS NOT NULL THEN 'the member exists again'
         WHEN j.op = 'delete' AND EXISTS (
                SELECT 1 FROM accounts a WHERE a.email_key = lower(btrim(j.account ->> 'email'))
                   AND a.id <> (j.account ->> 'id')::uuid
                   AND a.id NOT IN (SELECT account_id FROM made WHERE account_goes)) THEN
           'its login ' || (j.account ->> 'email') || ' belongs to another account now'
         WHEN j.op = 'delete' AND EXISTS (
                SELECT 1 FROM members x WHERE x.team_id = $2 AND x.id NOT IN (SELECT id FROM made)
                   AND (x.directory_id = j.member ->> 'directory_id'
                        OR x.account_id = (j.member ->> 'account_id')::uuid)) THEN
           'another member of the team has its directory user or account now'
       END AS reason
  FROM mine j
  LEFT JOIN later l ON l.member_id = j.member_id
  LEFT JOIN members m ON m.id = j.member_id
"""


@dataclass(frozen=True)
class Refusal:
    """Why a run cannot be undone: ``found`` False when the team has no such run; ``members`` the members in
    the way, each with why."""

    reason: str
    found: bool = True
    members: tuple[dict[str, Any], ...] = ()


async def refusal(
    conn: asyncpg.Connection | asyncpg.Pool, team_id: Any, run_id: Any, by: Any = None
) -> Refusal | None:
    """None when the run can be undone now (by the undo run ``by``, when it is queued already)."""
    run = await conn.fetchrow(_RUN, run_id, team_id, KEEP_DAYS, by)
    if run is None:
        return Refusal("no such run", found=False)
    if run["dry_run"]:
        return Refusal("a dry run changed nothing; there is nothing to undo")
    if run["undoes"] is not None:
        return Refusal("this run is an undo; it cannot be undone in turn")
    if run["status"] != "succeeded":
        return Refusal(f"only a succeeded run can be undone; this run is {_public(run['status'])}")
    if run["undone_by"] is not None:
        return Refusal(f"this run was undone already, by run {run['undone_by']}")
    if run["too_old"]:
        return Refusal(f"this run ended more than {KEEP_DAYS} days ago; its journal is no longer kept")
    if not run["journaled"]:
        counts = run["counts"] or {}
        if any(counts.get(k) for k in ("created", "updated", "removed", "deleted")):
            return Refusal("this run kept no journal to undo it from (it ran before runs kept one)")
        return Refusal("this run changed no member; there is nothing to undo")
    members = tuple(dict(r) for r in await conn.fetch(_CONFLICTS, run_id, team_id) if r["reason"])
    if members:
        listed = "; ".join(
            f"{m['name'] or m['email'] or m['member_id']}: {m['reason']}" for m in members[:10]
        )
        more = f" and {len(members) - 10} more" if len(members) > 10 else ""
        return Refusal(f"{len(members)} member(s) cannot be put back: {listed}{more}", members=members)
    return None


def _public(status: str) -> str:
    return "reconciling" if status == "photos" else status


async def purge(database: asyncpg.Pool | asyncpg.Connection) -> int:
    """Drop the journals of runs that ended more than KEEP_DAYS days ago (a deleted member's tombstone with
    them); how many rows went."""
    gone = await database.execute(
        """DELETE FROM run_journal
            WHERE run_id IN (SELECT id FROM sync_runs
                              WHERE finished_at < now() - make_interval(days => $1))""",
        KEEP_DAYS,
    )
    return int(gone.split()[-1])
