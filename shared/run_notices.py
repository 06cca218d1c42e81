"""Whom a run's end is told to, decided where the run ends, in its transaction (R17): the first failed run
of a streak (a team's runs, previews aside) asks the notifier to email the team's admins what failed and what
to do; the first run that works after a streak asks it to say the sync is fixed. The notifier sends each admin
at most one failure notice per team and day (its sent-log keys them so), and a held run's admins hear of it
through its digest (R10)."""

from __future__ import annotations

import asyncpg

from shared.db import enqueue
from shared.messages import RunNoticeRequested


def reads_directory(run: str) -> str:
    """SQL that holds when the run aliased ``run`` read the directory: a sync, not an admin's undo or decision
    on a merge, which can be refused without anything being wrong with the connection, and so neither start
    nor end a streak of failures."""
    return (
        f"({run}.undoes IS NULL AND NOT EXISTS"
        f" (SELECT 1 FROM member_merges mm WHERE mm.decision_run_id = {run}.id))"
    )


_END = f"""
SELECT r.team_id::text, r.status, r.dry_run, {reads_directory("r")} AS sync,
       (coalesce(r.finished_at, now()) AT TIME ZONE 'UTC')::date AS day,
       (SELECT p.status FROM sync_runs p
         WHERE p.team_id = r.team_id AND p.id <> r.id AND NOT p.dry_run AND p.finished_at IS NOT NULL
           AND p.status IN ('succeeded', 'failed', 'held') AND {reads_directory("p")}
         ORDER BY p.finished_at DESC LIMIT 1) AS before
  FROM sync_runs r WHERE r.id = $1
"""


async def after_end(conn: asyncpg.Connection, run_id: str) -> None:
    """The notice the run's end calls for, if any, into the outbox of the caller's transaction."""
    run = await conn.fetchrow(_END, run_id)
    if run is None or run["dry_run"] or not run["sync"]:
        return
    failed, failed_before = run["status"] == "failed", run["before"] == "failed"
    if failed == failed_before:
        return  # a streak goes on (or none began)
    await enqueue(
        conn,
        RunNoticeRequested(
            team_id=run["team_id"], run_id=str(run_id), kind="failed" if failed else "fixed", day=run["day"]
        ),
    )
