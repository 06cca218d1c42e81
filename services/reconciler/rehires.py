"""R4's continuity on re-hire: a run records the merges ``identity`` proposes (a directory user whose email is
a removed member's, bound to another directory user), and a run of its own applies an admin's decision on
one, from what the proposing run saw of the user: accepted, the removed member comes back as the user's (same
member, new object id, its card and subteams as the directory has them); rejected, the removed member goes
(its tombstone in the deciding run's journal) and the user becomes a new member, invited as any new member
is."""

from __future__ import annotations

import logging
from collections import Counter

import asyncpg

from services.reconciler import apply, state
from services.reconciler.identity import Binding
from services.reconciler.model import CARD_COLUMNS, MappedCard, MemberAction, Observed
from services.reconciler.plan import COUNT_KEYS, tally
from services.reconciler.rules import Context, decide
from services.reconciler.writer import ActionWriter
from shared import db, runs
from shared.messages import AdminDigestRequested

log = logging.getLogger(__name__)

# A proposal open for the same user is kept, with what this run saw of it.
_RECORD = """
INSERT INTO member_merges (team_id, run_id, member_id, old_directory_id, directory_id, email, seen)
SELECT $1, $2, m.id, m.directory_id, u.directory_id, u.email_key,
       jsonb_build_object(
         'card', (SELECT convert_from(s.card, 'UTF8')::jsonb FROM snapshot_users s WHERE s.ctid = u.card_row),
         'groups', to_jsonb(u.groups))
  FROM unnest($3::text[], $4::uuid[]) AS b(directory_id, member_id)
  JOIN seen_users u ON u.directory_id = b.directory_id
  JOIN members m ON m.id = b.member_id
ON CONFLICT (team_id, directory_id) WHERE status = 'proposed'
DO UPDATE SET seen = EXCLUDED.seen, member_id = EXCLUDED.member_id,
              old_directory_id = EXCLUDED.old_directory_id
"""

# The member as the rules read it (``state.current_member``).
_MEMBER = f"""
SELECT m.id, m.account_id, m.directory_id, m.managed, m.status, m.role, m.role_from_sync,
       {", ".join(f"m.card_{f}" for f in CARD_COLUMNS)}, m.card_fields, i.status AS invite_status,
       CASE WHEN a.created_by_team = m.team_id THEN a.email END AS sync_login,
       (SELECT jsonb_object_agg(l.source, nullif(l.value, '')) FROM links l
         WHERE l.member_id = m.id AND l.source IS NOT NULL) AS links,
       (SELECT jsonb_object_agg(g.directory_group_id, jsonb_build_array(p.role, p.role_from_sync))
          FROM subteam_members p JOIN subteams g ON g.id = p.subteam_id
         WHERE p.member_id = m.id AND g.directory_group_id IS NOT NULL) AS subteams
  FROM members m JOIN accounts a ON a.id = m.account_id LEFT JOIN invites i ON i.member_id = m.id
 WHERE m.id = $1
"""


async def record(conn: asyncpg.Connection, team_id: str, run_id: str, bindings: list[Binding]) -> None:
    """Record the merges the run's bindings propose (in the run's transaction, with its staged snapshot)."""
    merges = [b for b in bindings if b.merge]
    if merges:
        await conn.execute(
            _RECORD,
            team_id,
            run_id,
            [b.directory_id for b in merges],
            [b.merge for b in merges],
        )


async def apply_decision(conn: asyncpg.Connection, run: runs.Run, merge_id: str) -> None:
    """Apply the decision on ``merge_id`` as ``run`` (``reconciling``, under the team's lock, in the caller's
    transaction), or fail the run saying why it cannot be, the merge proposed again."""
    merge = await conn.fetchrow(
        "SELECT * FROM member_merges WHERE id = $1 AND decision_run_id = $2 FOR UPDATE", merge_id, run.id
    )
    if merge is None or run.config is None:
        await runs.fail(conn, run.id, run.config_error or "the merge this run decides is gone")
        return
    current = None
    if merge["member_id"] is not None:
        current = state.current_member(await conn.fetchrow(_MEMBER, merge["member_id"]))
    if merge["status"] == "accepted" and (current is None or current.status != "removed"):
        await _refuse(conn, run.id, merge_id, "the removed member is no longer there to bring back")
        return
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM members WHERE team_id = $1 AND directory_id = $2)",
        run.team_id,
        merge["directory_id"],
    ):
        await _refuse(conn, run.id, merge_id, "the directory user is a member already")
        return
    seen = merge["seen"]
    card = MappedCard.from_json(seen["card"])
    observed = Observed(merge["directory_id"], card, frozenset(seen["groups"]))
    ctx = Context(run.config)
    writer = ActionWriter(conn, run.config, dry_run=False, team_id=run.team_id, run_id=run.id)
    await writer.open()
    counter: Counter[str] = Counter()
    if merge["status"] == "accepted":
        assert current is not None
        action = decide(observed, current, ctx)
        tally(action, counter)
        writer.add(action, (current.role, current.role_from_sync))
        await writer.flush()
        await apply.finish(conn, run.team_id, run.id)
    else:
        if current is not None:  # the removed member lets go of the account, which one member a team holds
            gone = MemberAction(
                "remove",
                current.directory_id,
                current.member_id,
                current.account_id,
                fields=dict(current.fields),
                hard=True,
            )
            tally(gone, counter)
            writer.add(gone)
            await writer.flush()
            await apply.finish(conn, run.team_id, run.id)
        account = await conn.fetchval(
            "SELECT id::text FROM accounts WHERE email_key = $1 UNION ALL"
            " SELECT id::text FROM accounts WHERE email_key = $2 LIMIT 1",
            card.email_key,
            card.login_key,
        )
        action = decide(observed, None, ctx, account)
        tally(action, counter)
        writer.add(action)
        await writer.flush()
    if not run.config.send_invites:
        counter["invited"] = 0  # R11: the invite waits, pending, until invites are sent on request
    counts = {k: counter[k] for k in COUNT_KEYS}
    summary = await apply.summary(conn)
    await apply.member_events(conn, run.team_id, run.id)
    await runs.finish(conn, run.id, runs.RunStatus.SUCCEEDED, counts, [], summary=summary)
    if summary["added"] or summary["removed"]:  # R16
        await db.enqueue(conn, AdminDigestRequested(team_id=run.team_id, run_id=run.id, kind="summary"))
    log.info("run %s applied the %s merge %s: %s", run.id, merge["status"], merge_id, counts)


async def _refuse(conn: asyncpg.Connection, run_id: str, merge_id: str, why: str) -> None:
    await conn.execute(
        "UPDATE member_merges SET status = 'proposed', decided_by = NULL, decided_at = NULL,"
        " decision_run_id = NULL WHERE id = $1",
        merge_id,
    )
    await runs.fail(conn, run_id, f"the merge cannot be applied: {why}; it is proposed again")
