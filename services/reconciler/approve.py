"""Applying an approved held run (R10): the removals it held, and the new members the addition guard held,
as far as they are still right, are applied now."""

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


# Still right: no member of the team has the user or the login since (a later run would have superseded the
# hold; a member added by hand may have come meanwhile).
_HELD_MEMBERS = """
INSERT INTO chunk_members
SELECT h.op, h.member_id, h.account_id, h.new_account, h.directory_id, h.login_email,
       {card}, h.card_fields, h.status, h.role, h.role_from_sync, h.bind, h.invite, h.relogin
  FROM held_addition_members h
 WHERE h.run_id = $1
   AND NOT EXISTS (SELECT 1 FROM members m WHERE m.team_id = $2 AND m.directory_id = h.directory_id)
   AND NOT EXISTS (SELECT 1 FROM members m JOIN accounts a ON a.id = m.account_id
                    WHERE m.team_id = $2 AND a.email_key = lower(btrim(h.login_email)))
""".format(card=", ".join(f"h.card_{f}" for f in CARD_COLUMNS))
_HELD_ROWS = """
INSERT INTO chunk_links
SELECT id, member_id, source, type, label, value, position, new FROM held_addition_links
 WHERE run_id = $1 AND member_id IN (SELECT member_id FROM chunk_members);
INSERT INTO chunk_subteams
SELECT member_id, group_id, op, role, role_from_sync, new FROM held_addition_subteams
 WHERE run_id = $1 AND member_id IN (SELECT member_id FROM chunk_members);
INSERT INTO outbox (routing_key, message_id, body)
SELECT routing_key, message_id, body FROM held_addition_invites
 WHERE run_id = $1 AND member_id IN (SELECT member_id FROM chunk_members)
"""


async def _add_held(conn: asyncpg.Connection, writer: ActionWriter, run: runs.Run) -> tuple[int, int]:
    """The held new members that are still right, with their places, links and invites; (created, invited)."""
    await conn.execute(_HELD_MEMBERS, run.id, run.team_id)
    created, invited = await conn.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE invite) FROM chunk_members"
    )
    if created:
        # One statement a kind: asyncpg sends a query with arguments as one statement.
        for statement in _HELD_ROWS.split(";"):
            await conn.execute(statement, run.id)
        await conn.execute(writer.statements)
    for table in apply.HELD_ADDITIONS:
        await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", run.id)
    return created, invited if run.config and run.config.send_invites else 0


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
    created, invited = await _add_held(conn, writer, run)
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
    await runs.finish_approved(
        conn, run.id, counter["removed"], counter["deleted"], summary, created=created, invited=invited
    )
    if summary["removed"] or summary["added"]:  # R16: the admins learn who joined and left once applied
        await db.enqueue(conn, AdminDigestRequested(team_id=run.team_id, run_id=run.id, approved=True))
