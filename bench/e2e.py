"""End to end: the four services as separate processes syncing a simulated 100,000-user tenant, against
floors.

    python -m bench.e2e [--users 100000] [--groups 20] [--timeout 3600]
    python -m bench.e2e --quick          # 5,000 users, for a fast check
    python -m bench.e2e --first-sync-only  # the floors and the first sync only, e.g. to profile it
    python -m bench.e2e --realtime  # the first sync, then notification → member removed (bench/realtime.py)
    python -m bench.e2e --users 1000000 --groups 200 --no-invites --no-scale-out  # a million users

Needs the local PostgreSQL and RabbitMQ (CARDSYNC_BENCH_POSTGRES, CARDSYNC_AMQP_URL to point elsewhere). The
simulated tenant (20 groups of Zipf sizes, two levels of nesting, 30% of users with small photos) runs in a
child process, as does a counting SMTP sink; the bench uses a database and a bus prefix of its own and removes
them.

It prints one table line per measurement: (a) the floors, a bare aiohttp client paging every synced group's
transitive members ($top=999) and a COPY of one card-sized row per user into PostgreSQL; (b) the first Sync
Now with invites off, until its members are applied (its progress turns to photos) and until the run
succeeded, which is when every photo is stored (R17: the bench checks they are), then invites on (the config's
send_invites turned on and the backlog sent with POST /invites/send) until the sink has every invite; (c) a
run with no changes; (d) a run after 1% churn (title changes, joiners, leavers: 1%, 0.5%, 0.5% of the users);
(e) the first sync of a second team on the same tenant with 2 fetchers and 2 reconcilers, which must end
identical to the first team. After each run it checks the member count, the subteam counts, and that no
member, account or email appears twice; after (b) and (d) it prints PostgreSQL's size per member. Exits 1 if a
run fails or a check does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import ssl
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench import realtime
from bench._common import (
    SERVICES,
    Child,
    Stack,
    cpu_seconds,
    delete_topology,
    drop_database,
    free_port,
    fresh_database,
    postgres_cpu,
    simulator_child,
    sink_child,
    until,
)
from services.fetcher.user_properties import select_param
from shared import db
from shared.config import SyncConfig
from shared.settings import Settings

SERVER = os.environ.get("CARDSYNC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
OPERATOR_TOKEN = f"bench-{uuid.uuid4().hex}"
CARD_TABLES = ["members", "links", "subteam_members", "invites", "member_photos"]
STATS_FLUSH = 1.2  # a backend reports its table statistics within a second of going idle
SETTLE = 1.2
ENDED = ("succeeded", "failed", "held")


class Failure(Exception):
    """A run failed or a check did not hold: the bench reports it and exits 1."""


@dataclass(frozen=True)
class Counters:
    requests: int
    emails: int
    writes: int


@dataclass
class Mark:
    at: float
    counters: Counters
    cpu: dict[str, float]


@dataclass
class Row:
    label: str
    wall: float
    members: int
    requests: int | None = None
    writes: int | None = None
    emails: int | None = None
    peaks: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    floor: float | None = None  # what the wall time is compared to (the paging and COPY floors by default)


@dataclass
class Bench:
    args: argparse.Namespace
    rows: list[Row] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)  # the database's size per member, after a measurement
    problems: list[str] = field(default_factory=list)
    floor: float = 0.0  # paging + COPY
    photo_floor: float = 0.0  # paging + photos + COPY
    sim: Child = None  # type: ignore[assignment]
    sink: Child = None  # type: ignore[assignment]
    stack: Stack = None  # type: ignore[assignment]
    pool: asyncpg.Pool = None  # type: ignore[assignment]
    api: aiohttp.ClientSession = None  # type: ignore[assignment]
    info: dict[str, Any] = field(default_factory=dict)
    infos: list[dict[str, Any]] = field(default_factory=list)  # every tenant's (the first is ``info``)


# Measuring
async def writes(b: Bench) -> int:
    return await b.pool.fetchval(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        " WHERE relname = ANY($1::text[])",
        CARD_TABLES,
    )


async def counters(b: Bench) -> Counters:
    return Counters(await b.sim.call("requests"), (await b.sink.call("count"))[0], await writes(b))


async def begin(b: Bench) -> Mark:
    b.stack.reset_peaks()
    return Mark(time.perf_counter(), await counters(b), cpu(b))


def cpu(b: Bench) -> dict[str, float]:
    """CPU seconds so far of each service process, the simulated tenant and PostgreSQL."""
    return {**b.stack.cpu(), "sim": cpu_seconds(b.sim.process.pid), "pg": postgres_cpu()}


async def finish(b: Bench, label: str, start: Mark, members: int, settle: bool = True) -> Row:
    """The line of a measurement that ended now. Settled: after the work the run set off (photo checks,
    emails) is done, so that its requests, writes and emails count; else a snapshot as of now."""
    wall, peaks = time.perf_counter() - start.at, b.stack.peaks_mb()
    spent = {name: seconds - start.cpu.get(name, 0.0) for name, seconds in cpu(b).items()}
    end = await counters(b)
    if settle:
        await quiesce(b)
        end = await counters(b)
    else:
        await asyncio.sleep(STATS_FLUSH)
        end = dataclasses.replace(end, writes=await writes(b))
    row = Row(
        label,
        wall,
        members,
        end.requests - start.counters.requests,
        end.writes - start.counters.writes,
        end.emails - start.counters.emails,
        peaks,
        spent,
    )
    b.rows.append(row)
    print(f"  {label}: {wall:.1f} s", flush=True)
    return row


async def quiesce(b: Bench, limit: float = 120.0) -> None:
    """Until the outbox is drained, no invite waits, and Graph, mail and writes stand still for a moment."""
    last, deadline = None, time.monotonic() + limit
    while time.monotonic() < deadline:
        pending = await b.pool.fetchval(
            "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
            " + (SELECT count(*) FROM invites WHERE status = 'queued')"
        )
        now = (pending, await counters(b))
        if now == last and pending == 0:
            return
        last = now
        await asyncio.sleep(SETTLE)


# (a) The floors, over every tenant at once, each with the requests in flight a tenant is allowed
async def graph_floor(b: Bench) -> tuple[Row, list[set[str]]]:
    ssl_context = ssl.create_default_context(cafile=b.info["ca_file"])
    concurrency = Settings().graph_concurrency
    seen: list[set[str]] = [set() for _ in b.infos]
    requests = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as http:
        tokens = await asyncio.gather(*(graph_token(http, info) for info in b.infos))
        started = time.perf_counter()

        async def page_group(n: int, limit: asyncio.Semaphore, group_id: str) -> None:
            nonlocal requests
            info = b.infos[n]
            url = f"{info['graph_url']}/groups/{group_id}/transitiveMembers"
            params: dict[str, Any] | None = {"$select": select_param(SyncConfig()), "$top": "999"}
            while url:
                headers = {"Authorization": f"Bearer {tokens[n]}"}
                async with limit, http.get(url, params=params, headers=headers) as r:
                    page = orjson.loads(await r.read())
                requests += 1
                seen[n].update(
                    m["id"] for m in page["value"] if m.get("@odata.type") == "#microsoft.graph.user"
                )
                url, params = page.get("@odata.nextLink"), None

        async def page_tenant(n: int) -> None:
            limit = asyncio.Semaphore(concurrency)
            await asyncio.gather(*(page_group(n, limit, g["id"]) for g in b.infos[n]["groups"]))

        await asyncio.gather(*(page_tenant(n) for n in range(len(b.infos))))
        wall = time.perf_counter() - started
    members = sum(len(s) for s in seen)
    return Row(
        "(a) floor: aiohttp paging every group's transitive members", wall, members, requests, 0, 0
    ), seen


async def photo_floor(b: Bench, seen: list[set[str]]) -> Row:
    """Every photo of the users paged, as Graph allows it at the fewest requests: each user's photo metadata
    in $batch requests of 20, then each photo that exists by its $value, the tenant's requests in flight
    always taken."""
    ssl_context = ssl.create_default_context(cafile=b.info["ca_file"])
    concurrency = Settings().graph_concurrency
    requests, photos = 0, 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as http:
        tokens = await asyncio.gather(*(graph_token(http, info) for info in b.infos))
        started = time.perf_counter()

        async def tenant(n: int) -> None:
            nonlocal requests, photos
            graph, headers = b.infos[n]["graph_url"], {"Authorization": f"Bearer {tokens[n]}"}
            limit, ids = asyncio.Semaphore(concurrency), sorted(seen[n])
            batches = iter(range(0, len(ids), 20))

            async def download(user_id: str) -> None:
                nonlocal requests, photos
                async with limit, http.get(f"{graph}/users/{user_id}/photo/$value", headers=headers) as r:
                    await r.read()
                requests += 1
                photos += r.status == 200

            async def worker() -> None:
                nonlocal requests
                for at in batches:
                    chunk = ids[at : at + 20]
                    body = {
                        "requests": [
                            {"id": str(i), "method": "GET", "url": f"/users/{u}/photo"}
                            for i, u in enumerate(chunk)
                        ]
                    }
                    async with limit, http.post(f"{graph}/$batch", json=body, headers=headers) as r:
                        answers = orjson.loads(await r.read())["responses"]
                    requests += len(chunk)
                    have = [chunk[int(a["id"])] for a in answers if a["status"] == 200]
                    await asyncio.gather(*(download(u) for u in have))

            await asyncio.gather(*(worker() for _ in range(2 * concurrency)))

        await asyncio.gather(*(tenant(n) for n in range(len(b.infos))))
        wall = time.perf_counter() - started
    return Row(
        f"(a) floor: {photos:,} photos (metadata in $batch, then each photo)", wall, photos, requests, 0, 0
    )


async def graph_token(http: aiohttp.ClientSession, info: dict[str, Any]) -> str:
    form = {
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    async with http.post(f"{info['authority_url']}/{info['tenant_id']}/oauth2/v2.0/token", data=form) as resp:
        return (await resp.json())["access_token"]


async def copy_floor(b: Bench) -> Row:
    count = b.args.users * len(b.infos)
    records = [
        (
            str(uuid.uuid4()),
            f"Given{n} Surname{n}",
            f"given.surname{n}@example.com",
            "Senior Account Manager",
            "Fabrikam",
            f"+1 555 {n % 1000:03d} {n % 10000:04d}",
            f"{n % 300} Main Street, Redmond, WA, 98052, US",
        )
        for n in range(count)
    ]
    columns = ["directory_id", "name", "email", "job_title", "company", "phone", "location"]
    async with b.pool.acquire() as conn:
        await conn.execute("CREATE TABLE bench_copy_floor (" + ", ".join(f"{c} text" for c in columns) + ")")
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_copy_floor", records=records, columns=columns)
        wall = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_copy_floor")
    return Row(f"(a) floor: COPY {count:,} card-sized rows into PostgreSQL", wall, count, 0, count, 0)


async def floors(b: Bench) -> None:
    (graph, seen), copy = await graph_floor(b), await copy_floor(b)
    photos = await photo_floor(b, seen)
    b.floor, b.photo_floor = graph.wall + copy.wall, graph.wall + photos.wall + copy.wall
    b.rows += [
        graph,
        copy,
        photos,
        Row("(a) floor: paging + COPY", b.floor, copy.members),
        Row("(a) floor: paging + photos + COPY", b.photo_floor, copy.members),
    ]
    print(
        f"  floors: Graph {graph.wall:.1f} s, COPY {copy.wall:.1f} s, photos {photos.wall:.1f} s", flush=True
    )


# The control API
async def call(b: Bench, method: str, path: str, expect: int, **kwargs: Any) -> tuple[Any, Any]:
    async with b.api.request(method, f"{b.stack.api}/{path}", **kwargs) as resp:
        body = await resp.json(content_type=None)
        if resp.status != expect:
            raise Failure(f"{method} {path} answered {resp.status}: {body}")
        return body, resp.headers


async def make_team(b: Bench, name: str, info: dict[str, Any] | None = None) -> str:
    admin = {"email": f"admin-{uuid.uuid4().hex[:6]}@bench.example", "name": "Bench Admin"}
    team, _ = await call(b, "POST", "teams", 201, json={"name": name, "admins": [admin]})
    connection = {k: (info or b.info)[k] for k in ("tenant_id", "client_id", "client_secret")}
    await call(b, "PUT", f"teams/{team['id']}/directory", 200, json=connection)
    return team["id"]


async def configure(b: Bench, team: str, send_invites: bool, info: dict[str, Any] | None = None) -> None:
    """Every group synced, no cadence (only the bench starts runs), invites as asked."""
    config, headers = await call(b, "GET", f"teams/{team}/sync/config", 200)
    config.pop("next_run_at", None)
    # The addition guard would hold a first sync this large for an approval: the bench lets it through.
    config.update(
        groups=(info or b.info)["groups"],
        cadence="off",
        send_invites=send_invites,
        addition_guard={"max_count": 10_000_000, "max_percent": 100},
    )
    await call(b, "PUT", f"teams/{team}/sync/config", 200, json=config, headers={"If-Match": headers["ETag"]})


async def sync(b: Bench, team: str) -> tuple[dict[str, Any], float]:
    """Sync Now, until the run ends; a run that does not succeed fails the bench. With the run, when its
    members were seen applied: its progress in phase photos, or the run ended."""
    run, _ = await call(b, "POST", f"teams/{team}/sync/runs", 202, json={"dry_run": False})
    applied: list[float] = []

    async def latest() -> dict[str, Any]:
        b.stack.check_alive()
        now = (await call(b, "GET", f"teams/{team}/sync/runs/{run['id']}", 200))[0]
        if not applied and (now["status"] in ENDED or (now["progress"] or {}).get("phase") == "photos"):
            applied.append(time.perf_counter())
        return now

    run = await until(latest, lambda r: r["status"] in ENDED, every=0.1)
    if run["status"] != "succeeded":
        raise Failure(f"run {run['id']} ended {run['status']}: {run['error']}")
    return run, applied[0]


async def photos_stored(b: Bench, team: str) -> int:
    b.stack.check_alive()
    return await b.pool.fetchval(
        "SELECT count(*) FROM member_photos p JOIN members m ON m.id = p.member_id"
        " WHERE m.team_id = $1 AND m.status <> 'removed'",
        team,
    )


# (b) to (e)
async def first_sync(b: Bench, team: str, label: str) -> None:
    expected = await b.sim.call("expected")
    members = len(expected["ids"])
    await configure(b, team, send_invites=False)
    start = await begin(b)
    run, applied = await sync(b, team)
    stored = await photos_stored(b, team)
    if stored != expected["photos"]:
        b.problems.append(
            f"{label}: the run succeeded with {stored:,} of {expected['photos']:,} photos stored"
        )
    b.rows.append(Row(f"{label} → members applied (progress in phase photos)", applied - start.at, members))
    print(f"  {b.rows[-1].label}: {b.rows[-1].wall:.1f} s", flush=True)
    row = await finish(b, f"{label} → run succeeded, every photo in", start, members)
    row.floor = b.photo_floor
    if row.emails and row.emails > 1:  # the one admin's summary, and no invite
        b.problems.append(f"{label}: {row.emails} emails sent with invites off")
    expect_counts(b, label, run, created=members, removed=0, skipped=0)
    await check_team(b, team, expected, label)
    await database_size(b, label)


async def database_size(b: Bench, label: str) -> None:
    """PostgreSQL's size per member: the card tables with their indexes and TOAST, then the whole database
    (run history, outbox, staging and sent-log included), each over the members of every team."""
    members = await b.pool.fetchval("SELECT count(*) FROM members WHERE status <> 'removed'")
    cards = await b.pool.fetchval(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
        " WHERE c.relkind = 'r' AND c.relname = ANY($1::text[]) AND c.relnamespace = 'public'::regnamespace",
        [*CARD_TABLES, "accounts", "subteams"],
    )
    whole = await b.pool.fetchval("SELECT pg_database_size(current_database())")
    line = (
        f"{label}: PostgreSQL {whole / 2**20:,.0f} MB for {members:,} members, {whole / members:,.0f} bytes a"
        f" member ({cards / members:,.0f} in the card tables and their indexes)"
    )
    b.sizes.append(line)
    print(f"  {line}", flush=True)


async def invites_on(b: Bench, team: str) -> None:
    label = "(b) invites on: send_invites on, POST /invites/send → every invite in the sink"
    await configure(b, team, send_invites=True)
    before = await b.sink.call("count")
    start = await begin(b)
    queued = (await call(b, "POST", f"teams/{team}/invites/send", 202))[0]["queued"]
    await until(lambda: b.sink.call("count"), lambda c: c[0] >= before[0] + queued, every=0.5)
    await finish(b, label, start, queued)
    members = await b.pool.fetchval(
        "SELECT count(*) FROM members WHERE team_id = $1 AND managed AND status <> 'removed'", team
    )
    after = await b.sink.call("count")
    if queued != members:
        b.problems.append(f"{label}: {queued:,} invites queued for {members:,} members")
    if after[1] - before[1] != after[0] - before[0]:
        b.problems.append(
            f"{label}: {after[0] - before[0]:,} emails to {after[1] - before[1]:,} new recipients"
        )


async def later_run(b: Bench, team: str, label: str, **want: int) -> None:
    expected = await b.sim.call("expected")
    start = await begin(b)
    run, _ = await sync(b, team)
    await finish(b, label, start, len(expected["ids"]))
    expect_counts(b, label, run, **want)
    await check_team(b, team, expected, label)


async def scale_out(b: Bench, first_team: str) -> None:
    """The same first sync, for a second team on the same tenant, with two fetchers and two reconcilers."""
    label = "(e) first sync, 2 fetchers + 2 reconcilers"
    print("(e) restarting the services with 2 fetchers and 2 reconcilers", flush=True)
    b.stack.stop()
    b.stack.start({"fetcher": 2, "reconciler": 2})
    await b.stack.wait_healthy()
    team = await make_team(b, "Bench scale-out")
    await first_sync(b, team, label)
    ours, theirs = await fingerprints(b, team), await fingerprints(b, first_team)
    b.problems += [
        f"{label}: {what} differ from the first team's" for what in ours if ours[what] != theirs[what]
    ]


# (t) Many teams at once, each on a tenant of its own
async def many_teams(b: Bench) -> None:
    """Sync Now on every team at once; until every run ended. Each team's time is from its Sync Now to its
    run's end (as PostgreSQL timed them); the rows are the time to every team's members applied (runs in phase
    photos or ended), to every run ended with every photo in, and the teams' p50 and p95."""
    count, users = len(b.infos), b.args.users
    limit = asyncio.Semaphore(16)

    async def made(n: int) -> str:
        async with limit:
            team = await make_team(b, f"Bench {n}", b.infos[n])
            await configure(b, team, send_invites=False, info=b.infos[n])
            return team

    teams = await asyncio.gather(*(made(n) for n in range(count)))
    expected = await b.sim.call("expected_all")
    members = sum(len(e["ids"]) for e in expected)
    label = f"(t) {count:,} teams × {users:,} users, Sync Now on all at once"
    print(f"(t) Sync Now on {count:,} teams", flush=True)
    start = await begin(b)

    async def sync_now(team: str) -> str:
        async with limit:
            return (await call(b, "POST", f"teams/{team}/sync/runs", 202, json={"dry_run": False}))[0]["id"]

    run_ids = await asyncio.gather(*(sync_now(t) for t in teams))
    applied_at: float | None = None

    async def statuses() -> list[asyncpg.Record]:
        nonlocal applied_at
        b.stack.check_alive()
        rows = await b.pool.fetch("SELECT status FROM sync_runs WHERE id = ANY($1::uuid[])", run_ids)
        if applied_at is None and all(r["status"] in (*ENDED, "photos") for r in rows):
            applied_at = time.perf_counter()
        return rows

    await until(statuses, lambda rows: all(r["status"] in ENDED for r in rows), every=0.25)
    b.rows.append(Row(f"{label} → every team's members applied", (applied_at or 0) - start.at, members))
    row = await finish(b, f"{label} → every run ended, every photo in", start, members)
    row.floor = b.photo_floor
    ended = await b.pool.fetch(
        "SELECT status, error, extract(epoch FROM finished_at - created_at)::float8 AS took FROM sync_runs"
        " WHERE id = ANY($1::uuid[]) ORDER BY took",
        run_ids,
    )
    took = [r["took"] for r in ended]
    for name, q in (("p50", 0.50), ("p95", 0.95)):
        at = took[min(len(took) - 1, int(q * len(took)))]
        b.rows.append(Row(f"(t) per team, Sync Now → run ended, {name}", at, users, floor=b.photo_floor))
    print(f"  per team: p50 {b.rows[-2].wall:.1f} s, p95 {b.rows[-1].wall:.1f} s", flush=True)
    failed = [r for r in ended if r["status"] != "succeeded"]
    if failed:
        b.problems.append(f"{label}: {len(failed)} runs did not succeed, e.g. {failed[0]['error']}")
    await check_teams(b, label, teams, expected)


