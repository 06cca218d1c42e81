"""Chaos against the real service processes: a simulated tenant with churn between runs, and faults injected
at random points of a run, each followed by the invariants.

The four services run as processes (``tests.fixtures.e2e.Stack``) and reach PostgreSQL and RabbitMQ through
TCP proxies of the harness's own, so an outage cuts this stack's connections and nobody else's on the machine.
Graph and the identity platform are the simulator, which throttles and lets tokens lapse on demand; mail goes
to an SMTP sink that can refuse for a while and counts what arrives.

Faults: ``kill:<service>`` (SIGKILL, then started again), ``postgres`` and ``rabbitmq`` (every connection cut
and new ones refused for a while; ``postgres`` may be a real ``pg_ctlcluster`` restart instead), ``smtp``
(every MAIL refused with 451 while a round's joiners are invited), ``graph-503`` (a storm of 503 answers with
Retry-After) and ``token-expiry`` (every access token of the tenant lapses).

After each fault, once the round's run ended and its invites went out: the team is the directory (apart
from removals a held run keeps) and every card has the title churn gave its user, no member, account or link
is there twice, every invite arrived once, no run stayed active past its bound, and every dead-letter queue is
empty.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import aiohttp
import asyncpg
from aiosmtpd.controller import Controller

from shared.bus import Bus
from shared.topology import CONSUMERS
from simulator import Simulator, Tenant, generate_tenant
from tests.e2e.helpers import CLIENT_ID, SECRET, Team, connect_team
from tests.fixtures.e2e import OPERATOR_TOKEN, SERVICES, Stack, free_port
from tests.fixtures.proxy import TcpProxy

ENDED = ("succeeded", "failed", "held")
INVITE_SUBJECT = "You're invited"
DEAD_LETTER_QUEUES = (*CONSUMERS, "scheduler")
# The phases of a run (its status, then its progress phase) in their order; where each fault may strike.
ALL_PHASES = ("queued", "fetching", "reconciling", "photos")
STRIKE_PHASES = {
    "graph-503": ("fetching", "photos"),  # Graph is read in these two
    "token-expiry": ("fetching", "photos"),
    "smtp": ("queued",),  # refusing before the run's invites go out: they all meet it
    "postgres": ("fetching", "reconciling", "photos"),
    "rabbitmq": ("fetching", "reconciling", "photos"),
}


@dataclass(frozen=True)
class Plan:
    """What a chaos session does: its tenant, how many faults of each kind, how long each lasts."""

    users: int
    groups: int = 8
    kills: int = 3  # SIGKILLs of each service
    outages: int = 1  # PostgreSQL and RabbitMQ outages each
    storms: int = 1  # Graph 503 storms and token lapses each
    smtp_refusals: int = 1
    smtp_seconds: float = 60.0
    smtp_joiners: int = 1000
    outage_seconds: float = 10.0
    storm_answers: int = 40
    churn: float = 0.005  # share of the users that change title, join and leave before each run
    bound: float = 240.0  # seconds a run may take, and its invites, after its fault ended
    pg_restart: bool = False  # a real `pg_ctlcluster` restart in place of the proxy's cut
    seed: int = 1

    def faults(self) -> list[str]:
        """The faults in a shuffled order, each kind spread over the session."""
        kinds = [f"kill:{s}" for s in SERVICES for _ in range(self.kills)]
        kinds += ["postgres", "rabbitmq"] * self.outages + ["graph-503", "token-expiry"] * self.storms
        kinds += ["smtp"] * self.smtp_refusals
        random.Random(f"order:{self.seed}").shuffle(kinds)
        return kinds


@dataclass
class Round:
    """One fault and what came of it."""

    kind: str
    phase: str = ""  # where the run was when the fault struck
    runs: int = 0  # runs it took to converge (more than one: the first ended failed)
    failed_runs: int = 0
    recovery: float = 0.0  # seconds from the fault's end to a finished run with its invites out
    seconds: float = 0.0  # the whole round, churn to checks
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the design allows, counted in the table
    lost: int = 0
    doubled: int = 0
    duplicates: int = 0


@dataclass
class Results:
    rounds: list[Round] = field(default_factory=list)
    first: Round | None = None
    first_sync: float = 0.0
    users: int = 0

    def problems(self) -> list[str]:
        rounds = [self.first, *self.rounds] if self.first else self.rounds
        return [f"{r.kind} ({r.phase}): {p}" for r in rounds for p in r.problems]

    def details(self) -> str:
        """A line per round: the fault, where the run was when it struck, how long the round took."""
        return "\n".join(
            f"{r.kind:<16} at {r.phase or '-':<22} runs {r.runs}  recovery {r.recovery:5.1f} s"
            f"  round {r.seconds:5.1f} s  {'; '.join(r.problems) or 'ok'}"
            f"{''.join(f' ({note})' for note in r.notes)}"
            for r in self.rounds
        )

    def table(self) -> str:
        """A Markdown table: one line per kind of fault, and the totals."""
        kinds = sorted({r.kind for r in self.rounds}, key=lambda k: (not k.startswith("kill"), k))
        heads = "fault", "injected", "runs completed", "runs failed", "messages lost", "emails doubled"
        heads += "duplicates", "longest recovery s"
        lines = ["| " + " | ".join(heads) + " |", "| --- |" + " ---: |" * (len(heads) - 1)]
        for kind in [*kinds, "all"]:
            rs = [r for r in self.rounds if kind in (r.kind, "all")]
            cells = [
                kind if kind != "all" else "**all**",
                len(rs),
                sum(r.runs - r.failed_runs for r in rs),
                sum(r.failed_runs for r in rs),
                sum(r.lost for r in rs),
                sum(r.doubled for r in rs),
                sum(r.duplicates for r in rs),
                f"{max((r.recovery for r in rs), default=0):.1f}",
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        return "\n".join(lines)


class CountingSink:
    """An SMTP server in a thread of its own that counts invites per recipient and keeps nothing else, and
    answers every MAIL with 451 while ``refuse`` says so. Its own thread: parsing thousands of emails must not
    slow the proxies, which serve on the harness's event loop."""

    def __init__(self) -> None:
        self.invites: Counter[str] = Counter()
        self.emails = 0
        self.refusals = 0
        self._refuse_until = 0.0
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.host, self.port = "127.0.0.1", self._controller.port

    def start(self) -> CountingSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def refuse(self, seconds: float) -> None:
        self._refuse_until = time.monotonic() + seconds

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.invites)

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:  # aiosmtpd's hook
        if time.monotonic() < self._refuse_until:
            self.refusals += 1
            return "451 4.3.2 Service temporarily unavailable, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        with self._lock:
            self.emails += 1
            if INVITE_SUBJECT.encode() in head:
                self.invites.update(r.lower() for r in envelope.rcpt_tos)
        return "250 OK"


