"""Start-up checks of the `cardsync` command: a service that cannot work with its settings, or cannot take its
port, says why in one message, without a traceback, and exits with status 3 (settings), 4 (PostgreSQL or
RabbitMQ unreachable) or 1 (anything else)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.infra import delete_topology

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = {  # nothing answers here: a check that passes goes on to fail on the connection instead
    "CARDSYNC_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/cardsync",
    "CARDSYNC_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",
}
GOOD = {
    "CARDSYNC_OPERATOR_TOKEN": "an-operator-token-of-40-characters-xxxxx",
    "CARDSYNC_SECRET_KEY": "a-secret-key-of-32-characters-xx",
}


def cardsync(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**clean, **env},
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def refused(result: subprocess.CompletedProcess, status: int = 3) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("cardsync: "), result.stderr
    return result.stderr


@pytest.mark.parametrize("service", ["scheduler", "all"])
def test_the_api_needs_an_operator_token_and_a_secret_key(tmp_path, service):
    said = refused(cardsync(tmp_path, service, **NOWHERE))
    assert "CARDSYNC_OPERATOR_TOKEN is not set" in said and "CARDSYNC_SECRET_KEYS is not set" in said
    assert "PostgreSQL" not in said  # refused before connecting anywhere

    blank = refused(
        cardsync(tmp_path, service, **NOWHERE, CARDSYNC_OPERATOR_TOKEN=" ", CARDSYNC_SECRET_KEY="")
    )
    assert "CARDSYNC_OPERATOR_TOKEN is not set" in blank and "CARDSYNC_SECRET_KEYS is not set" in blank


def test_the_api_refuses_a_short_operator_token(tmp_path):
    key = GOOD["CARDSYNC_SECRET_KEY"]
    said = refused(
        cardsync(tmp_path, "scheduler", **NOWHERE, CARDSYNC_OPERATOR_TOKEN="hunter2", CARDSYNC_SECRET_KEY=key)
    )
    assert "CARDSYNC_OPERATOR_TOKEN has 7 characters" in said and "hunter2" not in said


def test_the_fetcher_needs_a_usable_secret_key_but_no_operator_token(tmp_path):
    missing = refused(cardsync(tmp_path, "fetcher", **NOWHERE, CARDSYNC_OPERATOR_TOKEN="short"))
    assert "CARDSYNC_SECRET_KEYS is not set" in missing and "OPERATOR_TOKEN" not in missing

    short = refused(cardsync(tmp_path, "fetcher", **NOWHERE, CARDSYNC_SECRET_KEY="hunter2"))
    assert "CARDSYNC_SECRET_KEY has 7 characters" in short and "hunter2" not in short

    enough = refused(
        cardsync(tmp_path, "fetcher", **NOWHERE, CARDSYNC_SECRET_KEY=GOOD["CARDSYNC_SECRET_KEY"]), 4
    )
    assert "cannot reach PostgreSQL" in enough

    key = GOOD["CARDSYNC_SECRET_KEY"]
    listed = refused(cardsync(tmp_path, "fetcher", **NOWHERE, CARDSYNC_SECRET_KEYS=f"{key}-new,{key}"), 4)
    assert "cannot reach PostgreSQL" in listed


@pytest.mark.parametrize("service", ["reconciler", "notifier"])
def test_the_other_workers_need_neither(tmp_path, service):
    assert "cannot reach PostgreSQL" in refused(cardsync(tmp_path, service, **NOWHERE), 4)


def test_the_notifier_refuses_to_log_in_without_tls(tmp_path):
    said = refused(
        cardsync(tmp_path, "notifier", **NOWHERE, CARDSYNC_SMTP_USERNAME="cards", CARDSYNC_SMTP_TLS="none")
    )
    assert "CARDSYNC_SMTP_TLS is none" in said and "PostgreSQL" not in said


def test_a_setting_that_does_not_parse_is_named_without_its_value(tmp_path):
    said = refused(
        cardsync(
            tmp_path, "scheduler", **NOWHERE, **GOOD, CARDSYNC_RUN_TIMEOUT="0", CARDSYNC_API_PORT="eighty"
        )
    )
    assert "CARDSYNC_RUN_TIMEOUT" in said and "CARDSYNC_API_PORT" in said and "eighty" not in said


async def test_a_port_another_process_holds_is_a_clear_refusal(tmp_path, settings):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **GOOD,
            "CARDSYNC_DATABASE_URL": settings.database_url,
            "CARDSYNC_AMQP_URL": settings.amqp_url,
            "CARDSYNC_AMQP_PREFIX": settings.amqp_prefix,
            "CARDSYNC_API_PORT": str(port),
        }
        try:
            said = refused(cardsync(tmp_path, "scheduler", **env), 1)
        finally:
            await delete_topology(settings.amqp_prefix)
    assert "the scheduler service cannot start" in said and "address already in use" in said.lower()
