"""`cardsync rotate-secrets`: every stored secret (client secrets, certificate keys, webhook secrets)
encrypted again under the newest key."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import asyncpg

from shared import db
from shared.crypto import UndecryptableSecret, needs_rotation, rotate
from shared.runtime import StartupError
from shared.settings import Settings


class RotationFailed(RuntimeError):
    """A stored secret opens with no key of the list; nothing was rewritten."""


# Every column of secrets stored under the keys: client secrets and certificate keys of the directory
# connections, and the webhooks' signing secrets; each with its key column and what a row is, for the error.
_COLUMNS = (
    ("directory_connections", "team_id", "secret_encrypted", "the client secret or certificate of team"),
    ("webhooks", "id", "secret_encrypted", "the signing secret of webhook"),
)


async def rotate_secrets(conn: asyncpg.Connection, keys: Sequence[str]) -> int:
    """Rewrite the secrets the newest key cannot open yet, all or none; how many were rewritten.

    One transaction holding the rows' locks: a connection saved meanwhile waits instead of being overwritten
    with its old secret, and a row no key opens leaves every row as it was, so the command can simply be run
    again.
    """
    rewritten = 0
    async with conn.transaction():
        for table, key, column, what in _COLUMNS:
            rows = await conn.fetch(
                f"SELECT {key} AS id, {column} AS secret FROM {table}"
                f" WHERE {column} IS NOT NULL ORDER BY {key} FOR UPDATE"
            )
            for row in rows:
                if not needs_rotation(keys, row["secret"]):
                    continue
                try:
                    token = rotate(keys, row["secret"])
                except UndecryptableSecret:
                    raise RotationFailed(
                        f"{what} {row['id']} opens with no key of CARDSYNC_SECRET_KEYS: add the key it was"
                        " stored under (after the newest) and run again, or store it again; nothing was"
                        " rewritten"
                    ) from None
                await conn.execute(f"UPDATE {table} SET {column} = $2 WHERE {key} = $1", row["id"], token)
                rewritten += 1
    return rewritten


async def run(settings: Settings) -> int:
    """The command: check the keys, rotate, say how many rows changed; 1 when a secret opens with no key."""
    problems = settings.secret_key_problems()
    if problems:
        raise StartupError("; ".join(problems))
    try:
        conn = await db.connect(settings.database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at CARDSYNC_DATABASE_URL ({exc}); is it running?"
        ) from exc
    try:
        rewritten = await rotate_secrets(conn, settings.secret_keys())
    except RotationFailed as exc:
        print(f"cardsync: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    print(f"re-encrypted {rewritten} stored secret(s) under the newest key")
    return 0
