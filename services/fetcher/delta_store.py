"""A team's delta state: its delta links and its group graph, kept together so that they always agree.

A run's new links and graph changes wait as pending until that run succeeded; the next run folds them in. A
run that failed or was held leaves them unused, so the next round re-reads its changes from the links before
it, against the graph as it was then: no change is ever skipped, and each is applied to the graph once."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from services.fetcher.graph_model import Nesting
from services.fetcher.ids import Key, id_of
from shared.graph.links import within_base

log = logging.getLogger(__name__)
LINK_KINDS = ("users", "groups")
# Directory object ids are GUIDs; any other id is in no stored graph.
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Stored:
    links: dict[str, str]
    nesting: Nesting


async def load(pool: asyncpg.Pool, team_id: str, scope: str, graph_url: str) -> Stored | None:
    """The state a delta round starts from; None when there is none usable for this scope, or when a stored
    link leads outside ``graph_url`` (the Graph base moved, or the row was tampered with: a full read replaces
    the links, and the token never goes there)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT g.scope, g.nesting, g.pending_run, r.status FROM fetcher_graphs g"
            " LEFT JOIN sync_runs r ON r.id = g.pending_run WHERE g.team_id = $1 FOR UPDATE OF g",
            team_id,
        )
        if row is None:
            return None
        if row["pending_run"] is not None and row["status"] == "succeeded":
            await _fold(conn, team_id, row["pending_run"])
            row = await conn.fetchrow("SELECT scope, nesting FROM fetcher_graphs WHERE team_id = $1", team_id)
        links = await conn.fetch(
            "SELECT kind, delta_link FROM fetcher_delta_links WHERE team_id = $1 AND scope = $2",
            team_id,
            scope,
        )
    usable = {r["kind"]: r["delta_link"] for r in links if r["delta_link"]}
    if row["scope"] != scope or set(usable) != set(LINK_KINDS):
        return None
    if outside := sorted(kind for kind, link in usable.items() if not within_base(graph_url, link)):
        log.warning("stored %s delta links lead outside the Graph base %s: read in full", outside, graph_url)
        return None
    return Stored(usable, {g: set(children) for g, children in row["nesting"].items()})


async def _fold(conn: asyncpg.Connection, team_id: str, run_id: str) -> None:
    """The pending run succeeded: its graph changes and links become the confirmed ones."""
    await conn.execute(
        "DELETE FROM fetcher_graph_members m USING fetcher_graph_pending p WHERE p.team_id = $1"
        " AND m.team_id = $1 AND m.user_id = p.user_id AND m.group_id = p.group_id AND NOT p.present",
        team_id,
    )
    await conn.execute(
        "INSERT INTO fetcher_graph_members (team_id, user_id, group_id) SELECT team_id, user_id, group_id"
        " FROM fetcher_graph_pending WHERE team_id = $1 AND present ON CONFLICT DO NOTHING",
        team_id,
    )
    await conn.execute("DELETE FROM fetcher_graph_pending WHERE team_id = $1", team_id)
    await conn.execute(
        "UPDATE fetcher_graphs SET nesting = coalesce(pending_nesting, nesting), pending_nesting = NULL,"
        " pending_run = NULL, updated_at = now() WHERE team_id = $1",
        team_id,
    )
    await conn.execute(
        "UPDATE fetcher_delta_links SET delta_link = pending_link, pending_link = NULL, pending_run = NULL,"
        " updated_at = now() WHERE team_id = $1 AND pending_run = $2",
        team_id,
        run_id,
    )


async def direct_groups(
    pool: asyncpg.Pool, team_id: str, user_ids: Iterable[str], under: Iterable[str]
) -> dict[str, set[str]]:
    """The groups each user sits in directly: the users named, and every user directly in ``under``."""
    wanted = set(user_ids)
    async with pool.acquire() as conn:
        if under := sorted(g for g in under if GUID.fullmatch(g)):
            rows = await conn.fetch(
                "SELECT DISTINCT user_id::text FROM fetcher_graph_members"
                " WHERE team_id = $1 AND group_id = ANY($2::uuid[])",
                team_id,
                under,
            )
            wanted.update(r[0] for r in rows)
        rows = await conn.fetch(
            "SELECT user_id::text, array_agg(group_id::text) FROM fetcher_graph_members"
            " WHERE team_id = $1 AND user_id = ANY($2::uuid[]) GROUP BY user_id",
            team_id,
            sorted(u for u in wanted if GUID.fullmatch(u)),
        )
    return {r[0]: set(r[1]) for r in rows}


async def save_full(
    pool: asyncpg.Pool,
    team_id: str,
    run_id: str,
    scope: str,
    links: dict[str, str],
    nesting: Mapping[str, Iterable[str]],
    members: Mapping[str, Iterable[Key]],
) -> None:
    """A full read's graph (confirmed at once: its links are usable only once the run succeeded anyway)."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM fetcher_graphs WHERE team_id = $1", team_id)
            await conn.execute(
                "INSERT INTO fetcher_graphs (team_id, scope, nesting, pending_run) VALUES ($1, $2, $3, $4)",
                team_id,
                scope,
                {g: sorted(children) for g, children in nesting.items()},
                run_id,
            )
            await conn.copy_records_to_table(
                "fetcher_graph_members",
                records=((team_id, id_of(u), g) for g, users in members.items() for u in users),
                columns=("team_id", "user_id", "group_id"),
            )
            await _save_links(conn, team_id, run_id, scope, links, confirmed={})
    except asyncpg.DataError as exc:  # an object id that is not a GUID: this directory stays on full reads
        log.warning("group graph not kept, later runs read everything: %s", exc)
        await clear(pool, team_id)


async def save_delta(
    pool: asyncpg.Pool,
    team_id: str,
    run_id: str,
    scope: str,
    started_from: dict[str, str],
    links: dict[str, str],
    nesting: Mapping[str, Iterable[str]],
    edges: Iterable[tuple[str, str, bool]],
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM fetcher_graph_pending WHERE team_id = $1", team_id)
        await conn.copy_records_to_table(
            "fetcher_graph_pending",
            records=((team_id, u, g, present) for u, g, present in edges),
            columns=("team_id", "user_id", "group_id", "present"),
        )
        await conn.execute(
            "UPDATE fetcher_graphs SET pending_nesting = $2, pending_run = $3, updated_at = now()"
            " WHERE team_id = $1",
            team_id,
            {g: sorted(children) for g, children in nesting.items()},
            run_id,
        )
        await _save_links(conn, team_id, run_id, scope, links, started_from)


async def _save_links(
    conn: asyncpg.Connection,
    team_id: str,
    run_id: str,
    scope: str,
    links: dict[str, str],
    confirmed: dict[str, str],
) -> None:
    await conn.execute("DELETE FROM fetcher_delta_links WHERE team_id = $1", team_id)
    await conn.executemany(
        "INSERT INTO fetcher_delta_links (team_id, kind, scope, delta_link, pending_link, pending_run)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(team_id, kind, scope, confirmed.get(kind), link, run_id) for kind, link in links.items()],
    )


async def clear(pool: asyncpg.Pool, team_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM fetcher_delta_links WHERE team_id = $1", team_id)
        await conn.execute("DELETE FROM fetcher_graphs WHERE team_id = $1", team_id)
