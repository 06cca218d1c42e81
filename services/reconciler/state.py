"""Reading a run's inputs from the database: unbound users' identity candidates, then every (directory user,
member) pair that ``unchanged.classify`` kept, read a chunk at a time so memory does not grow with the
team."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson
from asyncpg.cursor import Cursor

from services.reconciler.identity import Candidate
from services.reconciler.model import (
    CARD_COLUMNS,
    NO_ROLES,
    PLAIN,
    CurrentMember,
    MappedCard,
    Observed,
    Roles,
)
from services.reconciler.role_rules import RoleRules, role_rules
from services.reconciler.rules import Context
from services.reconciler.staging import GONE

# Only users a match or a shared email puts in play: any other unbound user binds to nothing (a new account).
# The team member is the one whose account has the user's email, else its login (a member of the team before
# any outside account); the account, the one with its email, else its login (``plan.candidates`` on plain
# values). seen_users is read where it is each time (a CTE read three times would be written out first).
_CANDIDATES = """
SELECT u.directory_id, u.email_key, tm.id::text AS team_member, tm.directory_id AS team_member_directory_id,
       coalesce(ae.id, al.id)::text AS account,
       coalesce(($2 OR tm.status = 'removed' OR tm.directory_id IN (SELECT g.directory_id FROM
           snapshot_removals g
                                                                   WHERE g.run_id = $3 AND g.attempt = $4
                                                                     AND g.group_id = '*'))
                AND NOT EXISTS (SELECT 1 FROM seen_users x WHERE x.directory_id = tm.directory_id), false)
         AS team_member_free,
       coalesce(tm.status = 'removed', false) AS team_member_removed,
       u.email_key IN (SELECT s.email_key FROM seen_users s JOIN members m ON m.team_id = $1
                         AND m.directory_id = s.directory_id WHERE s.skip IS NULL) AS taken
  FROM seen_users u
  LEFT JOIN accounts ae ON ae.email_key = u.email_key
  LEFT JOIN accounts al ON al.email_key = u.login_key
  LEFT JOIN members tme ON tme.team_id = $1 AND tme.account_id = ae.id
  LEFT JOIN members tm ON tm.team_id = $1 AND tm.account_id = coalesce(tme.account_id, al.id)
 WHERE u.skip IS NULL
   AND NOT EXISTS (SELECT 1 FROM members bm WHERE bm.team_id = $1 AND bm.directory_id = u.directory_id)
   AND (coalesce(ae.id, al.id) IS NOT NULL
        OR u.email_key IN (SELECT email_key FROM seen_users WHERE skip IS NULL
                            GROUP BY email_key HAVING count(*) > 1))
"""

_PAIRS = """
SELECT p.seen_id, (SELECT u.card FROM snapshot_users u WHERE u.ctid = s.card_row) AS card, s.groups,
    r.left_groups,
       s.skip, b.skip AS bind_skip, b.account_id::text AS claim_account,
       m.id, m.account_id, m.directory_id, m.managed, m.status, m.role, m.role_from_sync,
       {card}, m.card_fields, i.status AS invite_status,
       CASE WHEN a.created_by_team = $4 THEN a.email END AS sync_login,
       a.created_by_team = $4 AND a.email_key <> s.login_key
         AND EXISTS (SELECT 1 FROM accounts x WHERE x.email_key = s.login_key) AS login_taken,
       CASE WHEN m.id IS NOT NULL THEN
         (SELECT jsonb_object_agg(l.source, nullif(l.value, '')) FROM links l
           WHERE l.member_id = m.id AND l.source IS NOT NULL) END AS links,
       CASE WHEN m.id IS NOT NULL THEN
         (SELECT jsonb_object_agg(g.directory_group_id, jsonb_build_array(sm.role, sm.role_from_sync))
            FROM subteam_members sm JOIN subteams g ON g.id = sm.subteam_id
           WHERE sm.member_id = m.id AND g.directory_group_id = ANY($3::text[])) END AS subteams,
       {roles}
  FROM pairs_to_decide p
  LEFT JOIN seen_users s ON s.directory_id = p.seen_id
  LEFT JOIN (SELECT directory_id, array_agg(group_id) AS left_groups FROM snapshot_removals
              WHERE run_id = $1 AND attempt = $2 GROUP BY directory_id) r ON r.directory_id = p.seen_id
  LEFT JOIN user_bindings b ON b.directory_id = p.seen_id
  LEFT JOIN members m ON m.id = p.member_id
  LEFT JOIN invites i ON i.member_id = m.id
  LEFT JOIN accounts a ON a.id = m.account_id