async def check_teams(b: Bench, label: str, teams: list[str], expected: list[dict[str, Any]]) -> None:
    """Each team against its tenant: its members, none twice, its subteams' counts, every photo once."""
    rows = await b.pool.fetch(
        "SELECT team_id::text, directory_id, account_id, lower(card_email) AS email FROM members"
        " WHERE team_id = ANY($1::uuid[]) AND managed AND status <> 'removed'",
        teams,
    )
    by_team: dict[str, list[asyncpg.Record]] = {t: [] for t in teams}
    for r in rows:
        by_team[r["team_id"]].append(r)
    places = await b.pool.fetch(
        "SELECT s.team_id::text, s.directory_group_id, count(sm.member_id) AS n FROM subteams s"
        " LEFT JOIN subteam_members sm ON sm.subteam_id = s.id"
        " LEFT JOIN members m ON m.id = sm.member_id AND m.status <> 'removed'"
        " WHERE s.team_id = ANY($1::uuid[]) AND (sm.member_id IS NULL OR m.id IS NOT NULL)"
        " GROUP BY 1, 2",
        teams,
    )
    subteams: dict[str, dict[str, int]] = {t: {} for t in teams}
    for r in places:
        subteams[r["team_id"]][r["directory_group_id"]] = r["n"]
    photos = dict(
        await b.pool.fetch(
            "SELECT m.team_id::text, count(*) FROM member_photos p JOIN members m ON m.id = p.member_id"
            " WHERE m.team_id = ANY($1::uuid[]) AND m.status <> 'removed' GROUP BY 1",
            teams,
        )
    )
    problems = []
    for team, want in zip(teams, expected, strict=True):
        have = by_team[team]
        for column in ("directory_id", "account_id", "email"):
            values = [r[column] for r in have]
            if len(set(values)) != len(values):
                problems.append(f"team {team}: {len(values) - len(set(values))} duplicate {column} values")
        if {r["directory_id"] for r in have} != set(want["ids"]):
            problems.append(f"team {team}: {len(have)} members, expected {len(want['ids'])}")
        wrong = [g for g, n in want["groups"].items() if subteams[team].get(g, 0) != n]
        if wrong:
            problems.append(f"team {team}: {len(wrong)} subteams with the wrong member count")
        if photos.get(team, 0) != want["photos"]:
            problems.append(f"team {team}: {photos.get(team, 0)} photos stored, expected {want['photos']}")
    b.problems += [f"{label}: {p}" for p in problems[:20]]
    if len(problems) > 20:
        b.problems.append(f"{label}: and {len(problems) - 20} more problems")
    print(f"  {label}: consistency {'ok' if not problems else 'FAILED'}", flush=True)


