"""Invites through a local SMTP server: how many emails a second the notifier sends, and that none goes twice.

    python -m bench.invites [--count 10000] [--batch 500] [--connections 8] [--prefetch 128] [--direct]
                            [--replicas 1] [--duplicates 1]

Seeds a throwaway database with one team of ``count`` members whose invites are queued, starts an SMTP sink
(``bench._common.SmtpSink``) in a process of its own, and sends every invite through the notifier: by default
as InvitesRequested messages of ``--batch`` members on RabbitMQ (``--batch 1``: an InviteRequested a member),
with ``--direct`` by calling the handler. ``--replicas`` runs that many notifiers (a
pool, SMTP connections and, on RabbitMQ, a bus connection each) and ``--duplicates`` hands them every message
that many times, as redeliveries would. Prints a table; exits 1 if an invite was sent twice, not at all, or is
not marked sent.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from collections import Counter

import aio_pika
import asyncpg

from bench._common import serve_smtp
from services.notifier.bootstrap import handler_map
from services.notifier.handlers import Notifier
from services.notifier.smtp import SmtpTransport
from shared import db
from shared.bus import Bus
from shared.messages import INVITE_BATCH, InviteRequested, InvitesRequested, Message
from shared.settings import Settings
from shared.worker import dispatch


def sink_process(conn) -> None:
    """The SMTP server: counts recipients; reports its port, then the counts when asked."""
    counts: Counter[str] = Counter()

    async def main() -> None:
        server = await serve_smtp(counts.update)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        conn.send((dict(counts), time.process_time()))

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


async def seed(pool: asyncpg.Pool, count: int) -> tuple[str, list[str]]:
    team = await pool.fetchval("INSERT INTO teams (name, token_hash) VALUES ('Bench', 'bench') RETURNING id")
    await pool.execute(
        """
        WITH a AS (INSERT INTO accounts (email, name)
                   SELECT 'user' || g || '@bench.example', 'User ' || g FROM generate_series(1, $2) g
                   RETURNING id, name),
             m AS (INSERT INTO members (team_id, account_id, managed, status, card_name, card_job_title,
                 card_company)
                   SELECT $1, a.id, true, 'invited', a.name, 'Engineer', 'Bench Inc' FROM a RETURNING id)
        INSERT INTO invites (member_id, status) SELECT id, 'queued' FROM m
        """,
        team,
        count,
    )
    members = [str(r[0]) for r in await pool.fetch("SELECT member_id FROM invites")]
    return str(team), members


async def run(args: argparse.Namespace) -> int:
    base = os.environ.get("CARDSYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = base.rsplit("/", 1)[0] + f"/cardsync_bench_{os.getpid()}"
    parent, child = multiprocessing.Pipe()
    sink = multiprocessing.get_context("spawn").Process(target=sink_process, args=(child,), daemon=True)
    sink.start()
    port = parent.recv()
    await db.migrate(url)
    settings = Settings(database_url=url, smtp_port=port, amqp_prefix=f"bench-{os.getpid()}", _env_file=None)
    replicas = [await Replica.start(settings, args) for _ in range(args.replicas)]
    pool = replicas[0].pool
    try:
        team, members = await seed(pool, args.count)
        messages: list[Message] = [
            InvitesRequested(team_id=team, member_ids=members[i : i + args.batch])
            if args.batch > 1
            else InviteRequested(team_id=team, member_id=members[i])
            for i in range(0, len(members), args.batch)
            for _ in range(args.duplicates)
        ]
        started, cpu = time.perf_counter(), time.process_time()
        if args.direct:
            await send_direct(replicas, messages, args.prefetch)
        else:
            await send_through_bus(replicas, messages)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        parent.send("counts")
        received, sink_cpu = parent.recv()
        counts: Counter[str] = Counter(received)
        marked = await pool.fetchval("SELECT count(*) FROM invites WHERE status = 'sent'")
        logged = await pool.fetchval("SELECT count(*) FROM sent_emails WHERE state = 'sent'")
    finally:
        for replica in replicas:
            await replica.close()
        await delete_topology(settings)
        admin = await asyncpg.connect(base)
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()
        sink.join(timeout=5)
    twice = sum(1 for n in counts.values() if n > 1)
    missing = args.count - len(counts)
    path = "direct" if args.direct else "RabbitMQ"
    print(
        f"{'invites':<22}{args.count:>10}\n{'path':<22}{path:>10}\n{'replicas':<22}{args.replicas:>10}"
        f"\n{'invites a message':<22}{args.batch:>10}\n{'copies of a message':<22}{args.duplicates:>10}"
        f"\n{'SMTP connections':<22}{args.connections:>10}"
        f"\n{'concurrency':<22}{args.prefetch:>10}\n{'seconds':<22}{elapsed:>10.2f}"
        f"\n{'emails/s':<22}{sum(counts.values()) / elapsed:>10.0f}"
        f"\n{'notifier CPU ms/email':<22}{cpu * 1000 / args.count:>10.2f}"
        f"\n{'SMTP sink CPU ms/email':<22}{sink_cpu * 1000 / args.count:>10.2f}"
        f"\n{'sent twice':<22}{twice:>10}\n{'not sent':<22}{missing:>10}"
        f"\n{'marked sent':<22}{marked:>10}\n{'sent-log rows sent':<22}{logged:>10}"
    )
    return 0 if twice == 0 and missing == 0 and marked == logged == args.count else 1


class Replica:
    """One notifier as one process would have it: its pool, SMTP connections, bus connection and holder id."""

    def __init__(self, pool: asyncpg.Pool, transport: SmtpTransport, bus: Bus, notifier: Notifier):
        self.pool, self.transport, self.bus, self.notifier = pool, transport, bus, notifier
        self.handled = 0

    @classmethod
    async def start(cls, settings: Settings, args: argparse.Namespace) -> Replica:
        pool = await db.create_pool(settings.database_url, size=args.pool)
        transport = SmtpTransport(settings, connections=args.connections)
        bus = Bus(settings.amqp_url, prefix=settings.amqp_prefix, prefetch=args.prefetch)
        return cls(pool, transport, bus, Notifier(pool, settings, transport))

    async def handle(self, message: Message) -> None:
        await dispatch(handler_map(self.notifier), message)
        self.handled += 1

    async def close(self) -> None:
        await self.transport.close()
        await self.bus.close()
        await self.pool.close()


async def send_direct(replicas: list[Replica], messages: list[Message], concurrency: int) -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker(replica: Replica) -> None:
        while not queue.empty():
            await replica.handle(queue.get_nowait())

    await asyncio.gather(*(worker(r) for r in replicas for _ in range(concurrency)))


async def send_through_bus(replicas: list[Replica], messages: list[Message]) -> None:
    for replica in replicas:
        await replica.bus.connect()
        await replica.bus.consume("notifier", handler_map(replica.notifier), replica.handle)
    for i in range(0, len(messages), 1000):
        await replicas[0].bus.publish(*messages[i : i + 1000])
    async with asyncio.timeout(600):
        while sum(r.handled for r in replicas) < len(messages):
            await asyncio.sleep(0.2)


async def delete_topology(settings: Settings) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in (f"{settings.amqp_prefix}.notifier{suffix}" for suffix in ("", ".retry", ".dead")):
            await channel.queue_delete(queue)
        for exchange in (settings.amqp_prefix, f"{settings.amqp_prefix}.dead"):
            await channel.exchange_delete(exchange)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=INVITE_BATCH, help="invites a message")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections")
    parser.add_argument("--prefetch", type=int, default=128, help="messages handled at once")
    parser.add_argument("--pool", type=int, default=10, help="database connections")
    parser.add_argument(
        "--direct", action="store_true", help="call the handler instead of going through RabbitMQ"
    )
    parser.add_argument("--replicas", type=int, default=1, help="notifiers sharing the work")
    parser.add_argument("--duplicates", type=int, default=1, help="copies of each message")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(args))
    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
