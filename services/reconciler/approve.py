"""Applying an approved held run (R10): the removals it held, as far as they are still right, are applied
now."""

from __future__ import annotations

from collections import Counter

import asyncpg

from services.reconciler import apply
from services.reconciler.model import CARD_COLUMNS, MemberAction
from services.reconciler.plan import tally
from services.reconciler.writer import ActionWriter
from shared import db, run_locks, runs
from shared.failures import Cause
from shared.messages import AdminDigestRequested

# Still valid: the member is still managed and present, and no later run superseded the hold (``apply``). A
# held member keeps its subteam places until the removal is applied.
_STILL_VALID = f"""
SELECT m.id::text, m.account_id::text, m.directory_id, {", ".join(f"m.card_{f}" for f in CARD_COLUMNS)}
  FROM held_removals h JOIN members m ON m.id = h.member_id
 WHERE h.run_id = $1 AND m.managed AND m.status <> 'removed'
"""


async def apply_approved(conn: asyncpg.Connection, run: runs.Run) -> None:
    """Apply the approved run's still-valid removals and mark it succeeded; call it in the caller's
    transaction, under the run's lock, with the run known to be approved (``reconciling`` after ``held``)."""
    if run.config is None:
        await runs.fail(
            conn, run.id, run.config_error or "the run has no sync configuration", cause=Cause.CONFIGURATION
        )
        return
    await run_locks.lock(conn, "team", run.team_id)
    writer = ActionWriter(conn, run.config, dry_run=False, team_id=run.team_id, run_id=run.id)
    await writer.open()
    counter: Counter[str] = Counter()
    for row in await conn.fetch(_STILL_VALID, run.id):
        action = MemberAction(
            "remove",
            row["directory_id"],
            row["id"],
            row["account_id"],
            fields={f: row[f"card_{f}"] for f in CARD_COLUMNS},
            hard=run.config.delete_on_removal,
        )
        tally(action, counter)
        writer.add(action)
    await writer.flush()
    await apply.finish(conn, run.team_id, run.id)
    await apply.member_events(conn, run.team_id, run.id)
    summary = await apply.summary(conn)
    # Its staged snapshot goes too: pages of the held run redelivered since its approval.
    await runs.finish_approved(conn, run.id, counter["removed"], counter["deleted"], summary)
    if summary["removed"]:  # R16: the admins learn who left once the removals are applied
        await db.enqueue(conn, AdminDigestRequested(team_id=run.team_id, run_id=run.id, approved=True))
