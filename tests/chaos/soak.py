"""The chaos soak: every fault of the suite, ``--rounds`` times over, against a 10,000-user simulated tenant
with churn between runs, and a table of what came of it.

    scripts/chaos --rounds 3 [--users 10000] [--seed 1] [--pg-restart] [--keep-logs]

A round is every service killed three times, PostgreSQL and RabbitMQ cut off for ten seconds each, SMTP
refusing for 60 s while 1,000 joiners are invited, a storm of Graph 503s and the tenant's tokens lapsing, in a
shuffled order, each at a random point of a run. ``--pg-restart`` restarts this machine's PostgreSQL cluster
with ``pg_ctlcluster`` instead of cutting the connections (every database on it goes down for a moment).

Uses the local PostgreSQL and RabbitMQ (``CARDSYNC_TEST_DATABASE_URL``, ``CARDSYNC_TEST_AMQP_URL`` to point
elsewhere) with a database and a bus prefix of its own, which it removes. Prints the table and exits 1 if an
invariant did not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg

from shared import db
from tests.chaos.harness import Chaos, Plan, Results, pg_restart_works
from tests.fixtures.infra import AMQP_URL, BASE_DB_URL, _db_url, delete_topology

SOAK = Plan(users=10_000, kills=3, smtp_seconds=60.0, smtp_joiners=1000, outage_seconds=10.0, bound=600.0)


async def soak(rounds: int, plan: Plan, log_dir: Path) -> tuple[Results, float]:
    """Run ``rounds`` rounds of faults on one stack; the results and the wall time."""
    name = f"cardsync_chaos_{uuid.uuid4().hex[:10]}"
    url, prefix = _db_url(name), f"cardsync-chaos-{uuid.uuid4().hex[:10]}"
    began = time.monotonic()
    await db.migrate(url)
    try:
        async with Chaos(plan, url, AMQP_URL, prefix, log_dir) as chaos:
            await chaos.first_sync()
            for number in range(rounds):
                faults = replace(plan, seed=plan.seed + number).faults()
                for kind in faults:
                    await chaos.fault_round(kind)
                    print(f"round {number + 1}: {chaos.results.details().splitlines()[-1]}", flush=True)
            return chaos.results, time.monotonic() - began
    finally:
        await delete_topology(prefix)
        admin = await asyncpg.connect(BASE_DB_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="how many times every fault is injected")
    parser.add_argument("--users", type=int, default=SOAK.users, help="users of the simulated tenant")
    parser.add_argument("--seed", type=int, default=SOAK.seed)
    parser.add_argument("--pg-restart", action="store_true", help="restart PostgreSQL with pg_ctlcluster")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    args = parser.parse_args(argv)
    if args.pg_restart and not pg_restart_works():
        parser.error("--pg-restart needs a PostgreSQL cluster that pg_lsclusters lists online")
    plan = replace(SOAK, users=args.users, seed=args.seed, pg_restart=args.pg_restart)
    log_dir = Path(tempfile.mkdtemp(prefix="cardsync-chaos-"))
    results, wall = asyncio.run(soak(args.rounds, plan, log_dir))
    problems = results.problems()
    print(
        f"\n{args.rounds} round(s), {results.users:,} users, first sync {results.first_sync:.1f} s,"
        f" {wall / 60:.1f} min in all\n"
    )
    print(results.table())
    for problem in problems:
        print(f"- {problem}")
    if args.keep_logs or problems:
        print(f"\nthe services' logs: {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
