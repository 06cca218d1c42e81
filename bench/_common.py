"""What the end-to-end bench runs besides the services: child processes driven by commands over a pipe (the
simulated tenant, a counting SMTP sink), the service processes with their peak memory, and a throwaway
database and bus prefix."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg

from shared import db
from shared.topology import CONSUMERS

SERVICES = ("scheduler", "fetcher", "reconciler", "notifier")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(fetch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], every: float = 0.25) -> Any:
    """Poll until ``done``; the caller's overall timeout bounds the wait."""
    while not done(value := await fetch()):
        await asyncio.sleep(every)
    return value


# CPU time, from /proc: where the wall time of a run goes on a machine that runs everything
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and of the children it has waited for; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command: state, ppid, ... (stat's field 3 on)
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def postgres_cpu() -> float:
    """CPU of this machine's PostgreSQL: every live postgres process, and through the postmaster's count of
    its children, the backends that have exited. 0 when PostgreSQL runs elsewhere."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


# Child processes answering commands: the parent sends (name, args), the child answers (ok, value).
async def serve_commands(conn, handler: object) -> None:
    """Run in a child: call ``handler.<name>(*args)`` on this event loop for each command, until "stop"."""
    loop = asyncio.get_running_loop()
    conn.send((True, "ready"))
    while True:
        name, args = await loop.run_in_executor(None, conn.recv)
        if name == "stop":
            return
        try:
            conn.send((True, getattr(handler, name)(*args)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the bench with it
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class Child:
    def __init__(self, target: Callable[..., None], *args: Any, ready_timeout: float = 300) -> None:
        self._conn, child_conn = mp.Pipe()
        self._lock = threading.Lock()
        self.process = mp.get_context("spawn").Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()
        if not self._conn.poll(ready_timeout):
            self.process.kill()
            raise RuntimeError(f"{target.__name__} did not start in {ready_timeout:.0f} s")
        self._conn.recv()

    def call_now(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._conn.send((name, args))
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"{name}: {value}")
        return value

    async def call(self, name: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.call_now, name, *args)

    def stop(self) -> None:
        # A call cut short by the timeout may still hold the lock: then the child is killed, not asked.
        if self.process.is_alive() and self._lock.acquire(timeout=15):
            self._conn.send(("stop", ()))
            self._lock.release()
            self.process.join(15)
        if self.process.is_alive():
            self.process.kill()


class SmtpSink(asyncio.Protocol):
    """A receiving SMTP server that keeps nothing but who was sent to: the commands a client sends (one at a
    time or pipelined), and each message's data up to its terminating line. It stands for a mail server on
    another machine, so it costs the bench's shared cores as little as it can: aiosmtpd spent about 1 ms of
    CPU an email (as much as the notifier) on parsing and sessions the bench does not need; this, 0.2 ms."""

    END = b"\r\n.\r\n"

    def __init__(self, delivered: Callable[[list[str]], None]) -> None:
        self.delivered = delivered
        self.buffer = b""
        self.recipients: list[str] = []
        self.in_data = False
        self.scanned = 0  # in a message's data, how far the buffer holds no terminator

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 bench ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(self.END, self.scanned)
                if end < 0:
                    self.scanned = max(0, len(self.buffer) - len(self.END) + 1)
                    return
                self.buffer = self.buffer[end + len(self.END) :]
                self.in_data = False
                self.delivered(self.recipients)
                self.recipients = []
                self.transport.write(b"250 OK\r\n")
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                return
            self.buffer = rest
            self.transport.write(self.answer(line))

    def answer(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"EHLO":
            return b"250-bench\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"
        if verb == b"MAIL":
            self.recipients = []
            return b"250 OK\r\n"
        if verb == b"RCPT":
            address = line.partition(b":")[2].strip().split(b" ")[0].strip(b"<>")
            self.recipients.append(address.decode("utf-8", "replace").lower())
            return b"250 OK\r\n"
        if verb == b"DATA":
            if not self.recipients:
                return b"503 RCPT first\r\n"
            # The data's first line follows the command's CRLF, which its terminator may begin with.
            self.buffer, self.scanned, self.in_data = b"\r\n" + self.buffer, 0, True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            return b""
        if verb in (b"HELO", b"RSET", b"NOOP"):
            if verb == b"RSET":
                self.recipients = []
            return b"250 OK\r\n"
        return b"502 Not implemented\r\n"


async def serve_smtp(delivered: Callable[[list[str]], None], port: int = 0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SmtpSink(delivered), "127.0.0.1", port)


class CountingSink:
    """Counts messages and distinct recipients, keeps nothing else."""

    def __init__(self) -> None:
        self.messages = 0
        self.recipients: set[str] = set()

    def delivered(self, recipients: list[str]) -> None:
        self.messages += 1
        self.recipients.update(recipients)

    def count(self) -> tuple[int, int]:
        return self.messages, len(self.recipients)


def sink_child(conn, port: int) -> None:
    sink = CountingSink()

    async def main() -> None:
        server = await serve_smtp(sink.delivered, port)
        async with server:
            await serve_commands(conn, sink)

    asyncio.run(main())


class TenantControl:
    """The simulated tenants' commands (tenant ``t``, the first by default): their addresses, the request
    counter, what a correct sync of each holds, and churn. Runs in the simulator's child, on its event
    loop."""

    def __init__(self, sim, tenants: list, seed: int) -> None:
        self.sim, self.tenants = sim, tenants
        self.rng = random.Random(f"churn:{seed}")  # not the generator's stream: its draws would repeat ids

    @property
    def tenant(self):
        """The first tenant: the one the single-team scenarios sync."""
        return self.tenants[0]

    def info(self, t: int = 0) -> dict[str, Any]:
        tenant = self.tenants[t]
        client_id, secret = next(iter(tenant.apps.items()))
        return {
            "graph_url": self.sim.graph_url,
            "authority_url": self.sim.authority_url,
            "ca_file": self.sim.ca_file,
            "tenant_id": tenant.tenant_id,
            "client_id": client_id,
            "client_secret": secret,
            "groups": [{"id": gid, "display_name": g["displayName"]} for gid, g in tenant.groups.items()],
        }

    def infos(self) -> list[dict[str, Any]]:
        return [self.info(t) for t in range(len(self.tenants))]

    def requests(self) -> int:
        return sum(self.sim.requests[tenant.tenant_id]["total"] for tenant in self.tenants)

    def expected(self, t: int = 0) -> dict[str, Any]:
        """Every synced group's enabled users (R: disabled users are not members), per group and in all."""
        tenant = self.tenants[t]
        members = self._in_scope(tenant)
        return {
            "ids": sorted(members),
            "groups": {g: len(members.intersection(tenant.transitive_member_ids(g))) for g in tenant.groups},
            "photos": len(members.intersection(tenant.photos)),
        }

    def expected_all(self) -> list[dict[str, Any]]:
        return [self.expected(t) for t in range(len(self.tenants))]

    @staticmethod
    def _in_scope(tenant) -> set[str]:
        users = tenant.users
        everyone = set().union(*(tenant.transitive_member_ids(g) for g in tenant.groups))
        return {u for u in everyone if u in users and users[u].get("accountEnabled", True) is not False}

    def churn(self, titles: int, joiners: int, leavers: int) -> None:
        """Change job titles, delete leavers, add joiners to the groups people are placed in directly (in the
        first tenant)."""
        tenant = self.tenants[0]
        picked = self.rng.sample(sorted(self._in_scope(tenant)), titles + leavers)
        for uid in picked[:titles]:
            tenant.update_user(uid, jobTitle=f"{tenant.users[uid].get('jobTitle') or 'Staff'} II")
        for uid in picked[titles:]:
            tenant.delete_user(uid)
        homes = sorted(g for g, ids in tenant.members.items() if any(i in tenant.users for i in ids))
        company = next(iter(tenant.users.values())).get("companyName")
        for n in range(joiners):
            uid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            upn = f"joiner.{uid[:8]}@{tenant.domain}"
            tenant.add_user(
                id=uid,
                displayName=f"Joiner {n}",
                givenName="Joiner",
                surname=str(n),
                userPrincipalName=upn,
                mail=upn,
                jobTitle="New Starter",
                companyName=company,
                businessPhones=[],
                accountEnabled=True,
            )
            tenant.add_member(self.rng.choice(homes), uid)

    def grant(self, permission: str) -> None:
        """Give the bench's app another permission (Graph's subscriptions to groups ask for
        Group.Read.All)."""
        self.tenant.grant(next(iter(self.tenant.apps)), permission)

    def sole_group_members(self, count: int) -> list[tuple[str, str]]:
        """(group, user) for ``count`` enabled users in exactly one group, directly: removed from it, each
        leaves every synced group."""
        direct: dict[str, list[str]] = {}
        for g, ids in self.tenant.members.items():
            for i in ids:
                direct.setdefault(i, []).append(g)
        scope = self._in_scope(self.tenant)
        alone = sorted((gs[0], u) for u, gs in direct.items() if len(gs) == 1 and u in scope)
        return self.rng.sample(alone, min(count, len(alone)))

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.tenant.remove_member(group_id, user_id)


def simulator_child(conn, users: int, groups: int, seed: int, tenants: int = 1) -> None:
    """The simulated tenants (``tenants`` of ``users`` each) in a process of their own, so that serving Graph
    competes with nobody's event loop."""
    from simulator import Simulator, generate_tenant

    async def main() -> None:
        made = [
            generate_tenant(users, groups, nesting=2, photo_share=0.3, seed=seed + n) for n in range(tenants)
        ]
        async with Simulator() as sim:
            for tenant in made:
                sim.add_tenant(tenant)
            await serve_commands(conn, TenantControl(sim, made, seed))

    asyncio.run(main())


# Service processes
def _command(service: str) -> list[str]:
    command = [sys.executable, "-m", "services.cli", service]
    setpriv = shutil.which("setpriv")  # the service gets SIGTERM if the bench dies: no orphans
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


@dataclass
class Stack:
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['CARDSYNC_API_PORT']}/api/v1"

    def start(self, replicas: dict[str, int]) -> None:
        for service in SERVICES:
            for replica in range(replicas.get(service, 1)):
                self._start(service, f"{service}-{replica}")

    def _start(self, service: str, name: str) -> None:
        env = dict(self.env)
        if service == "scheduler":
            self.health[name] = f"{self.api.removesuffix('/api/v1')}/healthz"
        else:
            env["CARDSYNC_HEALTH_PORT"] = port = str(free_port())
            self.health[name] = f"http://127.0.0.1:{port}/healthz"
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                _command(service), env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-chars:]

    async def wait_healthy(self) -> None:
        async with aiohttp.ClientSession() as http:
            for url in self.health.values():
                await until(lambda u=url: self._healthy(http, u), bool, every=0.2)

    async def _healthy(self, http: aiohttp.ClientSession, url: str) -> bool:
        self.check_alive()
        try:
            async with http.get(url) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    def reset_peaks(self) -> None:
        self.check_alive()
        for proc in self.processes.values():
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)

    def peaks_mb(self) -> dict[str, float]:
        self.check_alive()
        peaks = {}
        for name, proc in self.processes.items():
            status = Path(f"/proc/{proc.pid}/status").read_text()
            line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
            peaks[name] = int(line.split()[1]) / 1024
        return peaks

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(proc.pid) for name, proc in self.processes.items()}

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        self.health.clear()


# A database and a bus prefix of the bench's own
def database_url(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


async def fresh_database(server: str) -> str:
    url = database_url(server, f"cardsync_bench_{uuid.uuid4().hex[:10]}")
    await db.migrate(url)
    return url


async def drop_database(server: str, url: str) -> None:
    admin = await asyncpg.connect(database_url(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
    finally:
        await admin.close()


async def delete_topology(amqp_url: str, prefix: str) -> None:
    """Remove the exchanges and queues the services declared under the bench's prefix."""
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        for queue in dict.fromkeys((*SERVICES, *CONSUMERS)):
            for suffix in ("", ".retry", ".dead"):
                await channel.queue_delete(f"{prefix}.{queue}{suffix}")
        for name in (prefix, f"{prefix}.dead"):
            await channel.exchange_delete(name)
    finally:
        await conn.close()
