"""Sorting out, in SQL, the pairs a run leaves as they are (R8: an unchanged member writes nothing; R17: the
run counts it), so that they never reach Python.

Members pair with users by object id, else by the email binding (R4). A pair is unchanged when its member is
managed, bound to the user, not removed, in exactly the synced groups the snapshot lists it in (R3), keeps its
roles (R12, as ``role_rules`` decides them), holds the staged fingerprint (``fields.fingerprint``: the
overwritten columns, custom fields and link values, R7, R8), and, when this team's sync made its account, has
the user's userPrincipalName as its login (R4, R5). The test errs only one way: a pair it keeps may still turn
out unchanged in ``rules.decide`` (a refused link value or a taken login, reported on every run that sees it;
a group a delta says it left that it was not in), a pair it drops never needs a change. Every other pair goes
to ``pairs_to_decide`` for the rules. The property test against the oracle holds the two together.

A delta snapshot lists only the users whose records or groups changed; the directory roles, though, are read
whole every run. With admin roles on, a delta run also hands the rules every member it did not list whose team
or subteam role changes (R12): a role lost or gained needs no change of the user's record."""

from __future__ import annotations

import asyncpg

from services.reconciler.fields import overwritten
from services.reconciler.role_rules import role_rules
from services.reconciler.rules import Context

# Every staged user; ``claim``: the member its email binds it to (``user_bindings``), when no member has its
# object id.
SEEN = """
SELECT s.directory_id, s.want, s.groups, s.skip, s.login_key, b.skip AS bind_skip, b.member_id AS claim,
       r.directory_id AS has_left
  FROM (SELECT directory_id, want, groups, skip, login_key FROM seen_users
        UNION ALL
        SELECT DISTINCT x.directory_id, NULL::text[], '{}'::text[], NULL, NULL FROM snapshot_removals x
         WHERE x.run_id = $1 AND x.attempt = $2
           AND NOT EXISTS (SELECT 1 FROM seen_users u WHERE u.directory_id = x.directory_id)) s
  LEFT JOIN (SELECT DISTINCT directory_id FROM snapshot_removals WHERE run_id = $1 AND attempt = $2) r
         ON r.directory_id = s.directory_id
  LEFT JOIN user_bindings b ON b.directory_id = s.directory_id
"""

# A custom field as the text the mapping would have written; ' ' (never a mapped value: those are trimmed)
# stands for a value that is not text, so that it never compares equal.
_CUSTOM = (
    "CASE WHEN {v} IS NULL OR jsonb_typeof({v}) = 'null' THEN NULL"
    " WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' ELSE ' ' END"
)

_QUERY = """
WITH claimed AS (
    SELECT member_id FROM user_bindings WHERE member_id IS NOT NULL
), seen AS ({seen}), cur AS (
    SELECT m.id, m.directory_id, m.managed, m.status, m.role, m.role_from_sync{member_columns},
           CASE WHEN a.created_by_team = $3 THEN a.email_key END AS sync_login
      FROM members m JOIN accounts a ON a.id = m.account_id
     WHERE m.team_id = $3 AND (m.managed OR m.directory_id IS NOT NULL OR m.id IN (SELECT member_id FROM
         claimed))
), subs AS (
    SELECT sm.member_id, array_agg(s.directory_group_id) AS groups{place_changes}
      FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id{place_members}
     WHERE s.team_id = $3 AND s.directory_group_id = ANY($4) GROUP BY sm.member_id
), pair AS (
    SELECT seen.directory_id AS seen_id, coalesce(cur.id, seen.claim) AS member_id, coalesce(
           seen.want IS NOT NULL AND seen.skip IS NULL AND seen.bind_skip IS NULL AND seen.has_left IS NULL
           AND cur.managed AND cur.directory_id = seen.directory_id AND cur.status <> 'removed'
           AND subs.groups IS NOT NULL AND seen.groups <@ subs.groups {same_groups}
           AND {no_roles} AND (cur.sync_login IS NULL OR cur.sync_login = seen.login_key)
           AND seen.want = ARRAY[{have}]::text[], false) AS unchanged
      FROM seen {join} cur ON cur.directory_id = seen.directory_id{link_joins}
      {subs_join}
     WHERE NOT coalesce(cur.id IN (SELECT member_id FROM claimed), false)  -- another user takes it over
){roles}, kept AS (
    INSERT INTO pairs_to_decide SELECT seen_id, member_id FROM pair WHERE NOT unchanged{role_pairs}
)
SELECT count(*) FROM pair WHERE unchanged
"""

