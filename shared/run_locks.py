"""Advisory locks on a run's work, transaction-scoped: ``run`` serialises a run's messages (and keeps the
stall sweep off a run being applied), ``team`` a team's applies, ``photos`` (shared by photo messages) the end
of a team's apply with its photos."""

from __future__ import annotations

import asyncpg


async def lock(conn: asyncpg.Connection, scope: str, key: str, shared: bool = False) -> None:
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {function}(hashtextextended($1, 0))", _lock_name(scope, key))


async def try_lock(conn: asyncpg.Connection, scope: str, key: str) -> bool:
    """``lock``, exclusive, without waiting: False when another transaction holds it (shared or not)."""
    return await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", _lock_name(scope, key)
    )


def _lock_name(scope: str, key: str) -> str:
    return f"reconciler:{scope}:{key}"
