"""Applying the buffered actions with set-based SQL, inside the run's one transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.reconciler.model import CARD_COLUMNS
from shared.messages import WEBHOOK_BATCH, WebhookEvent

_CARD = ", ".join(f"card_{f}" for f in CARD_COLUMNS)
_CARD_SET = ", ".join(f"card_{f} = t.card_{f}" for f in CARD_COLUMNS)

# The member ``t.member_id`` and its account, looked up by their keys (the fence keeps the planner from
# joining the chunk's few members to the whole team: its temporary tables have no statistics); then the
# member's links and subteam places, as the journal keeps them.
_MEMBER_OF = """(SELECT * FROM members x WHERE x.id = t.member_id LIMIT 1) m
        CROSS JOIN LATERAL (SELECT * FROM accounts y WHERE y.id = m.account_id LIMIT 1) a"""
_LINKS_OF = "(SELECT coalesce(jsonb_agg(to_jsonb(l)), '[]') FROM links l WHERE l.member_id = m.id)"
_PLACES_OF = "(SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM subteam_members p WHERE p.member_id = m.id)"

# A chunk's statements, run as one batch while the next chunk is decided: everything but removals, which wait
# for the guard (R10) and run once the whole plan is known, from ``run_actions``. ``:team`` is the team's id.
_CHUNK: tuple[str, ...] = (
    # The run's journal, for its undo: what each member the chunk changes was before, once a run, and the ids
    # of the members it creates, in one row (they have no earlier image). Only members with a change are in
    # the chunk's tables: a run that changes nothing writes nothing here.
    f"""INSERT INTO run_journal (run_id, member_id, op, member, account, links, places)
       SELECT :run, m.id, 'update', to_jsonb(m), to_jsonb(a), {_LINKS_OF}, {_PLACES_OF}
         FROM (SELECT member_id FROM chunk_members WHERE op = 'update'
               UNION SELECT member_id FROM chunk_links WHERE NOT new
               UNION SELECT member_id FROM chunk_subteams WHERE NOT new) t
        CROSS JOIN LATERAL {_MEMBER_OF}
       ON CONFLICT DO NOTHING""",
    """INSERT INTO run_journal (run_id, member_id, op, created)
       SELECT :run, gen_random_uuid(), 'create', array_agg(member_id) FROM chunk_members WHERE op = 'create'
       HAVING count(*) > 0""",
    # Accounts of new members: a concurrent sync of another team may have made the same one; then use it (the
    # look-up is for those alone, in a statement of its own that sees the other transaction's row).
    """WITH made AS (
         INSERT INTO accounts (id, email, name, created_by_team)
         SELECT account_id, login_email, coalesce(card_name, ''), :team FROM chunk_members
          WHERE op = 'create' AND new_account
         ON CONFLICT (email_key) DO NOTHING RETURNING id)
       INSERT INTO accounts_taken SELECT member_id FROM chunk_members
        WHERE op = 'create' AND new_account AND account_id NOT IN (SELECT id FROM made)""",
    """UPDATE chunk_members t SET account_id = a.id FROM accounts_taken k, accounts a
        WHERE t.member_id = k.member_id AND a.email_key = lower(btrim(t.login_email))""",
    f"""INSERT INTO members (id, team_id, account_id, directory_id, managed, status, role, role_from_sync,
                            {_CARD}, card_fields)
        SELECT member_id, :team, account_id, directory_id, true, status, role, role_from_sync, {_CARD},
            card_fields::jsonb
          FROM chunk_members WHERE op = 'create'""",
    f"""UPDATE members m SET {_CARD_SET}, card_fields = t.card_fields::jsonb, role = t.role,
               role_from_sync = t.role_from_sync, updated_at = now(),
               directory_id = CASE WHEN t.bind THEN t.directory_id ELSE m.directory_id END,
               managed = m.managed OR t.bind,
               status = coalesce(t.status, m.status),
               subscription_active = t.status IS NOT NULL OR m.subscription_active,
               removed_at = CASE WHEN t.status IS NULL THEN m.removed_at END
          FROM chunk_members t WHERE t.op = 'update' AND m.id = t.member_id""",
    # R4, R5: a sync-made account follows its user's userPrincipalName (``state.pair`` leaves out the logins
    # another account has; one that a concurrent run took meanwhile is left too).
    """UPDATE accounts a SET email = t.login_email FROM chunk_members t
        WHERE t.op = 'update' AND t.relogin AND a.id = t.account_id
          AND NOT EXISTS (SELECT 1 FROM accounts x WHERE x.email_key = lower(btrim(t.login_email)) AND x.id <>
              a.id)""",
    # R13: a template's email or phone link takes the synced value instead of a link of the sync's own.
    """UPDATE links l SET source = pick.source FROM (
         SELECT DISTINCT ON (t.member_id, t.source) x.id, t.source
           FROM chunk_links t JOIN links x ON x.member_id = t.member_id AND x.template_link_id IS NOT NULL
                                      AND x.source IS NULL AND x.type = t.type
          WHERE t.source IN ('email', 'phone') AND t.value IS NOT NULL AND NOT t.new
            AND NOT EXISTS (SELECT 1 FROM links y WHERE y.member_id = t.member_id AND y.source = t.source)
          ORDER BY t.member_id, t.source, x.position, x.id) pick
        WHERE l.id = pick.id""",
    """DELETE FROM links l USING chunk_links t
        WHERE t.value IS NULL AND l.member_id = t.member_id AND l.source = t.source AND l.template_link_id IS
            NULL""",
    """UPDATE links l SET value = '' FROM chunk_links t
        WHERE t.value IS NULL AND l.member_id = t.member_id AND l.source = t.source AND l.template_link_id IS
            NOT NULL""",
    """INSERT INTO links (id, member_id, type, label, value, source, position)
       SELECT t.id, t.member_id, t.type, t.label, t.value, t.source, t.position FROM chunk_links t
        WHERE NOT t.new AND t.value IS NOT NULL
       ON CONFLICT (member_id, source)
       DO UPDATE SET value = EXCLUDED.value WHERE links.value IS DISTINCT FROM EXCLUDED.value""",
    # R3: a member leaves the subteams of the groups it left, joins those of the groups it joined; R12: the
    # roles of its places.
    """DELETE FROM subteam_members sm USING chunk_subteams t, subteams s
        WHERE t.op = 'leave' AND s.team_id = :team AND s.directory_group_id = t.group_id
          AND sm.subteam_id = s.id AND sm.member_id = t.member_id""",
    """INSERT INTO subteam_members (subteam_id, member_id, role, role_from_sync)
       SELECT s.id, t.member_id, t.role, t.role_from_sync FROM chunk_subteams t
         JOIN subteams s ON s.team_id = :team AND s.directory_group_id = t.group_id
        WHERE t.op = 'join' AND NOT t.new
       ON CONFLICT DO NOTHING""",
    """UPDATE subteam_members sm SET role = t.role, role_from_sync = t.role_from_sync
         FROM chunk_subteams t, subteams s
        WHERE t.op = 'role' AND s.team_id = :team AND s.directory_group_id = t.group_id
          AND sm.subteam_id = s.id AND sm.member_id = t.member_id""",
    # The chunk's member rows are kept for the removals and the summary; the rest starts afresh.
    "INSERT INTO run_actions SELECT op, member_id, card_name, card_email, status FROM chunk_members",
)
# The rows of the chunk's new members: their links, subteam places and invites. None can conflict, so they go
# in with plain inserts, cheaper than ON CONFLICT's speculation; and each refers to a member this batch
# inserted, in this transaction, where nothing else can see it, let alone delete it, before the commit.
_NEW_ROWS: tuple[str, ...] = (
    """INSERT INTO links (id, member_id, type, label, value, source, position)
       SELECT t.id, t.member_id, t.type, t.label, t.value, t.source, t.position FROM chunk_links t
        WHERE t.new AND t.value IS NOT NULL""",
    """INSERT INTO subteam_members (subteam_id, member_id, role, role_from_sync)
       SELECT s.id, t.member_id, t.role, t.role_from_sync FROM chunk_subteams t
         JOIN subteams s ON s.team_id = :team AND s.directory_group_id = t.group_id
        WHERE t.op = 'join' AND t.new""",
    (
        "INSERT INTO invites (member_id, status)"
        " SELECT member_id, :invite FROM chunk_members WHERE invite AND op = 'create'"
    ),
)
_RESET = "TRUNCATE chunk_members, chunk_links, chunk_subteams, accounts_taken"
DONE = "op text, member_id uuid, card_name text, card_email text, status text"

# R9: the removals, once the whole plan is known and the guard (R10) has spoken; each with whether it takes
# the run's id as $1.
_FINAL: tuple[tuple[str, bool], ...] = (
    # The journal's image of each member removed or deleted; a deleted one's is its tombstone, photo and
    # invite included, kept for the undo.
    (
        f"""INSERT INTO run_journal (run_id, member_id, op, member, account, links, places, invite, photo)
       SELECT $1::uuid, m.id, t.op, to_jsonb(m), to_jsonb(a), {_LINKS_OF}, {_PLACES_OF},
              (SELECT to_jsonb(i) FROM invites i WHERE i.member_id = m.id),
              CASE WHEN t.op = 'delete' THEN
                (SELECT to_jsonb(f) FROM member_photos f WHERE f.member_id = m.id) END
         FROM (SELECT member_id, op FROM run_actions WHERE op IN ('remove', 'delete')) t
        CROSS JOIN LATERAL {_MEMBER_OF}
       ON CONFLICT DO NOTHING""",
        True,
    ),
    (
        """UPDATE members m SET status = 'removed', subscription_active = false, removed_at = now(),
            updated_at = now()
         FROM run_actions t WHERE t.op = 'remove' AND m.id = t.member_id""",
        False,
    ),
    (
        """DELETE FROM subteam_members sm USING run_actions t
        WHERE t.op = 'remove' AND sm.member_id = t.member_id""",
        False,
    ),
    (
        """INSERT INTO held_removals (run_id, member_id)
       SELECT $1::uuid, member_id FROM run_actions WHERE op = 'hold'
       ON CONFLICT DO NOTHING""",
        True,
    ),
)


def chunk_statements(team_id: str, run_id: str, send_invites: bool, trusted_new_rows: bool) -> str:
    """The batch that applies one chunk's buffered actions, its values written in (it goes as one simple
    query, sent whole, so that the database works through it while the next chunk is decided).

    ``trusted_new_rows``: the new members' rows go in without their foreign keys checked row by row (see
    ``may_trust_new_rows``)."""
    team = f"'{uuid.UUID(team_id)}'::uuid"
    run = f"'{uuid.UUID(run_id)}'::uuid"
    invite = "'queued'" if send_invites else "'pending'"
    new_rows = _NEW_ROWS
    if trusted_new_rows:
        new_rows = (
            "SET LOCAL session_replication_role = replica",
            *new_rows,
            "SET LOCAL session_replication_role = DEFAULT",
        )
    statements = (*_CHUNK, *new_rows, _RESET)
    return ";\n".join(
        s.replace(":team", team).replace(":run", run).replace(":invite", invite) for s in statements
    )


async def may_trust_new_rows(conn: asyncpg.Connection, team_id: str) -> bool:
    """Whether a run may write its new members' rows without PostgreSQL's row-by-row foreign key checks, and
    if so, take the locks those checks would have taken.

    A first sync writes some 400,000 such rows per 100,000 members (links, subteam places, invites), and each
    row's check is a query of its own that locks the referenced row: over a quarter of the database's work in
    the apply. Every member they refer to is one the same batch has just inserted; every subteam is one of the
    team's, which the run locks here once, against a delete, as the checks would for each row. So the checks
    can only pass, and ``session_replication_role = replica`` (which fires no ordinary trigger, foreign key
    checks included) is set around those inserts alone. Setting it takes a superuser, or on PostgreSQL 15 and
    later a role granted ``SET ON PARAMETER session_replication_role``; without that, every row is checked as
    usual."""
    if conn.get_server_version().major >= 15:
        allowed = "has_parameter_privilege('session_replication_role', 'SET')"
    else:
        allowed = "current_setting('is_superuser') = 'on'"
    # One round trip: the subteams are locked only when the privilege is there (the CASE asks its subquery
    # then alone).
    return bool(
        await conn.fetchval(
            f"SELECT CASE WHEN {allowed} THEN (SELECT count(*) >= 0 FROM (SELECT 1 FROM subteams"
            " WHERE team_id = $1 FOR KEY SHARE) s) ELSE false END",
            team_id,
        )
    )


# A run's summary (R16): who was added, removed, or held, as lists of people by name, at most SUMMARY_PEOPLE
# each (a digest shows 50, then "and N more"), and the totals of every list. A first sync adds the whole team:
# keeping 100,000 names in the run would only make every digest read them.
SUMMARY_PEOPLE = 100
_LISTS = {
    "added": "op = 'create' OR (op = 'update' AND status IS NOT NULL)",
    "removed": "op IN ('remove', 'delete')",
    "held": "op = 'hold'",
    "held_added": "op = 'hold_add'",
}
_SUMMARY = (
    "SELECT jsonb_build_object({lists}, 'totals', (SELECT jsonb_build_object({totals}) FROM run_actions))"
).format(
    lists=", ".join(
        f"""'{name}', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', card_name, 'email', card_email)
                                    ORDER BY card_name, card_email), '[]')
                  FROM (SELECT card_name, card_email FROM run_actions WHERE {where}
                         ORDER BY card_name, card_email LIMIT {SUMMARY_PEOPLE}) p)"""
        for name, where in _LISTS.items()
    ),
    totals=", ".join(f"'{name}', count(*) FILTER (WHERE {where})" for name, where in _LISTS.items()),
)

# R18: a dry run's plan, as the run would go: no invite is emailed while invites are off (R11), and removals
# the guard would hold say so (R10), as the counts do.
_PREVIEW = """
SELECT jsonb_build_object(
  'create', coalesce(jsonb_agg(entry::jsonb) FILTER (WHERE list = 'create'), '[]'),
  'update', coalesce(jsonb_agg(entry::jsonb) FILTER (WHERE list = 'update'), '[]'),
  'remove', coalesce(jsonb_agg(entry::jsonb || jsonb_build_object('held', $2::boolean))
                       FILTER (WHERE list = 'remove'), '[]'),
  'invite', coalesce(jsonb_agg(entry::jsonb) FILTER (WHERE list = 'invite' AND $1), '[]'),
  'roles', coalesce(jsonb_agg(entry::jsonb) FILTER (WHERE list = 'roles'), '[]'))
