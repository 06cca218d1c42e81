"""A scope rule (R2) Graph answers against the same rule tested after the read: the fetcher alone, full reads
of a generated tenant (default 20,000 users in 20 groups) from the simulator in a child process. The rule
keeps one department's users; as a pattern without wildcards (``matches``) it means the same but has no
OData form, so the fetcher reads everyone and tests each record. Prints, per way, the wall time, the Graph
requests, the pages of user records read (999 a page), the users in scope, and whether both ways kept the
same users.
Needs the local PostgreSQL.

    python -m bench.scope [--users 20000] [--groups 20] [--department Sales]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from bench._common import Child, serve_commands
from bench.fetch import SECRET_KEY, SERVER, FetchTenant
from services.fetcher.fetcher import Fetcher
from shared import db
from shared.crypto import encrypt, hash_token
from shared.graph.client import GraphClient
from shared.messages import MembersFetched, Message, SnapshotCompleted, SyncRequested
from shared.settings import Settings


class ScopeTenant(FetchTenant):
    def listing_requests(self) -> int:
        """Requests for pages of users so far: group members' records, or the tenant's user list."""
        counted = self.sim.requests[self.tenant.tenant_id]
        return counted["transitiveMembers"] + counted["users"]


def serve_scope(conn, users: int, groups: int) -> None:
    from simulator import Simulator, generate_tenant

    async def main() -> None:
        tenant = generate_tenant(users, groups, photo_share=0.0, seed=11)
        async with Simulator() as sim:
            sim.add_tenant(tenant)
            await serve_commands(conn, ScopeTenant(sim, tenant, 11))

    asyncio.run(main())


class Kept:
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.completed: SnapshotCompleted | None = None
        self.other: Message | None = None

    async def __call__(self, *messages: Message) -> None:
        for m in messages:
            if isinstance(m, MembersFetched):
                self.ids.update(u.id for u in m.users)
            elif isinstance(m, SnapshotCompleted):
                self.completed = m
            else:
                self.other = m


async def measure(tenant: Child, department: str) -> list[dict]:
    info = await tenant.call("info")
    name = f"cardsync_bench_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    await db.migrate(url)
    settings = Settings(
        database_url=url,
        graph_url=info["graph_url"],
        authority_url=info["authority_url"],
        ca_file=info["ca_file"],
        secret_key=SECRET_KEY,
        amqp_prefix=name,
        _env_file=None,
    )
    pool = await db.create_pool(url, size=4)
    graph = GraphClient.from_settings(settings)
    try:
        team = await pool.fetchval(
            "INSERT INTO teams (name, token_hash) VALUES ('Bench', $1) RETURNING id",
            hash_token(uuid.uuid4().hex),
        )
        await pool.execute(
            "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted)"
            " VALUES ($1, 'own_app', $2, $3, $4)",
            team,
            info["tenant_id"],
            info["client_id"],
            encrypt([SECRET_KEY], info["client_secret"]),
        )
        groups = [{"id": g["id"]} for g in info["groups"]]
        ways = {
            "no rule": {},
            f"department eq '{department}', in $filter": {
                "include": [{"attribute": "department", "op": "eq", "value": department}]
            },
            f"department matches '{department}', after the read": {
                "include": [{"attribute": "department", "op": "matches", "value": department}]
            },
        }
        rows = []
        for way, scope in ways.items():
            run = await pool.fetchval(
                "INSERT INTO sync_runs (team_id, trigger, config) VALUES ($1, 'manual', $2) RETURNING id",
                team,
                {"groups": groups, "scope": scope},
            )
            kept, before = Kept(), await tenant.call("listing_requests")
            fetcher = Fetcher(pool, settings, graph, kept, photos=False, use_delta=False)
            started = time.perf_counter()
            await fetcher.on_sync_requested(SyncRequested(team_id=str(team), run_id=str(run)))
            seconds = time.perf_counter() - started
            if kept.completed is None:
                raise SystemExit(f"the fetch failed: {kept.other}")
            await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", run)
            rows.append(
                {
                    "way": way,
                    "seconds": seconds,
                    "requests": kept.completed.graph_requests,
                    "pages": await tenant.call("listing_requests") - before,
                    "kept": kept.ids,
                }
            )
        return rows
    finally:
        await graph.close()
        await pool.close()
        admin = await db.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--department", default="Sales")
    args = parser.parse_args()
    tenant = Child(serve_scope, args.users, args.groups)
    try:
        rows = asyncio.run(measure(tenant, args.department))
    finally:
        tenant.stop()
    pushed, after = rows[1]["kept"], rows[2]["kept"]
    print(f"{args.users:,} users in {args.groups} groups; full reads, the users' records only")
    print("| way | wall s | Graph requests | pages of user records | users in scope |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['way']} | {r['seconds']:.2f} | {r['requests']} | {r['pages']} | {len(r['kept']):,} |")
    print(f"same users kept both ways: {pushed == after}")


if __name__ == "__main__":
    main()
