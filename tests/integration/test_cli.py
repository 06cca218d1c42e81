"""The `cardsync` command as a person meets it: version, help, exit statuses, one-sentence errors, and the
migration checks (status, a changed migration refused)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import asyncpg
import pytest

from services.cli import _parser
from shared import db
from shared.health import Report, health_routes, serve
from tests.fixtures.infra import BASE_DB_URL, _db_url

ROOT = Path(__file__).resolve().parents[2]
DOWN = "postgresql://postgres@127.0.0.1:1/cardsync"  # nothing answers on port 1


def cardsync(tmp_path: Path, *args: str, code: str | None = None, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    command = ["-c", code, *args] if code else ["-m", "services.cli", *args]
    return subprocess.run(
        [sys.executable, *command],
        env={**clean, **env},
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def one_sentence(result: subprocess.CompletedProcess, status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    said = result.stderr.strip().splitlines()[-1]
    assert said.startswith("cardsync: "), said
    return said


@pytest.fixture
async def empty_db_url():
    name = f"cardsync_cli_{uuid.uuid4().hex[:10]}"
    yield _db_url(name)
    admin = await asyncpg.connect(BASE_DB_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def test_version_is_the_package_version(tmp_path):
    result = cardsync(tmp_path, "--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (result.returncode, result.stdout.strip()) == (0, f"cardsync {version}")


def test_every_command_has_help_that_names_the_exit_statuses(tmp_path):
    [commands] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, parser in commands.choices.items():
        assert parser.description and len(parser.description) > 40, name
        assert "3 invalid or missing settings" in parser.epilog, name
    assert {a.dest: a.help for a in commands._choices_actions}.keys() == commands.choices.keys()
    assert all(a.help for a in commands._choices_actions)
    shown = cardsync(tmp_path, "migrate", "--help")
    words = " ".join(shown.stdout.split())
    assert shown.returncode == 0 and "--status" in words and "4 PostgreSQL or RabbitMQ unreachable" in words


def test_a_usage_error_exits_2(tmp_path):
    result = cardsync(tmp_path, "migrate", "--no-such-option")
    assert result.returncode == 2 and "unrecognized arguments: --no-such-option" in result.stderr
    assert cardsync(tmp_path).returncode == 2


def test_invalid_settings_exit_3_without_the_value(tmp_path):
    said = one_sentence(cardsync(tmp_path, "migrate", CARDSYNC_DB_POOL_SIZE="lots"), 3)
    assert "CARDSYNC_DB_POOL_SIZE" in said and "lots" not in said


def test_migrate_with_the_database_down_is_one_sentence_and_exit_4(tmp_path):
    said = one_sentence(cardsync(tmp_path, "migrate", CARDSYNC_DATABASE_URL=DOWN), 4)
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in said and "connection refused" in said
    assert len(said) < 200

    debug = cardsync(tmp_path, "--debug", "migrate", CARDSYNC_DATABASE_URL=DOWN)
    assert debug.returncode == 4 and "Traceback" in debug.stderr and "ConnectionRefusedError" in debug.stderr
    assert cardsync(tmp_path, "migrate", "--debug", CARDSYNC_DATABASE_URL=DOWN).stderr.count("Traceback") == 1


def test_wrong_credentials_are_a_settings_error(tmp_path):
    url = _db_url("postgres").replace("postgres@", f"nobody_{uuid.uuid4().hex[:6]}@", 1)
    said = one_sentence(cardsync(tmp_path, "migrate", CARDSYNC_DATABASE_URL=url), 3)
    assert "PostgreSQL refused the credentials of CARDSYNC_DATABASE_URL" in said


def test_the_demo_without_the_simulator_says_to_install_the_extra(tmp_path):
    code = "import sys; sys.modules['simulator'] = None; from services.cli import main; sys.exit(main())"
    said = one_sentence(cardsync(tmp_path, "demo", "--once", code=code), 1)
    assert "pip install 'cardsync[sim]'" in said


async def test_status_lists_pending_then_applied_then_a_changed_migration(tmp_path, empty_db_url):
    names = [name for _, name, _ in db.migrations()]
    before = cardsync(tmp_path, "migrate", "--status", CARDSYNC_DATABASE_URL=empty_db_url)
    assert before.returncode == 1
    assert before.stdout.splitlines() == [f"pending  {n}" for n in names] + [f"{len(names)} pending"]

    assert cardsync(tmp_path, "migrate", CARDSYNC_DATABASE_URL=empty_db_url).returncode == 0
    after = cardsync(tmp_path, "migrate", "--status", CARDSYNC_DATABASE_URL=empty_db_url)
    assert after.returncode == 0 and after.stdout.splitlines()[-1] == f"{len(names)} applied"

    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
    finally:
        await conn.close()
    changed = cardsync(tmp_path, "migrate", "--status", CARDSYNC_DATABASE_URL=empty_db_url)
    assert changed.returncode == 1 and f"changed  {names[1]}" in changed.stdout.splitlines()
    assert changed.stdout.splitlines()[-1] == f"{len(names) - 1} applied, 1 changed"

    refused = one_sentence(cardsync(tmp_path, "migrate", CARDSYNC_DATABASE_URL=empty_db_url), 1)
    assert f"{names[1]} changed after it was applied" in refused


async def test_a_service_refuses_to_start_on_a_changed_migration(tmp_path, db_url):
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    finally:
        await conn.close()
    said = one_sentence(cardsync(tmp_path, "reconciler", CARDSYNC_DATABASE_URL=db_url), 1)
    assert "0001_core.sql changed after it was applied" in said and "restore the released file" in said


async def test_healthcheck_asks_the_port_that_answers(tmp_path, unused_tcp_port_factory):
    state = {"healthy": True}

    async def healthy() -> Report:
        return Report({"database": "ok" if state["healthy"] else "PostgreSQL does not answer"})

    api, worker = unused_tcp_port_factory(), unused_tcp_port_factory()
    ports = {"CARDSYNC_API_PORT": str(api), "CARDSYNC_HEALTH_PORT": str(worker)}
    nobody = await asyncio.to_thread(cardsync, tmp_path, "healthcheck", **ports)
    assert nobody.returncode == 1 and f"ports {api}, {worker}" in nobody.stderr

    runner = await serve(health_routes(healthy), "127.0.0.1", worker)
    try:
        assert (await asyncio.to_thread(cardsync, tmp_path, "healthcheck", **ports)).returncode == 0
        state["healthy"] = False
        sick = await asyncio.to_thread(cardsync, tmp_path, "healthcheck", **ports)
        assert sick.returncode == 1 and f"port {worker} is unhealthy (503)" in sick.stderr
    finally:
        await runner.cleanup()
