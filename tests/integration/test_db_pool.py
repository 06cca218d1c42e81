"""The pool waits for nothing for ever: statements and acquires have their timeouts."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared import db
from shared.errors import outage


async def test_a_statement_past_its_timeout_is_cancelled_by_the_server(db_url):
    pool = await db.create_pool(db_url, size=1, statement_timeout=0.2)
    try:
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await pool.fetchval("SELECT pg_sleep(5)")
        assert await pool.fetchval("SELECT 1") == 1  # the connection is still good
    finally:
        await pool.close()


async def test_an_acquire_from_an_exhausted_pool_gives_up_as_an_outage(db_url):
    pool = await db.create_pool(db_url, size=1, acquire_timeout=0.2)
    try:
        async with pool.acquire():
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError) as waited:
                await asyncio.wait_for(pool.fetchval("SELECT 1"), 5)
        assert asyncio.get_running_loop().time() - started < 2
        assert outage(waited.value)  # retried, not counted against the delivery limit
    finally:
        await pool.close()