# Consistency
def expect_counts(b: Bench, label: str, run: dict[str, Any], **want: int) -> None:
    wrong = {k: (run["counts"].get(k), v) for k, v in want.items() if run["counts"].get(k) != v}
    b.problems += [f"{label}: counts.{k} is {got}, expected {v}" for k, (got, v) in wrong.items()]


async def check_team(b: Bench, team: str, expected: dict[str, Any], label: str) -> None:
    """Member count and identity against the tenant, no member, account or email twice, subteam counts."""
    rows = await b.pool.fetch(
        "SELECT directory_id, account_id, lower(card_email) AS email FROM members"
        " WHERE team_id = $1 AND managed AND status <> 'removed'",
        team,
    )
    problems = []
    for column in ("directory_id", "account_id", "email"):
        values = [r[column] for r in rows]
        if len(set(values)) != len(values):
            problems.append(f"{len(values) - len(set(values))} duplicate {column} values")
    have, want = {r["directory_id"] for r in rows}, set(expected["ids"])
    if have != want:
        problems.append(
            f"{len(have):,} members, expected {len(want):,}: "
            f"{len(want - have):,} missing, {len(have - want):,} extra"
        )
    subteams = (await call(b, "GET", f"teams/{team}/subteams", 200))[0]["subteams"]
    counts = {s["directory_group_id"]: s["member_count"] for s in subteams}
    if len(counts) != len(subteams):
        problems.append(f"{len(subteams) - len(counts)} duplicate subteams")
    wrong = {g: (counts.get(g), n) for g, n in expected["groups"].items() if counts.get(g) != n}
    problems += [f"subteam of group {g}: {got} members, expected {n}" for g, (got, n) in wrong.items()]
    b.problems += [f"{label}: {p}" for p in problems]
    print(f"  {label}: consistency {'ok' if not problems else 'FAILED'}", flush=True)


