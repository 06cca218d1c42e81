"""`cardsync rotate-secrets`: every stored client secret encrypted again under the newest key."""

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


async def rotate_secrets(conn: asyncpg.Connection, keys: Sequence[str]) -> int:
    """Rewrite the secrets the newest key cannot open yet, all or none; how many were rewritten.

    One transaction holding the rows' locks: a connection saved meanwhile waits instead of being overwritten
    with its old secret, and a row no key opens leaves every row as it was, so the command can simply be run
    again.
    """
    rewritten = 0
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT team_id, secret_encrypted FROM directory_connections"
            " WHERE secret_encrypted IS NOT NULL ORDER BY team_id FOR UPDATE"
        )
        for row in rows:
            if not needs_rotation(keys, row["secret_encrypted"]):
                continue
            try:
                token = rotate(keys, row["secret_encrypted"])
            except UndecryptableSecret:
                raise RotationFailed(
                    f"the client secret of team {row['team_id']} opens with no key of CARDSYNC_SECRET_KEYS: "
                    "add the"
                    " key it was stored under (after the newest) and run again, or connect that team's "
                    "directory"
                    " again; nothing was rewritten"
                ) from None
            await conn.execute(
                "UPDATE directory_connections SET secret_encrypted = $2 WHERE team_id = $1",
                row["team_id"],
                token,
            )
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
    print(f"re-encrypted {rewritten} client secret(s) under the newest key")
    return 0
