"""The fetcher against a 100,000-user tenant (20 groups nested two levels deep) from the simulator, at 0 ms
and 50 ms latency: a first (full) run, a second run with no changes, and a run after 1% churn (title changes,
joiners, leavers: 1%, 0.5%, 0.5% of the users), each marked succeeded before the next, as the reconciler
would.

The simulator runs in a child process so that the figures are the fetcher's own: wall time, Graph requests,
pages, and the peak resident memory of this process during each run. Each message is serialised as the bus
would; with ``--rabbitmq`` it is also published, confirmed, to a queue of the bench's own on the local
RabbitMQ (emptied after each run, deleted at the end). Needs the local PostgreSQL (and RabbitMQ).

    python -m bench.fetch [--users 100000] [--groups 20] [--latency-ms 0 50] [--rabbitmq]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import time
import uuid
from dataclasses import dataclass

from bench._common import Child, TenantControl, delete_topology, serve_commands
from services.fetcher.fetcher import Fetcher
from shared import db
from shared.bus import Bus
from shared.crypto import encrypt, hash_token
from shared.graph.client import GraphClient
from shared.messages import MembersFetched, Message, SnapshotCompleted, SyncRequested
from shared.settings import Settings

SECRET_KEY = "bench-secret-key"
PAGE = 999
CONSUMER, SNAPSHOT = "reconciler", (MembersFetched, SnapshotCompleted)  # the queue the pages go to
SERVER = os.environ.get("CARDSYNC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


class FetchTenant(TenantControl):
    def min_pages(self) -> int:
        """The fewest pages a full read can take: each group's direct members, then the users, 999 a page."""
        tenant = self.tenants[0]
        members = sum(math.ceil(len(ids) / PAGE) for ids in tenant.members.values())
        return members + math.ceil(len(tenant.users) / PAGE)


def serve(conn, users: int, groups: int, latency: float) -> None:
    """The child: a simulator with a generated tenant, answering the parent's commands."""
    from simulator import Simulator, generate_tenant

    async def main() -> None:
        tenant = generate_tenant(users, groups, photo_share=0.0, seed=11)
        async with Simulator(latency=latency) as sim:
            sim.add_tenant(tenant)
            await serve_commands(conn, FetchTenant(sim, [tenant], 11))

    asyncio.run(main())


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@dataclass
class Tally:
    bus: Bus | None = None
    pages: int = 0
    users: int = 0
    bytes: int = 0
    completed: SnapshotCompleted | None = None
    failed: Message | None = None

    async def __call__(self, *messages: Message) -> None:
        for m in messages:
            body = m.to_bytes()  # what the bus serialises
            self.bytes += len(body)
            if self.bus is not None:
                await self.bus.publish_raw([(m.routing_key, m.message_id, body)])
            if isinstance(m, MembersFetched):
                self.pages += 1
                self.users += len(m.users)
            elif isinstance(m, SnapshotCompleted):
                self.completed = m
            else:
                self.failed = m


async def fetch(fetcher: Fetcher, pool, team, config: dict, bus: Bus | None) -> dict:
    """One run, marked succeeded afterwards as the reconciler would; its figures."""
    run = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, config) VALUES ($1, 'manual', $2) RETURNING id",
        team,
        config,
    )
    tally = Tally(bus)
    fetcher.publish = tally
    peak = rss_mb()

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    await fetcher.on_sync_requested(SyncRequested(team_id=str(team), run_id=str(run)))
    seconds = time.perf_counter() - started
    sampler.cancel()
    if tally.completed is None:
        raise SystemExit(f"the fetch failed: {tally.failed}")
    await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", run)
    if bus is not None:
        await (await bus.declare(CONSUMER, SNAPSHOT)).purge()
    return {
        "mode": tally.completed.mode,
        "seconds": seconds,
        "requests": tally.completed.graph_requests,
        "pages": tally.pages,
        "users": tally.users,
        "mb_sent": tally.bytes / 2**20,
        "peak": peak,
    }


async def fetch_runs(tenant: Child, latency: float, users: int, rabbitmq: bool) -> list[dict]:
    """A first (full) run, a run with no changes, and a run after 1% churn, against one database."""
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
    bus = Bus(settings.amqp_url, settings.amqp_prefix) if rabbitmq else None
    try:
        if bus is not None:
            await bus.connect()
            await bus.declare(CONSUMER, SNAPSHOT)
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
        config = {"groups": [{"id": g["id"]} for g in info["groups"]]}
        fetcher = Fetcher(pool, settings, graph, Tally(), photos=False)
        rows = [{"run": "first", **await fetch(fetcher, pool, team, config, bus)}]
        rows.append({"run": "no change", **await fetch(fetcher, pool, team, config, bus)})
        await tenant.call("churn", users // 100, users // 200, users // 200)
        rows.append({"run": "1% churn", **await fetch(fetcher, pool, team, config, bus)})
        return [{"latency": latency, **r} for r in rows]
    finally:
        await graph.close()
        await pool.close()
        if bus is not None:
            await bus.close()
            await delete_topology(settings.amqp_url, settings.amqp_prefix)
        admin = await db.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 50.0])
    parser.add_argument("--rabbitmq", action="store_true", help="publish every message to the local RabbitMQ")
    args = parser.parse_args()
    try:  # as the services run (services/cli.py)
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rows = []
    minimum = 0
    for latency_ms in args.latency_ms:
        tenant = Child(serve, args.users, args.groups, latency_ms / 1000)
        try:
            minimum = tenant.call_now("min_pages")
            rows += asyncio.run(fetch_runs(tenant, latency_ms, args.users, args.rabbitmq))
        finally:
            tenant.stop()
    print(f"{args.users:,} users in {args.groups} groups (nested two levels deep)")
    print(
        f"{'latency':>8} {'run':>10} {'mode':>6} {'seconds':>8} {'requests':>9} {'pages':>6} {'rows':>8}"
        f" {'MB out':>7} {'peak':>7}"
    )
    for r in rows:
        print(
            f"{r['latency']:>6.0f}ms {r['run']:>10} {r['mode']:>6} {r['seconds']:>8.1f} {r['requests']:>9}"
            f" {r['pages']:>6} {r['users']:>8} {r['mb_sent']:>7.1f} {r['peak']:>5.0f}MB"
        )
    first = [r["requests"] for r in rows if r["run"] == "first"]
    print(
        f"first run: {max(first)} Graph requests against a minimum of {minimum} pages"
        f" (direct members per group and the users, 999 a page): {max(first) / minimum:.2f}x"
    )
    print(f"process high-water mark: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
