"""Undoing a run from its journal (``apply`` writes it), in set-based SQL, in the undo run's one transaction:
members the run made go (their invites with them, so none is emailed), members it deleted come back from their
tombstones, members it removed or changed get back their row, login, links and subteam places as they were.
The undo is a run of its own: its counts say what it did (``created``: members back from a tombstone,
``updated``: members given back their earlier row, ``deleted``: members the run had made), and the admins get
the digest of who came back and who went."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from services.reconciler import apply
from services.reconciler.plan import COUNT_KEYS
from shared import db, runs, undo
from shared.messages import AdminDigestRequested, PhotosStored

log = logging.getLogger(__name__)

# The undo's own record of what it did is kept in ``apply.DONE``'s shape for ``apply.summary``: ``create`` for
# a member back from its tombstone, ``update`` with a status for one back from a removal, ``delete`` for one
# the run made.
# The journal of the run, a member a row.
_ROWS = """
INSERT INTO undo_rows (run_id, member_id, op, member, account, links, places, invite, photo)
SELECT run_id, member_id, op, member, account, links, places, invite, photo FROM run_journal
 WHERE run_id = $1 AND op <> 'create'
 UNION ALL
SELECT run_id, unnest(created), 'create', NULL, NULL, NULL, NULL, NULL, NULL FROM run_journal
 WHERE run_id = $1 AND op = 'create'
"""
_STEPS: tuple[str, ...] = (
    # The members the run made, with their links, places, photos and pending invites (cascaded).
    """UPDATE undo_rows u SET account = jsonb_build_object('id', m.account_id, 'directory_id', m.directory_id)
         FROM members m WHERE u.op = 'create' AND m.id = u.member_id""",
    """WITH gone AS (
         DELETE FROM members m USING undo_rows u
          WHERE u.op = 'create' AND m.id = u.member_id AND m.team_id = $1
         RETURNING m.id, m.card_name, m.card_email)
       INSERT INTO run_actions SELECT 'delete', id, card_name, card_email FROM gone""",
    # R9: an account goes with its member only when this team's sync made it and it is in no other team.
    """DELETE FROM accounts a USING undo_rows u
        WHERE u.op = 'create' AND a.id = (u.account ->> 'id')::uuid AND a.created_by_team = $1
          AND NOT EXISTS (SELECT 1 FROM members x WHERE x.account_id = a.id)""",
    # The members it deleted: their account (when it went with them), row, links, places, invite and photo.
    """INSERT INTO accounts (id, email, name, created_by_team, created_at)
       SELECT r.id, r.email, r.name, r.created_by_team, r.created_at
         FROM undo_rows u, jsonb_populate_record(NULL::accounts, u.account) r
        WHERE u.op = 'delete'
       ON CONFLICT DO NOTHING""",
    """INSERT INTO members
       SELECT (jsonb_populate_record(NULL::members, u.member || jsonb_build_object(
                 'template_id',
                 (SELECT t.id FROM templates t WHERE t.id = (u.member ->> 'template_id')::uuid),
                 'updated_at', now()))).*
         FROM undo_rows u WHERE u.op = 'delete'""",
    """INSERT INTO member_photos
       SELECT (jsonb_populate_record(NULL::member_photos, u.photo)).*
         FROM undo_rows u WHERE u.op = 'delete' AND u.photo IS NOT NULL""",
    """INSERT INTO invites
       SELECT (jsonb_populate_record(NULL::invites, u.invite)).*
         FROM undo_rows u WHERE u.op = 'delete' AND u.invite IS NOT NULL""",
    # The members it removed or changed: their row as it was (its ids, template and creation stay).
    """UPDATE members m SET directory_id = r.directory_id, managed = r.managed, status = r.status,
              role = r.role, role_from_sync = r.role_from_sync, subscription_active = r.subscription_active,
              card_name = r.card_name, card_email = r.card_email, card_job_title = r.card_job_title,
              card_company = r.card_company, card_phone = r.card_phone, card_location = r.card_location,
              card_fields = r.card_fields, removed_at = r.removed_at, updated_at = now()
         FROM undo_rows u, jsonb_populate_record(NULL::members, u.member) r
        WHERE u.op IN ('update', 'remove') AND m.id = u.member_id""",
    # R4: a login the run changed goes back, unless another account has taken it since; only on an account
    # this team's sync made, the only ones its runs move (a login another team's sync moved stays).
    """UPDATE accounts a SET email = r.email
         FROM undo_rows u, jsonb_populate_record(NULL::accounts, u.account) r
        WHERE u.op = 'update' AND a.id = r.id AND a.email IS DISTINCT FROM r.email AND a.created_by_team = $1
          AND NOT EXISTS (SELECT 1 FROM accounts x
                           WHERE x.email_key = lower(btrim(r.email)) AND x.id <> a.id)""",
    """DELETE FROM links l USING undo_rows u
        WHERE u.op IN ('update', 'remove') AND l.member_id = u.member_id""",
    """INSERT INTO links (id, member_id, type, label, value, template_link_id, source, position)
       SELECT r.id, r.member_id, r.type, r.label, r.value,
              (SELECT t.id FROM template_links t WHERE t.id = r.template_link_id), r.source, r.position
         FROM undo_rows u, jsonb_array_elements(u.links) e, jsonb_populate_record(NULL::links, e) r
        WHERE u.op IN ('update', 'remove', 'delete')""",
    """DELETE FROM subteam_members p USING undo_rows u
        WHERE u.op IN ('update', 'remove') AND p.member_id = u.member_id""",
    """INSERT INTO subteam_members (subteam_id, member_id, role, role_from_sync)
       SELECT r.subteam_id, r.member_id, r.role, r.role_from_sync
         FROM undo_rows u, jsonb_array_elements(u.places) e, jsonb_populate_record(NULL::subteam_members, e) r
        WHERE u.op IN ('update', 'remove', 'delete')
          AND EXISTS (SELECT 1 FROM subteams s WHERE s.id = r.subteam_id AND s.team_id = $1)""",
    """INSERT INTO run_actions
       SELECT CASE u.op WHEN 'delete' THEN 'create' ELSE 'update' END, u.member_id,
              u.member ->> 'card_name', u.member ->> 'card_email',
              CASE WHEN u.op IN ('remove', 'delete') THEN u.member ->> 'status' END
         FROM undo_rows u WHERE u.op <> 'create'""",
)
# R17: the whole team after the undo; ``unchanged`` the members in scope it left as they were.
_COUNTS = """
SELECT count(*) FILTER (WHERE op = 'create') AS created, count(*) FILTER (WHERE op = 'update') AS updated,
       count(*) FILTER (WHERE op = 'delete') AS deleted,
       (SELECT count(*) FROM members m WHERE m.team_id = $1 AND m.managed AND m.status <> 'removed'
           AND m.id NOT IN (SELECT member_id FROM run_actions)) AS unchanged
  FROM run_actions
