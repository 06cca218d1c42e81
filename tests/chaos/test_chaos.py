"""The chaos suite against the four service processes: faults at random points of runs on a simulated tenant
with churn between runs, and the invariants after each (see ``tests.chaos.harness``).

The bounded version runs in the test command: a 2,000-user tenant, each service killed once, PostgreSQL
and RabbitMQ cut off for 5 s, SMTP refusing for 20 s while 1,000 joiners are invited, a Graph 503 storm and a
token lapse. The soak (``-m soak``, or ``scripts/chaos`` for its table) injects every fault three times over
on 10,000 users; ``CARDSYNC_CHAOS_ROUNDS`` says how many rounds (default 1)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.chaos.harness import Chaos, Plan
from tests.chaos.soak import SOAK, soak
from tests.fixtures.infra import AMQP_URL, delete_topology

# The bound covers a notifier killed while it held an invite: another takes it once its lease (180 s) ran out.
BOUNDED = Plan(users=2000, kills=1, smtp_seconds=20.0, outage_seconds=5.0, bound=240.0)
SEED = int(os.environ.get("CARDSYNC_CHAOS_SEED", "1"))


def log_dir(tmp_path: Path) -> Path:
    """Where the services write their logs: ``CARDSYNC_CHAOS_LOGS`` keeps them past the test."""
    return Path(os.environ.get("CARDSYNC_CHAOS_LOGS", tmp_path))


@pytest.mark.slow
async def test_every_fault_leaves_the_team_whole(db_url, amqp_prefix, tmp_path):
    try:
        async with Chaos(
            replace(BOUNDED, seed=SEED), db_url, AMQP_URL, amqp_prefix, log_dir(tmp_path)
        ) as chaos:
            results = await chaos.session()
    finally:
        await delete_topology(amqp_prefix)
    print(f"\n{results.details()}\n{results.table()}")
    assert not results.problems(), "\n".join(results.problems())
    assert {r.kind for r in results.rounds} == set(BOUNDED.faults())


@pytest.mark.soak
async def test_soak(tmp_path):
    results, _wall = await soak(int(os.environ.get("CARDSYNC_CHAOS_ROUNDS", "1")), SOAK, log_dir(tmp_path))
    print(f"\n{results.details()}\n{results.table()}")
    assert not results.problems(), "\n".join(results.problems())