FROM plan_entries
"""


async def release_holds(conn: asyncpg.Connection, team_id: str, run_id: str) -> None:
    """R10: a later run supersedes the removals and additions earlier runs held (it removes, adds, or holds
    again, whoever is still gone or new); approving an earlier held run then changes nobody."""
    for table in ("held_removals", *HELD_ADDITIONS):
        await conn.execute(
            f"DELETE FROM {table} h USING sync_runs r"
            " WHERE h.run_id = r.id AND r.team_id = $1 AND r.id <> $2",
            team_id,
            run_id,
        )


async def hold_removals(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE run_actions SET op = 'hold' WHERE op IN ('remove', 'delete')")


# The held new members' rows, kept with the run until an approval applies them (``approve``) or a later run
# supersedes them (``release_holds``).
HELD_ADDITIONS = {
    "held_addition_members": "held_members",
    "held_addition_links": "held_links",
    "held_addition_subteams": "held_subteams",
    "held_addition_invites": "held_invites",
}


async def hold_additions(conn: asyncpg.Connection, run_id: str) -> int:
    """R10's counterpart: keep the new members the writer held back (``ActionWriter.hold_creates``) with the
    run, for an approval; they are in the run's summary as ``held_added``. Returns how many."""
    for kept, held in HELD_ADDITIONS.items():
        await conn.execute(f"INSERT INTO {kept} SELECT $1::uuid, * FROM {held}", run_id)
    await conn.execute(
        "INSERT INTO run_actions"
        " SELECT 'hold_add', member_id, card_name, card_email, status FROM held_members"
    )
    return await conn.fetchval("SELECT count(*) FROM held_members")