# A delta lists few users: their members' places are read member by member, not grouped for the whole team
# (with admin roles on, ``_ROLES`` reads every member's places anyway).
_SUBS_OF_PAIR = """LEFT JOIN LATERAL (
        SELECT array_agg(s.directory_group_id) AS groups
          FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id
         WHERE sm.member_id = cur.id AND s.team_id = $3 AND s.directory_group_id = ANY($4)) subs ON true"""
_SUBS = "LEFT JOIN subs ON subs.member_id = cur.id"

# Delta, admin roles on: the unlisted members whose roles change (R12). Only members in a synced subteam: for
# the rules, an unlisted member in none has nowhere to be and would be removed.
_ROLES = """, roles AS (
    SELECT cur.id FROM cur LEFT JOIN subs ON subs.member_id = cur.id
     WHERE cur.managed AND cur.status <> 'removed' AND cur.directory_id IS NOT NULL AND subs.groups IS NOT
         NULL
       AND cur.id NOT IN (SELECT member_id FROM claimed)
       AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.directory_id = cur.directory_id)
       AND NOT {keeps_roles}
)"""


def query(ctx: Context) -> tuple[str, list]:
    """The statement (after $1 run, $2 attempt, $3 team, $4 driven groups) and its further arguments."""
    columns, custom, links = overwritten(ctx.config)
    args: list = []

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args) + 4}::text[]"

    have = [f"cur.card_{f}" for f in columns]
    member_columns = "".join(f", m.card_{f}" for f in columns) + (", m.card_fields" if custom else "")
    if custom:
        names = param(custom)
        have += [_CUSTOM.format(v=f"cur.card_fields -> ({names})[{i}]") for i in range(1, len(custom) + 1)]
    link_joins = ""
    if links:  # a member has at most one link of a source (links_member_source)
        sources = param(links)
        link_joins = "".join(
            f"\n      LEFT JOIN links l{i} ON l{i}.member_id = cur.id AND l{i}.source = ({sources})[{i}]"
            for i in range(1, len(links) + 1)
        )
        have += [f"nullif(l{i}.value, '')" for i in range(1, len(links) + 1)]
    no_roles, roles, role_pairs, place_changes, place_members = "true", "", "", "", ""
    full = ctx.mode == "full"
    if ctx.config.use_admin_roles:
        rules = role_rules(ctx.roles, param)
        place = rules.place("m.directory_id", "sm.role", "sm.role_from_sync")
        place_changes = f",\n           bool_or({place} IS NOT NULL) AS place_changes"
        place_members = " JOIN members m ON m.id = sm.member_id"
        no_roles = (
            f"({rules.team('cur.directory_id', 'cur.role', 'cur.role_from_sync')} IS NULL"
            " AND NOT coalesce(subs.place_changes, false))"
        )
        if not full:
            roles = _ROLES.format(keeps_roles=no_roles)
            role_pairs = "\n        UNION ALL SELECT NULL, id FROM roles"
    sql = _QUERY.format(
        seen=SEEN,
        member_columns=member_columns,
        link_joins=link_joins,
        no_roles=no_roles,
        have=", ".join(have),
        same_groups="AND seen.groups @> subs.groups" if full else "",
        join="FULL JOIN" if full else "LEFT JOIN",
        subs_join=_SUBS if full or ctx.config.use_admin_roles else _SUBS_OF_PAIR,
        roles=roles,
        role_pairs=role_pairs,
        place_changes=place_changes,
        place_members=place_members,
    )
    return sql, args


async def classify(conn: asyncpg.Connection, run_id: str, attempt: str, team_id: str, ctx: Context) -> int:
    """Put every pair that may need a change in ``pairs_to_decide`` (full mode: with every managed member the
    snapshot did not list); return how many pairs are unchanged."""
    sql, args = query(ctx)
    return await conn.fetchval(sql, run_id, attempt, team_id, sorted(ctx.driven), *args)
