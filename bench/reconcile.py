"""Reconciling a 100,000-member snapshot: into an empty team, then again into the unchanged team, then a 1%
churn (1% of the users gone, 1% with a new title, 1% new), and the undo of that churn.

    python -m bench.reconcile [--users 100000] [--page 999]

Makes a throwaway database, feeds the reconciler's handlers the snapshot pages and the completion directly (no
broker), and prints a table: the time to stage the pages, the time of the apply (the handler of the
completion), members per second over both, the CPU seconds the apply took in this process and in PostgreSQL
(less noisy than the wall time on a shared machine), and the peak resident memory of this process. Needs the
local PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
import uuid

import asyncpg

from bench._common import cpu_seconds
from services.reconciler.handlers import Reconciler
from shared import db, runs
from shared.messages import DirectoryUser, GroupInfo, MembersFetched, RunUndoRequested, SnapshotCompleted
from shared.settings import Settings

SERVER = os.environ.get("CARDSYNC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
GROUPS = [f"00000000-0000-4000-9000-{g:012d}" for g in range(4)]


def directory_user(n: int, title: str = "Engineer") -> DirectoryUser:
    return DirectoryUser(
        id=f"00000000-0000-4000-8000-{n:012d}",
        properties={
            "displayName": f"User {n}",
            "givenName": "User",
            "surname": str(n),
            "mail": f"user{n}@contoso.com",
            "userPrincipalName": f"u{n}@contoso.onmicrosoft.com",
            "jobTitle": title,
            "companyName": "Contoso",
            "mobilePhone": f"+1 425 555 {n % 10000:04d}",
            "businessPhones": [],
            "streetAddress": "1 Main St",
            "city": "Redmond",
            "state": "WA",
            "postalCode": "98052",
            "country": "US",
            "accountEnabled": True,
        },
    )


async def postgres_cpu(pool: asyncpg.Pool) -> float:
    """CPU of the bench database's own PostgreSQL backends, not of others' work on a shared machine."""
    pids = await pool.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_type = 'client backend'"
    )
    return sum(cpu_seconds(r[0]) for r in pids)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def directory(users: int, churn: bool) -> dict[str, list[DirectoryUser]]:
    """The users of each group; ``churn``: every hundredth gone, every hundredth with a new title, and 1% more
    users."""
    per_group = users // len(GROUPS)
    groups: dict[str, list[DirectoryUser]] = {}
    for g, group in enumerate(GROUPS):
        numbers = range(g * per_group, (g + 1) * per_group)
        if churn:
            numbers = [n for n in numbers if n % 100 != 1] + list(
                range(users + g * per_group // 100, users + (g + 1) * per_group // 100)
            )
        groups[group] = [
            directory_user(n, "Director" if churn and n % 100 == 2 else "Engineer") for n in numbers
        ]
    return groups


async def one_run(
    pool: asyncpg.Pool, reconciler: Reconciler, team_id: str, users: int, page: int, churn: bool = False
) -> tuple:
    config = {
        "groups": [{"id": g, "display_name": f"Group {i}"} for i, g in enumerate(GROUPS)],
        "addition_guard": {"max_count": 2 * users},  # the first sync is the measurement, not held
    }
    run_id = str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, status, config) VALUES ($1, 'manual', 'fetching', $2)"
            " RETURNING id",
            team_id,
            config,
        )
    )
    seq = 0
    started = time.perf_counter()
    for group, members in directory(users, churn).items():
        for start in range(0, len(members), page):
            batch = members[start : start + page]
            await reconciler.on_members_fetched(
                MembersFetched(team_id=team_id, run_id=run_id, seq=seq, group_id=group, users=batch)
            )
            seq += 1
    staged, cpu = time.perf_counter(), (own_cpu(), await postgres_cpu(pool))
    await reconciler.on_snapshot_completed(
        SnapshotCompleted(
            team_id=team_id,
            run_id=run_id,
            pages=seq,
            groups=[GroupInfo(id=g, display_name="G") for g in GROUPS],
        )
    )
    applied, cpu = time.perf_counter(), (own_cpu() - cpu[0], await postgres_cpu(pool) - cpu[1])
    run = await pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded", run
    return staged - started, applied - staged, cpu, run["counts"], run_id


async def undo_run(pool: asyncpg.Pool, reconciler: Reconciler, team_id: str, undoes: str) -> tuple:
    """The undo of run ``undoes``: its time, CPU and counts."""
    async with pool.acquire() as conn, conn.transaction():
        run = await runs.queue(conn, team_id, "manual", "bench", False, {}, "id", undoes)
    run_id = str(run["id"])
    started, cpu = time.perf_counter(), (own_cpu(), await postgres_cpu(pool))
    await reconciler.on_run_undo_requested(RunUndoRequested(team_id=team_id, run_id=run_id, undoes=undoes))
    took, cpu = time.perf_counter() - started, (own_cpu() - cpu[0], await postgres_cpu(pool) - cpu[1])
    row = await pool.fetchrow("SELECT status, counts, error FROM sync_runs WHERE id = $1", run_id)
    assert row["status"] == "succeeded", row
    return took, cpu, row["counts"]


async def main(users: int, page: int) -> None:
    name = f"cardsync_bench_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    await db.migrate(url)
    pool = await db.create_pool(url, size=4)
    try:
        team_id = str(
            await pool.fetchval(
                "INSERT INTO teams (name, token_hash) VALUES ('Bench', $1) RETURNING id", uuid.uuid4().hex
            )
        )
        reconciler = Reconciler(pool, Settings(database_url=url, _env_file=None))
        print(
            f"{'run':<12}{'members':>9}{'stage s':>9}{'apply s':>9}{'apply m/s':>11}{'total m/s':>11}"
            f"{'apply CPU s (own, pg)':>23}{'peak RSS MB':>13}  counts"
        )
        for label in ("empty team", "unchanged", "churn 1%"):
            stage, apply, (own, pg), counts, run_id = await one_run(
                pool, reconciler, team_id, users, page, churn=label == "churn 1%"
            )
            print(
                f"{label:<12}{users:>9}{stage:>9.2f}{apply:>9.2f}{users / apply:>11.0f}"
                f"{users / (stage + apply):>11.0f}{own:>15.2f}{pg:>8.2f}{peak_rss_mb():>13.0f}  {counts}"
            )
            rows, members = await pool.fetchrow(
                "SELECT count(*), coalesce(sum(coalesce(cardinality(created), 1)), 0) FROM run_journal"
                " WHERE run_id = $1",
                run_id,
            )
            print(f"{'':<12}journal: {rows} rows for {members} members")
        took, (own, pg), counts = await undo_run(pool, reconciler, team_id, run_id)
        print(f"{'undo churn':<12}{members:>9}{'':>9}{took:>9.2f}{'':>22}{own:>15.2f}{pg:>8.2f}  {counts}")
    finally:
        await pool.close()
        admin = await asyncpg.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=999)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.users, args.page))