FINGERPRINTS = {
    "cards": "SELECT md5(string_agg(concat_ws('|', directory_id, card_name, card_email, card_job_title,"
    " card_company, card_phone, card_location, card_fields::text, role, status), E'\\n' ORDER BY "
    "directory_id))"
    " FROM members WHERE team_id = $1 AND managed AND status <> 'removed'",
    "links": "SELECT md5(string_agg(concat_ws('|', m.directory_id, l.source, l.position, l.type, l.label,"
    " l.value), E'\\n' ORDER BY m.directory_id, l.source, l.position)) FROM links l JOIN members m"
    " ON m.id = l.member_id WHERE m.team_id = $1 AND m.managed AND m.status <> 'removed'",
    "subteam places": "SELECT md5(string_agg(concat_ws('|', s.directory_group_id, s.name, m.directory_id,"
    " sm.role), E'\\n' ORDER BY s.directory_group_id, m.directory_id)) FROM subteam_members sm"
    " JOIN subteams s ON s.id = sm.subteam_id JOIN members m ON m.id = sm.member_id"
    " WHERE s.team_id = $1 AND m.status <> 'removed'",
    "photos": "SELECT md5(string_agg(concat_ws('|', m.directory_id, p.content_type, md5(p.data)), E'\\n'"
    " ORDER BY m.directory_id)) FROM member_photos p JOIN members m ON m.id = p.member_id"
    " WHERE m.team_id = $1 AND m.status <> 'removed'",
}