class Chaos:
    """The stack, the tenant, the sink and the proxies of one chaos session."""

    def __init__(self, plan: Plan, db_url: str, amqp_url: str, prefix: str, log_dir: Path) -> None:
        self.plan, self.db_url, self.amqp_url, self.prefix, self.log_dir = (
            plan,
            db_url,
            amqp_url,
            prefix,
            log_dir,
        )
        self.rng = random.Random(f"chaos:{plan.seed}")
        self.results = Results(users=plan.users)
        self.sim: Simulator
        self.tenant: Tenant
        self.sink = CountingSink()
        self.stack: Stack
        self.team: Team
        self.db: asyncpg.Pool
        self._pg = TcpProxy(*_host_port(db_url, 5432))
        self._amqp = TcpProxy(*_host_port(amqp_url, 5672))
        self._exits = AsyncExitStack()
        self._counted: Counter[str] = Counter()
        self._retitled: dict[str, str] = {}  # users churn gave a new title, and the title
        self._bus = Bus(amqp_url, prefix=prefix)

    # Setting up and tearing down
    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self._exits.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exits.aclose()

    async def _open(self) -> None:
        """Start everything, each part's undoing pushed on the exit stack (undone in reverse)."""
        exits = self._exits
        self.sim = Simulator()
        await self.sim.start()
        exits.push_async_callback(self.sim.stop)
        self.tenant = generate_tenant(
            self.plan.users, self.plan.groups, seed=self.plan.seed, client_id=CLIENT_ID, client_secret=SECRET
        )
        self.sim.add_tenant(self.tenant)
        self.sink.start()
        exits.callback(self.sink.stop)
        for proxy in (self._pg, self._amqp):
            await proxy.start()
            exits.push_async_callback(proxy.close)
        self.db = await asyncpg.create_pool(self.db_url, min_size=1, max_size=2)
        exits.push_async_callback(self.db.close)
        await self._bus.connect()
        exits.push_async_callback(self._bus.close)
        api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
        env.update(
            CARDSYNC_DATABASE_URL=_through(self.db_url, self._pg.port),
            CARDSYNC_AMQP_URL=_through(self.amqp_url, self._amqp.port),
            CARDSYNC_AMQP_PREFIX=self.prefix,
            CARDSYNC_GRAPH_URL=self.sim.graph_url,
            CARDSYNC_AUTHORITY_URL=self.sim.authority_url,
            CARDSYNC_CA_FILE=str(self.sim.ca_file),
            CARDSYNC_SMTP_HOST=self.sink.host,
            CARDSYNC_SMTP_PORT=str(self.sink.port),
            CARDSYNC_API_PORT=str(api_port),
            CARDSYNC_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
            CARDSYNC_OPERATOR_TOKEN=OPERATOR_TOKEN,
            CARDSYNC_SECRET_KEY="chaos-secret-key-for-client-secrets",
            CARDSYNC_SCHEDULER_INTERVAL="1",
        )
        self.stack = Stack(env=env, log_dir=self.log_dir)
        # In a thread: the services close their connections through the proxies, which serve on this loop.
        exits.push_async_callback(asyncio.to_thread, self.stack.stop)
        for service in SERVICES:
            self.stack.start(service)
        await self.stack.wait_healthy(timeout=60)
        http = aiohttp.ClientSession(
            base_url=self.stack.api.removesuffix("api/v1").rstrip("/") + "/",
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        )
        exits.push_async_callback(http.close)
        groups = tuple(g["displayName"] for g in self.tenant.groups.values())
        # The soak's first sync (10,000 people) is more than the addition guard lets through unapproved.
        guard = {"max_count": max(self.plan.users * 2, 2000), "max_percent": 100}
        self.team = await connect_team(http, self.tenant, groups=groups, addition_guard=guard)

    # The session
    async def first_sync(self) -> None:
        """The first run, every user invited: the state each fault starts from."""
        began = time.monotonic()
        record = self.results.first = Round("first sync")
        await self._converge(await self._start(), record)
        self.results.first_sync = time.monotonic() - began
        await self._settle(time.monotonic(), record)

    async def session(self) -> Results:
        await self.first_sync()
        for kind in self.plan.faults():
            await self.fault_round(kind)
        return self.results

    async def fault_round(self, kind: str) -> Round:
        """Churn, a run, the fault at a random point of it, the run finished, the invariants checked."""
        record = Round(kind)
        self.results.rounds.append(record)
        round_began = time.monotonic()
        joiners = self.plan.smtp_joiners if kind == "smtp" else None
        self.churn(joiners)
        if kind.startswith("kill") or kind in ("postgres", "rabbitmq", "token-expiry"):
            self.sim.expire_delta_tokens(self.tenant.tenant_id)  # a full read: a longer run to strike in
        run_id = await self._start()
        record.phase = await self._strike_point(run_id, STRIKE_PHASES.get(kind, ALL_PHASES))
        ended = await self._inject(kind)
        await self._converge(run_id, record)
        await self._settle(ended, record)
        record.seconds = time.monotonic() - round_began
        return record

    # Churn
    def churn(self, joiners: int | None = None) -> None:
        """Some title changes and leavers, and joiners (``joiners`` of them, else as many as leave)."""
        share = max(1, int(self.plan.users * self.plan.churn))
        in_scope = sorted(self.expected())
        picked = self.rng.sample(in_scope, 2 * share)
        for uid in picked[:share]:
            title = f"{self.tenant.users[uid].get('jobTitle') or 'Staff'} II"
            self.tenant.update_user(uid, jobTitle=title)
            self._retitled[uid] = title
        for uid in picked[share:]:
            self.tenant.delete_user(uid)
        homes = sorted(
            g for g, ids in self.tenant.members.items() if any(i in self.tenant.users for i in ids)
        )
        for n in range(share if joiners is None else joiners):
            uid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            upn = f"joiner.{uid[:8]}@{self.tenant.domain}"
            self.tenant.add_user(
                id=uid,
                displayName=f"Joiner {n}",
                givenName="Joiner",
                surname=str(n),
                userPrincipalName=upn,
                mail=upn,
                jobTitle="New Starter",
                businessPhones=[],
                accountEnabled=True,
            )
            self.tenant.add_member(self.rng.choice(homes), uid)

    def expected(self) -> set[str]:
        """The synced groups' enabled users: what the team must hold."""
        users = self.tenant.users
        everyone = set().union(*(self.tenant.transitive_member_ids(g) for g in self.tenant.groups))
        return {u for u in everyone if u in users and users[u].get("accountEnabled", True) is not False}

    # Faults
    async def _inject(self, kind: str) -> float:
        """Inject the fault; return when it ended (monotonic)."""
        if kind.startswith("kill:"):
            service = kind.removeprefix("kill:")
            self.stack.kill(service)
            self.stack.start(service)
            ended = time.monotonic()
            await self.stack.wait_healthy(timeout=self.plan.bound)
            return ended
        if kind == "postgres" and self.plan.pg_restart:
            await asyncio.to_thread(_restart_postgres)
            return time.monotonic()
        if kind in ("postgres", "rabbitmq"):
            proxy = self._pg if kind == "postgres" else self._amqp
            await proxy.cut()
            await asyncio.sleep(self.plan.outage_seconds)
            await proxy.start()
            return time.monotonic()
        if kind == "smtp":
            self.sink.refuse(self.plan.smtp_seconds)
            await asyncio.sleep(self.plan.smtp_seconds)
            return time.monotonic()
        if kind == "graph-503":
            self.sim.throttle(self.tenant.tenant_id, times=self.plan.storm_answers, retry_after=1, status=503)
            return time.monotonic()
        if kind == "token-expiry":
            self.sim.expire_tokens(self.tenant.tenant_id)
            return time.monotonic()
        raise ValueError(f"no such fault: {kind}")

    # Runs
    async def _start(self) -> str:
        return (await self.team.start())["id"]

    async def _phase(self, run_id: str) -> str:
        row = await self.db.fetchrow(
            "SELECT status, progress->>'phase' AS phase FROM sync_runs WHERE id = $1", run_id
        )
        return row["status"] if row["status"] in ENDED else row["phase"] or row["status"]

    async def _strike_point(self, run_id: str, phases: tuple[str, ...]) -> str:
        """Wait for a random point of the run: one of ``phases`` reached, then up to half a second more; the
        phase the run is in then (or how it ended, if it ended first)."""
        target = self.rng.choice(phases)
        order = (*ALL_PHASES, *ENDED)
        while (phase := await self._phase(run_id)) not in ENDED and order.index(phase) < order.index(target):
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.rng.uniform(0, 0.5))
        return await self._phase(run_id)

    async def _converge(self, run_id: str, record: Round) -> str:
        """Wait for the run to end; a failed run is counted and followed by another, up to three."""
        for _attempt in range(3):
            record.runs += 1
            status, reason = await self._ended(run_id)
            if status == "succeeded":
                return run_id
            if status == "held":
                record.problems.append(f"run {run_id} held its removals")
                return run_id
            record.failed_runs += 1
            record.problems.append(f"run {run_id} ended {status}: {reason}")
            if status != "failed":
                return run_id
            run_id = await self._start()
        return run_id

    async def _ended(self, run_id: str) -> tuple[str, str]:
        deadline = time.monotonic() + self.plan.bound
        while time.monotonic() < deadline:
            row = await self.db.fetchrow("SELECT status, error FROM sync_runs WHERE id = $1", run_id)
            if row["status"] in ENDED:
                return row["status"], row["error"] or ""
            await asyncio.sleep(0.1)
        return "stuck", f"still active after {self.plan.bound:.0f} s"

    async def _settle(self, since: float, record: Round) -> None:
        """Wait until every current member's invite is sent (or the bound passes); then check the
        invariants."""
        deadline = since + self.plan.bound
        while time.monotonic() < deadline:
            if not await self._invites_outstanding():
                break
            await asyncio.sleep(0.5)
        record.recovery = time.monotonic() - since
        await self.check(record)

    async def _invites_outstanding(self) -> int:
        """Current members whose invite is not marked sent yet (the check then counts them in the sink)."""
        return await self.db.fetchval(
            "SELECT count(*) FROM members m LEFT JOIN sent_emails s ON s.key = 'invite:' || m.id"
            " WHERE m.team_id = $1 AND m.managed AND m.status <> 'removed'"
            " AND s.state IS DISTINCT FROM 'sent'",
            self.team.id,
        )

    # Invariants
    async def _current_members(self) -> list[asyncpg.Record]:
        return await self.db.fetch(
            "SELECT m.id, m.directory_id, lower(coalesce(s.recipient, '')) AS recipient"
            " FROM members m LEFT JOIN sent_emails s ON s.key = 'invite:' || m.id"
            " WHERE m.team_id = $1 AND m.managed AND m.status <> 'removed'",
            self.team.id,
        )

    async def check(self, record: Round) -> None:
        problems = record.problems
        members = await self._current_members()
        held = await self.db.fetchval(
            "SELECT count(*) FROM sync_runs WHERE team_id = $1 AND status = 'held'", self.team.id
        )
        team_ids = [m["directory_id"] for m in members]
        expected = self.expected()
        missing, extra = expected - set(team_ids), set(team_ids) - expected
        if (lost := self._new("missing", len(missing))) or (extra and not held):
            problems.append(f"team is not the directory: {len(missing)} missing, {len(extra)} extra")
        record.lost += lost
        cards = await self.db.fetch(
            "SELECT directory_id, card_job_title FROM members"
            " WHERE team_id = $1 AND managed AND status <> 'removed' AND directory_id = ANY($2::text[])",
            self.team.id,
            list(self._retitled),
        )
        stale = [c for c in cards if c["card_job_title"] != self._retitled[c["directory_id"]]]
        if lost := self._new("stale", len(stale)):
            problems.append(f"{len(stale)} card(s) without their new title")
        record.lost += lost

        duplicates = {
            "member": await self.db.fetchval(
                "SELECT count(*) FROM (SELECT directory_id FROM members WHERE team_id = $1"
                " AND directory_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d",
                self.team.id,
            ),
            "account": await self.db.fetchval(
                "SELECT count(*) FROM (SELECT email_key FROM accounts GROUP BY 1 HAVING count(*) > 1) d"
            ),
            "link": await self.db.fetchval(
                "SELECT count(*) FROM (SELECT l.member_id, l.type, lower(l.value) FROM links l"
                " JOIN members m ON m.id = l.member_id WHERE m.team_id = $1 GROUP BY 1, 2, 3"
                " HAVING count(*) > 1) d",
                self.team.id,
            ),
            "subteam place": await self.db.fetchval(
                "SELECT count(*) FROM (SELECT subteam_id, member_id FROM subteam_members"
                " GROUP BY 1, 2 HAVING count(*) > 1) d"
            ),
        }
        for what, count in duplicates.items():
            if new := self._new(f"duplicate {what}", count):
                problems.append(f"{new} duplicate {what}(s)")
                record.duplicates += new

        arrived = self.sink.counts()
        not_invited = [m for m in members if arrived[m["recipient"]] == 0]
        if lost := self._new("not invited", len(not_invited)):
            problems.append(f"{lost} member(s) never got their invite")
        record.lost += lost
        if doubled := self._new("doubled", sum(n - 1 for n in arrived.values() if n > 1)):
            record.doubled += doubled
            # SIGKILL between the server's "250 OK" and the sent-log's mark: the one window the notifier
            # documents, which SMTP gives no way to close. Anywhere else a second email is a fault.
            (record.notes if record.kind == "kill:notifier" else problems).append(
                f"{doubled} invite(s) sent twice"
            )

        active = await self.db.fetch(
            "SELECT id, status, extract(epoch FROM now() - created_at) AS age FROM sync_runs"
            " WHERE team_id = $1 AND status NOT IN ('succeeded', 'failed', 'held')",
            self.team.id,
        )
        for run in active:
            problems.append(f"run {run['id']} still {run['status']} after {run['age']:.0f} s")

        for queue in DEAD_LETTER_QUEUES:
            depth = await self._bus.queue_depth(f"{queue}.dead") or 0
            if new := self._new(f"dead {queue}", depth):
                problems.append(f"{new} message(s) in {self.prefix}.{queue}.dead")
                record.lost += new

    def _new(self, what: str, total: int) -> int:
        """How much of ``total`` (a count the checks find again while it lasts) appeared since the last
        check: the table counts each lost message, doubled email and duplicate once."""
        new = max(0, total - self._counted[what])
        self._counted[what] = total
        return new


def _host_port(url: str, default: int) -> tuple[str, int]:
    from urllib.parse import urlsplit

    where = urlsplit(url)
    return where.hostname or "127.0.0.1", where.port or default


def _through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    from urllib.parse import urlsplit, urlunsplit

    where = urlsplit(url)
    user = f"{where.username}{':' + where.password if where.password else ''}@" if where.username else ""
    return urlunsplit(where._replace(netloc=f"{user}127.0.0.1:{port}"))


def _restart_postgres() -> None:
    """Restart this machine's PostgreSQL cluster (the first one ``pg_lsclusters`` lists)."""
    version, cluster = subprocess.run(
        ["pg_lsclusters", "--no-header"], check=True, capture_output=True, text=True
    ).stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, cluster, "restart"], check=True, timeout=120)


def pg_restart_works() -> bool:
    """Whether this machine lets the harness restart PostgreSQL (a cluster ``pg_ctlcluster`` manages)."""
    try:
        listed = subprocess.run(
            ["pg_lsclusters", "--no-header"], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "online" in listed.stdout
