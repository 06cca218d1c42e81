"""scripts/ensure-services on machines of three kinds, told apart by what is on PATH: neither the servers nor
Docker (it says what to install and fails), Docker whose engine is down (it says so), and a running Docker
engine (it starts the missing servers with the compose file and waits for them)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("dirname", "ls", "sort", "tail", "sleep", "cat")  # what the script runs besides bash's builtins

# Stands in for the docker client: `info` says whether the engine runs; `compose up` records its arguments
# and, as the started containers would, listens on the ports the test gave it.
FAKE_DOCKER = f"""#!{sys.executable}
import os, socket, sys, time
args = sys.argv[1:]
if args[:1] == ["info"]:
    sys.exit(0 if os.environ["FAKE_ENGINE"] == "up" else 1)
if args[:2] == ["compose", "version"]:
    sys.exit(0)
if args[:2] == ["compose", "up"]:
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(" ".join(args) + "\\n")
    if os.fork() == 0:
        os.setsid()
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # let go of the script's pipes, as a daemon would
            os.dup2(quiet, fd)
        held = []
        for port in os.environ["FAKE_PORTS"].split():
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(port))); s.listen(); held.append(s)
        with open(os.environ["FAKE_PID"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    else:
        while not os.path.exists(os.environ["FAKE_PID"]):
            time.sleep(0.05)
    sys.exit(0)
sys.exit(2)
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def machine(tmp_path: Path):
    """A PATH with the script's tools only, and two ports where nothing answers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = next(Path(d, tool) for d in ("/usr/bin", "/bin") if Path(d, tool).exists())
        (bin_dir / tool).symlink_to(found)
    ports = (closed_port(), closed_port())
    env = {
        "PATH": str(bin_dir),
        "CARDSYNC_PG_PORT": str(ports[0]),
        "CARDSYNC_AMQP_PORT": str(ports[1]),
        "FAKE_LOG": str(tmp_path / "docker.log"),
        "FAKE_PID": str(tmp_path / "listener.pid"),
        "FAKE_PORTS": f"{ports[0]} {ports[1]}",
    }
    yield bin_dir, env
    pid = tmp_path / "listener.pid"
    if pid.exists():
        os.kill(int(pid.read_text()), signal.SIGTERM)


def ensure(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts/ensure-services")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def with_docker(bin_dir: Path) -> None:
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)


def test_with_neither_it_says_what_to_install_and_fails(machine):
    _, env = machine
    result = ensure(env)
    assert result.returncode == 1
    said = " ".join(result.stderr.split())
    assert f"PostgreSQL (127.0.0.1:{env['CARDSYNC_PG_PORT']}) and RabbitMQ" in said
    assert "sudo apt-get install postgresql rabbitmq-server" in said
    assert "Docker Engine with the Compose plugin" in said
    assert "docker compose up -d postgres rabbitmq mailpit" in said


def test_with_docker_whose_engine_is_down_it_says_to_start_it(machine):
    bin_dir, env = machine
    with_docker(bin_dir)
    result = ensure({**env, "FAKE_ENGINE": "down"})
    assert result.returncode == 1 and "its engine does not answer" in result.stderr
    assert not Path(env["FAKE_LOG"]).exists()


def test_with_a_docker_engine_it_starts_the_missing_servers_and_waits(machine):
    bin_dir, env = machine
    with_docker(bin_dir)
    result = ensure({**env, "FAKE_ENGINE": "up"})
    assert result.returncode == 0, result.stderr
    assert Path(env["FAKE_LOG"]).read_text().split() == [
        "compose", "up", "-d", "--wait", "--wait-timeout", "180", "postgres", "rabbitmq",
    ]  # fmt: skip
    assert result.stdout.strip().endswith("answer.")