async def fingerprints(b: Bench, team: str) -> dict[str, str]:
    return {what: await b.pool.fetchval(sql, team) for what, sql in FINGERPRINTS.items()}


# The table
def per_process_text(values: dict[str, float]) -> str:
    """``sch 77 · fet 71+141 · …``: the service processes (replicas joined by +), then the others as named."""
    order = [*SERVICES, "sim", "pg"]
    by_name: dict[str, list[str]] = {}
    for name, value in sorted(values.items(), key=lambda item: (order.index(item[0].split("-")[0]), item[0])):
        by_name.setdefault(name.split("-")[0][:3], []).append(f"{value:.0f}")
    return " · ".join(f"{s} {'+'.join(v)}" for s, v in by_name.items()) or "—"


def report(b: Bench) -> str:
    def cell(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    lines = [
        (
            f"{b.args.teams:,} × {b.args.users:,} users in {b.args.groups} groups. Graph requests as Graph"
            " counts them (each "
            "$batch item is one);"
            " rows written = inserts, updates and deletes in"
            f" {', '.join(CARD_TABLES)}; peak RSS per service process (sch, fet, rec, not), in MB; CPU "
            "seconds"
            " of each service process, the simulated tenant (sim) and PostgreSQL (pg) from the start of the"
            " measurement to its end."
        ),
        "",
        (
            "| measurement | wall s | members/s | Graph requests | rows written | emails | peak RSS MB"
            " | CPU s | × floor |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for r in b.rows:
        rate = r.members / r.wall if r.wall else 0.0
        floor = r.floor or b.floor
        ratio = f"{r.wall / floor:.1f}" if floor and not r.label.startswith("(a)") else "—"
        lines.append(
            f"| {r.label} | {r.wall:.1f} | {rate:,.0f} | {cell(r.requests)} | {cell(r.writes)} |"
            f" {cell(r.emails)} | {per_process_text(r.peaks)} | {per_process_text(r.cpu)} | {ratio} |"
        )
    lines += ["", *b.sizes] if b.sizes else []
    lines += ["", "checks: all held" if not b.problems else "FAILED:", *(f"- {p}" for p in b.problems)]
    return "\n".join(lines)


# Running it
def service_env(db_url: str, prefix: str, info: dict[str, Any], smtp_port: int) -> dict[str, str]:
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
    env.update(
        CARDSYNC_DATABASE_URL=db_url,
        CARDSYNC_AMQP_URL=Settings().amqp_url,
        CARDSYNC_AMQP_PREFIX=prefix,
        CARDSYNC_GRAPH_URL=info["graph_url"],
        CARDSYNC_AUTHORITY_URL=info["authority_url"],
        CARDSYNC_CA_FILE=info["ca_file"],
        CARDSYNC_SMTP_HOST="127.0.0.1",
        CARDSYNC_SMTP_PORT=str(smtp_port),
        CARDSYNC_API_PORT=str(api_port),
        CARDSYNC_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        CARDSYNC_OPERATOR_TOKEN=OPERATOR_TOKEN,
        CARDSYNC_SECRET_KEY=uuid.uuid4().hex,
    )
    return env


async def start(b: Bench, exits: contextlib.AsyncExitStack, log_dir: Path) -> None:
    smtp_port = free_port()
    b.sink = Child(sink_child, smtp_port)
    exits.callback(b.sink.stop)
    print(
        f"generating {b.args.teams:,} tenant(s) of {b.args.users:,} users in {b.args.groups} groups",
        flush=True,
    )
    b.sim = await asyncio.to_thread(
        Child, simulator_child, b.args.users, b.args.groups, b.args.seed, b.args.teams
    )
    exits.callback(b.sim.stop)
    b.infos = await b.sim.call("infos")
    b.info = b.infos[0]
    url = await fresh_database(SERVER)
    exits.push_async_callback(drop_database, SERVER, url)
    b.pool = await db.create_pool(url, size=4)
    exits.push_async_callback(b.pool.close)
    prefix = f"cardsync-bench-{uuid.uuid4().hex[:8]}"
    exits.push_async_callback(delete_topology, Settings().amqp_url, prefix)
    b.stack = Stack(service_env(url, prefix, b.info, smtp_port), log_dir)
    exits.callback(b.stack.stop)
    b.stack.start({})
    await b.stack.wait_healthy()
    b.api = await exits.enter_async_context(
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    )


async def scenario(b: Bench) -> None:
    print("(a) floors", flush=True)
    await floors(b)
    if b.args.teams > 1:
        await many_teams(b)
        return
    team = await make_team(b, "Bench")
    print("(b) first Sync Now", flush=True)
    await first_sync(b, team, "(b) first Sync Now, invites off")
    if b.args.first_sync_only:
        return
    if b.args.realtime:
        await realtime.measure(b, team, begin, finish)
        return
    if not b.args.no_invites:
        await invites_on(b, team)
    print("(c) second run", flush=True)
    await later_run(b, team, "(c) second run, no changes", created=0, updated=0, removed=0, invited=0)
    titles, moves = b.args.users // 100, b.args.users // 200
    await b.sim.call("churn", titles, moves, moves)
    label = f"(d) after churn: {titles:,} title changes, {moves:,} joiners, {moves:,} leavers"
    print("(d) churn", flush=True)
    invited = {} if b.args.no_invites else {"invited": moves}  # with invites off, none is sent
    await later_run(b, team, label, created=moves, updated=titles, removed=moves, **invited)
    await database_size(b, "(d) after churn")
    if not b.args.no_scale_out:
        await scale_out(b, team)


async def run(b: Bench, log_dir: Path) -> None:
    try:
        async with contextlib.AsyncExitStack() as exits, asyncio.timeout(b.args.timeout):
            await start(b, exits, log_dir)
            await scenario(b)
    except TimeoutError:
        b.problems.append(f"did not finish within --timeout {b.args.timeout:.0f} s")
    except Failure as exc:
        b.problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure ends the bench, which still reports and cleans up
        traceback.print_exc()
        b.problems.append(f"{type(exc).__name__}: {exc}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=None, help="groups a tenant (20; 5 with --teams)")
    parser.add_argument(
        "--teams", type=int, default=1, help="teams synced at once, each on a tenant of its own"
    )
    parser.add_argument("--team-users", type=int, default=100, help="users of each team's tenant (--teams)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the whole bench")
    parser.add_argument("--quick", action="store_true", help="5,000 users, at most 600 s")
    parser.add_argument(
        "--first-sync-only", action="store_true", help="stop after (b)'s first sync: for profiling"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the services' logs (their folder is printed)"
    )
    parser.add_argument(
        "--no-invites", action="store_true", help="skip (b)'s invites (a million take a quarter of an hour)"
    )
    parser.add_argument("--no-scale-out", action="store_true", help="skip (e), the second team")
    realtime.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.users, args.timeout = 5_000, min(args.timeout, 600)
    if args.teams > 1:
        args.users = args.team_users
    if args.groups is None:
        args.groups = 5 if args.teams > 1 else 20
    return args


def main() -> int:
    b = Bench(arguments())
    log_dir = Path(tempfile.mkdtemp(prefix="cardsync-bench-"))
    asyncio.run(run(b, log_dir))
    print(report(b))
    if b.problems or b.args.keep_logs:
        print(f"service logs: {log_dir}", file=sys.stderr)
        return 1 if b.problems else 0
    for log in log_dir.iterdir():
        log.unlink()
    log_dir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
