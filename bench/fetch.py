"""Full fetch of a 100,000-user tenant (20 nested groups) from the simulator, at 0 ms and 50 ms latency.

The simulator runs in a child process so that the figures are the fetcher's own: wall time, Graph requests,
pages, and the peak resident memory of this process while it fetched. Needs the local PostgreSQL.

    python -m bench.fetch [--users 100000] [--groups 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import time
import uuid
from dataclasses import dataclass

from services.fetcher.fetcher import Fetcher
from shared import db
from shared.crypto import encrypt, hash_token
from shared.graph.client import GraphClient
from shared.messages import MembersFetched, Message, SnapshotCompleted, SyncRequested
from shared.settings import Settings

SECRET_KEY = "bench-secret-key"
SERVER = os.environ.get("CARDSYNC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def serve(conn, users: int, groups: int, latency: float) -> None:
    """The child: a simulator with a generated tenant, until the parent says stop."""
    from simulator import Simulator, generate_tenant

    async def main() -> None:
        tenant = generate_tenant(users, groups, photo_share=0.0, seed=11)
        async with Simulator(latency=latency) as sim:
            sim.add_tenant(tenant)
            client_id, secret = next(iter(tenant.apps.items()))
            conn.send(
                (
                    sim.graph_url,
                    sim.authority_url,
                    sim.ca_file,
                    tenant.tenant_id,
                    client_id,
                    secret,
                    list(tenant.groups),
                )
            )
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@dataclass
class Tally:
    pages: int = 0
    users: int = 0
    bytes: int = 0
    completed: SnapshotCompleted | None = None
    failed: Message | None = None

    async def __call__(self, *messages: Message) -> None:
        for m in messages:
            self.bytes += len(m.to_bytes())  # what the bus would serialise
            if isinstance(m, MembersFetched):
                self.pages += 1
                self.users += len(m.users)
            elif isinstance(m, SnapshotCompleted):
                self.completed = m
            else:
                self.failed = m


async def fetch_once(info: tuple, latency: float) -> dict:
    graph_url, authority_url, ca_file, tenant_id, client_id, secret, group_ids = info
    url = f"{SERVER}/cardsync_bench_{uuid.uuid4().hex[:8]}"
    await db.migrate(url)
    settings = Settings(
        database_url=url,
        graph_url=graph_url,
        authority_url=authority_url,
        ca_file=ca_file,
        secret_key=SECRET_KEY,
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
            tenant_id,
            client_id,
            encrypt(SECRET_KEY, secret),
        )
        config = {"groups": [{"id": g} for g in group_ids]}
        run = await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, config) VALUES ($1, 'manual', $2) RETURNING id",
            team,
            config,
        )
        tally = Tally()
        fetcher = Fetcher(pool, settings, graph, tally, photos=False)
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
        return {
            "latency": latency,
            "seconds": seconds,
            "requests": tally.completed.graph_requests,
            "pages": tally.pages,
            "users": tally.users,
            "mb_sent": tally.bytes / 2**20,
            "peak": peak,
        }
    finally:
        await graph.close()
        await pool.close()
        admin = await db.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 50.0])
    args = parser.parse_args()
    rows = []
    for latency_ms in args.latency_ms:
        parent, child = mp.Pipe()
        server = mp.get_context("spawn").Process(
            target=serve, args=(child, args.users, args.groups, latency_ms / 1000)
        )
        server.start()
        try:
            rows.append(asyncio.run(fetch_once(parent.recv(), latency_ms)))
        finally:
            parent.send("stop")
            server.join(30)
    print(f"{args.users:,} users in {args.groups} groups (memberships read transitively)")
    print(f"{'latency':>8} {'seconds':>8} {'requests':>9} {'pages':>6} {'rows':>8} {'MB out':>7} {'peak':>7}")
    for r in rows:
        print(
            f"{r['latency']:>6.0f}ms {r['seconds']:>8.1f} {r['requests']:>9} {r['pages']:>6} {r['users']:>8}"
            f" {r['mb_sent']:>7.1f} {r['peak']:>5.0f}MB"
        )
    print(f"process high-water mark: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