"""


async def apply_undo(conn: asyncpg.Connection, team_id: str, run_id: str, undoes: str) -> None:
    """Undo ``undoes`` as run ``run_id`` (``reconciling``, under the team's lock, in the caller's
    transaction), or fail the run saying why it cannot be."""
    if (refused := await undo.refusal(conn, team_id, undoes, run_id)) is not None:
        await runs.fail(conn, run_id, f"run {undoes} cannot be undone: {refused.reason}")
        return
    await conn.execute("SET LOCAL jit = off")
    try:
        async with conn.transaction():  # a savepoint: a refusal by the database leaves the run to fail
            await conn.execute("CREATE TEMP TABLE undo_rows (LIKE run_journal) ON COMMIT DROP")
            # The apply's own table of member actions, which lives as long as the connection (the writer
            # makes it once and each commit empties it); an undo on a fresh connection makes it the same way.
            await conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS run_actions ({apply.DONE}) ON COMMIT DELETE ROWS;"
                " TRUNCATE run_actions"
            )
            await conn.execute(_ROWS, undoes)
            for statement in _STEPS:
                await conn.execute(statement, *((team_id,) if "$1" in statement else ()))
    except asyncpg.IntegrityConstraintViolationError as exc:
        log.warning("undo of run %s by run %s refused by the database: %s", undoes, run_id, exc)
        await runs.fail(
            conn, run_id, f"run {undoes} cannot be undone: a member cannot be put back as it was ({exc})"
        )
        return
    row = await conn.fetchrow(_COUNTS, team_id)
    counts: dict[str, Any] = dict.fromkeys(COUNT_KEYS, 0) | dict(row)
    summary = await apply.summary(conn)
    await apply.member_events(conn, team_id, run_id)  # the team's webhooks hear who came back and who went
    # The fetcher forgets the photos of the members the undo took away: a later sync that makes them again
    # fetches their photos, which its records would otherwise call unchanged.
    gone = await conn.fetchval(
        "SELECT array_agg(account ->> 'directory_id') FROM undo_rows"
        " WHERE op = 'create' AND account ->> 'directory_id' IS NOT NULL"
    )
    if gone:
        await db.enqueue(conn, PhotosStored(team_id=team_id, run_id=run_id, etags={}, forget=gone))
    await conn.execute("DROP TABLE undo_rows")
    await runs.finish(conn, run_id, runs.RunStatus.SUCCEEDED, counts, [], summary=summary)
    # R16: the admins learn who came back and who went.
    if summary["added"] or summary["removed"]:
        await db.enqueue(conn, AdminDigestRequested(team_id=team_id, run_id=run_id, kind="summary"))
    log.info("run %s undid run %s: %s", run_id, undoes, counts)
