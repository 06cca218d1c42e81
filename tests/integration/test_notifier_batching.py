"""The notifier's group commit against the real PostgreSQL: concurrent callers share statements, each its
answer."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.batching import Batcher


async def test_concurrent_callers_share_batches_and_each_gets_its_own_answer(pool):
    sizes = []

    async def double(conn, items):
        sizes.append(len(items))
        return await conn.fetchval(
            "SELECT array_agg(x * 2 ORDER BY i) FROM unnest($1::int[]) WITH ORDINALITY AS u(x, i)",
            list(items),
        )

    batcher = Batcher(pool, double, max_size=50)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(120))) == [i * 2 for i in range(120)]
    assert sum(sizes) == 120 and max(sizes) == 50 and len(sizes) < 10
    assert await batcher.submit(7) == 14  # an idle batcher starts again


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs(pool):
    async def divide(conn, items):
        return await conn.fetchval("SELECT array_agg(100 / x) FROM unnest($1::int[]) AS u(x)", list(items))

    batcher = Batcher(pool, divide)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await asyncio.gather(batcher.submit(5), batcher.submit(0))
    assert await batcher.submit(4) == 25


async def test_linger_gathers_callers_that_come_a_little_apart(pool):
    sizes = []

    async def count(conn, items):
        sizes.append(len(items))
        return [await conn.fetchval("SELECT $1::int", len(items))] * len(items)

    batcher = Batcher(pool, count, linger=0.2)

    async def later(delay: float) -> int:
        await asyncio.sleep(delay)
        return await batcher.submit(delay)

    assert await asyncio.gather(*(later(d / 100) for d in range(5))) == [5] * 5
    assert sizes == [5]