async def finish(conn: asyncpg.Connection, team_id: str, run_id: str) -> None:
    """Apply the plan's removals (every other action went in with its chunk)."""
    for statement, takes_run in _FINAL:
        await conn.execute(statement, *((run_id,) if takes_run else ()))
    gone = await conn.fetch(
        "DELETE FROM members m USING run_actions t WHERE t.op = 'delete' AND m.id = t.member_id"
        " RETURNING m.account_id"
    )
    if gone:
        # R9: an account goes with its member only when this team's sync made it and it is in no other team.
        await conn.execute(
            "DELETE FROM accounts a WHERE a.id = ANY($2::uuid[]) AND a.created_by_team = $1"
            " AND NOT EXISTS (SELECT 1 FROM members x WHERE x.account_id = a.id)",
            team_id,
            [r[0] for r in gone],
        )


# What the run did to whom, for the team's webhooks: one outbox row per event and batch of WEBHOOK_BATCH
# member ids, made in one statement from the run's actions (an array of ids per event, sliced: no sort), and
# only for the events some webhook of the team takes (a team without webhooks costs one index look-up). The
# notifier reads the members' cards when it makes the deliveries. A held removal is announced once an approval
# applies it. 100,000 new members make 200 rows in about 0.3-0.8 s on a loaded 2-core machine.
_MEMBER_EVENTS = f"""
WITH wanted AS (SELECT DISTINCT unnest(events) AS event FROM webhooks WHERE team_id = $1),
acted AS (
    SELECT CASE op WHEN 'create' THEN 'member.created' WHEN 'update' THEN 'member.updated'
                   ELSE 'member.removed' END AS event, array_agg(member_id) AS ids
      FROM run_actions WHERE op IN ('create', 'update', 'remove', 'delete') GROUP BY 1),
batches AS (
    SELECT gen_random_uuid()::text AS message_id, a.event, s.seq,
           a.ids[s.seq * {WEBHOOK_BATCH} + 1 : (s.seq + 1) * {WEBHOOK_BATCH}] AS ids
      FROM acted a JOIN wanted USING (event)
     CROSS JOIN generate_series(0, (cardinality(a.ids) - 1) / {WEBHOOK_BATCH}) AS s(seq))
INSERT INTO outbox (routing_key, message_id, body)
SELECT '{WebhookEvent.routing_key}', message_id,
       convert_to(json_build_object('message_id', message_id, 'schema_version', 1, 'sent_at', now(),
                  'team_id', $1::text, 'run_id', $2::text, 'event', event, 'seq', seq,
                  'member_ids', ids)::text, 'UTF8')
  FROM batches
"""


async def member_events(conn: asyncpg.Connection, team_id: str, run_id: str) -> int:
    """Announce the run's applied actions to the team's webhooks (see ``_MEMBER_EVENTS``); how many
    messages."""
    status = await conn.execute(_MEMBER_EVENTS, team_id, run_id)
    return int(status.rsplit(" ", 1)[-1])


async def summary(conn: asyncpg.Connection) -> dict[str, Any]:
    found = await conn.fetchval(_SUMMARY)
    if not found["totals"].get("held_added"):  # only a run the addition guard held lists them
        found.pop("held_added", None)
        found["totals"].pop("held_added", None)
    return found


async def preview(conn: asyncpg.Connection, send_invites: bool, held: bool) -> dict[str, Any]:
    return await conn.fetchval(_PREVIEW, send_invites, held)
