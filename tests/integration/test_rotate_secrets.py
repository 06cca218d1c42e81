"""`cardsync rotate-secrets` against PostgreSQL: old secrets move to the newest key, all or none."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.rotate_secrets import RotationFailed, rotate_secrets
from shared.crypto import decrypt, encrypt

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "key-a-0123456789abcdef", "key-b-0123456789abcdef", "key-c-0123456789abcdef"


async def connect_team(pool, secret: bytes | None, kind: str = "own_app") -> uuid.UUID:
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Contoso', $1) RETURNING id", uuid.uuid4().hex
    )
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted)"
        " VALUES ($1, $2, 'tenant', 'client', $3)",
        team,
        kind,
        secret,
    )
    return team


async def stored(pool) -> dict[uuid.UUID, bytes | None]:
    rows = await pool.fetch("SELECT team_id, secret_encrypted FROM directory_connections")
    return {r["team_id"]: r["secret_encrypted"] for r in rows}


def cardsync(db_url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "rotate-secrets"],
        env={**clean, "CARDSYNC_DATABASE_URL": db_url, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_secrets_under_the_old_key_open_with_the_new_key_alone_after_rotation(pool):
    first = await connect_team(pool, encrypt([A], "first-s3cret"))
    second = await connect_team(pool, encrypt([A], "second-s3cret"))
    consent = await connect_team(pool, None, kind="consent")
    async with pool.acquire() as conn:
        assert await rotate_secrets(conn, [A]) == 0  # nothing to do while A is the newest key
        assert await rotate_secrets(conn, [B, A]) == 2
        after = await stored(pool)
        assert await rotate_secrets(conn, [B, A]) == 0  # a second run changes nothing
    assert await stored(pool) == after and after[consent] is None
    assert decrypt([B], after[first]) == "first-s3cret" and decrypt([B], after[second]) == "second-s3cret"


async def test_a_secret_no_key_opens_fails_the_rotation_and_rewrites_nothing(pool):
    await connect_team(pool, encrypt([A], "readable"))
    lost = await connect_team(pool, encrypt([C], "lost-s3cret"))
    before = await stored(pool)
    async with pool.acquire() as conn:
        with pytest.raises(RotationFailed) as failed:
            await rotate_secrets(conn, [B, A])
    assert str(lost) in str(failed.value) and "lost-s3cret" not in str(failed.value)
    assert await stored(pool) == before


async def test_the_command_reports_the_rewritten_rows_and_names_an_unreadable_team(db_url, pool, tmp_path):
    team = await connect_team(pool, encrypt([A], "s3cret"))
    done = cardsync(db_url, tmp_path, CARDSYNC_SECRET_KEYS=f"{B},{A}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "re-encrypted 1 stored secret(s) under the newest key"
    assert decrypt([B], (await stored(pool))[team]) == "s3cret"

    failed = cardsync(db_url, tmp_path, CARDSYNC_SECRET_KEYS=C)
    assert failed.returncode == 1 and str(team) in failed.stderr and "nothing was rewritten" in failed.stderr
    assert "Traceback" not in failed.stderr and C not in failed.stderr

    short = cardsync(db_url, tmp_path, CARDSYNC_SECRET_KEYS=f"{B},hunter2")
    assert short.returncode == 3 and "key 2 of 2 in CARDSYNC_SECRET_KEYS has 7 characters" in short.stderr
    assert "hunter2" not in short.stderr


async def test_webhook_secrets_rotate_with_the_client_secrets(pool):
    team = await connect_team(pool, encrypt([A], "s3cret"))
    hook = await pool.fetchval(
        "INSERT INTO webhooks (team_id, url, events, secret_encrypted)"
        " VALUES ($1, 'https://hooks.example.com/', '{run.finished}', $2) RETURNING id",
        team,
        encrypt([A], "whsec_c2VjcmV0"),
    )
    async with pool.acquire() as conn:
        assert await rotate_secrets(conn, [B, A]) == 2
        assert await rotate_secrets(conn, [B, A]) == 0
    secret = await pool.fetchval("SELECT secret_encrypted FROM webhooks WHERE id = $1", hook)
    assert decrypt([B], secret) == "whsec_c2VjcmV0"