"""


async def candidates(
    conn: asyncpg.Connection, team_id: str, full: bool, run_id: str, attempt: str
) -> list[Candidate]:
    """``full``: the snapshot lists every user of the synced groups (a user it does not list has left); a
    delta snapshot names the users gone from every group."""
    return [Candidate(**dict(r)) for r in await conn.fetch(_CANDIDATES, team_id, full, run_id, attempt)]


# R12's outcome for the pair (``roles``): the roles of the user's, who may take over another user's member.
_HOLDER = "coalesce(p.seen_id, m.directory_id)"
_NO_ROLES = "NULL::jsonb AS team_role, NULL::jsonb AS place_roles, NULL::jsonb AS joined_role"


def _roles(rules: RoleRules) -> str:
    place = rules.place(_HOLDER, "sm.role", "sm.role_from_sync")
    return f"""{rules.team(_HOLDER, "m.role", "m.role_from_sync")} AS team_role,
       CASE WHEN m.id IS NOT NULL THEN
         (SELECT jsonb_object_agg(g.directory_group_id, {place})
            FROM subteam_members sm JOIN subteams g ON g.id = sm.subteam_id
           WHERE sm.member_id = m.id AND g.directory_group_id = ANY($3::text[]) AND {place} IS NOT NULL) END
         AS place_roles,
       {rules.joined(_HOLDER)} AS joined_role"""


@dataclass(frozen=True, slots=True)
class Pair:
    seen: Observed | None
    current: CurrentMember | None
    claim_account: str | None
    skip: str | None
    login_taken: str | None = None  # the user's new login, which another account already has
    roles: Roles = NO_ROLES


def current_member(r: asyncpg.Record) -> CurrentMember | None:
    """The member of a record with ``_PAIRS``' member columns (``merges`` reads one alone)."""
    if r["id"] is None:
        return None
    return CurrentMember(
        member_id=str(r["id"]),
        account_id=str(r["account_id"]),
        directory_id=r["directory_id"],
        managed=r["managed"],
        status=r["status"],
        fields={f: r[f"card_{f}"] for f in CARD_COLUMNS},
        custom=r["card_fields"],
        links=r["links"] or {},
        subteams={g: (v[0], v[1]) for g, v in (r["subteams"] or {}).items()},
        role=r["role"],
        role_from_sync=r["role_from_sync"],
        invite_status=r["invite_status"],
        sync_login=r["sync_login"],
    )


def _seen(r: asyncpg.Record) -> Observed | None:
    if r["seen_id"] is None:
        return None
    left = frozenset(r["left_groups"] or ())
    return Observed(
        directory_id=r["seen_id"],
        card=MappedCard.from_json(orjson.loads(r["card"])) if r["card"] else None,
        groups=frozenset(r["groups"] or ()),
        left=left - {GONE},
        gone=GONE in left,
    )


async def open_pairs(
    conn: asyncpg.Connection, run_id: str, attempt: str, ctx: Context, team_id: str, large: bool = True
) -> Cursor:
    """A cursor over the pairs ``classify`` kept, with what the rules need of both sides; read its records in
    chunks (``Cursor.fetch``) and make each a ``pair``. ``large``: there may be many pairs, and the planner
    should know how many; a small run's few are looked up by key."""
    args: list = []

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args) + 4}::text[]"

    roles = _roles(role_rules(ctx.roles, param)) if ctx.config.use_admin_roles else _NO_ROLES
    query = _PAIRS.format(card=", ".join(f"m.card_{f}" for f in CARD_COLUMNS), roles=roles)
    if large:
        await conn.execute("ANALYZE pairs_to_decide")
        return await conn.cursor(query, run_id, attempt, sorted(ctx.driven), team_id, *args)
    # A small run's few pairs are looked up by key. Left to itself, a planner whose statistics of members,
    # invites and accounts are older than the tables' growth (a thousand teams' first syncs at once) hashes
    # those tables whole, every team's rows, for each run, and scans accounts for each pair. (The plan is the
    # run's own: a generic plan cached on the connection would outlive these settings.)
    # (Should the cursor fail, the transaction is done for, and the settings with it.)
    await conn.execute(_BY_KEY)
    cursor = await conn.cursor(query, run_id, attempt, sorted(ctx.driven), team_id, *args)
    await conn.execute(_PLANNED)
    return cursor


_BY_KEY = (
    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL enable_seqscan = off;"
    " SET LOCAL plan_cache_mode = force_custom_plan"
)
_PLANNED = "RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_seqscan; RESET plan_cache_mode"


def _role(value: list | None) -> tuple[str, bool] | None:
    return None if value is None else (value[0], value[1])


def pair(r: asyncpg.Record) -> Pair:
    seen, current = _seen(r), current_member(r)
    taken = None
    if r["login_taken"] and current is not None and seen is not None and seen.card is not None:
        # R4: one login is never two accounts; the member keeps its login, the rest of the change goes on.
        taken, current.sync_login = seen.card.login_email, None
    roles = NO_ROLES
    if r["team_role"] is not None or r["place_roles"] is not None or r["joined_role"] is not None:
        roles = Roles(
            _role(r["team_role"]),
            {g: (v[0], v[1]) for g, v in (r["place_roles"] or {}).items()},
            _role(r["joined_role"]) or PLAIN,
        )
    return Pair(seen, current, r["claim_account"], r["skip"] or r["bind_skip"], taken, roles)
