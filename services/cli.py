"""The `cardsync` command: one service per process, all four in one, migrations, key rotation, and the
demo."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import os
import socket
import sys
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from urllib.parse import urlsplit

import asyncpg
from pydantic import ValidationError

from shared import logs
from shared.runtime import StartupError, Unreachable
from shared.settings import Settings
from shared.topology import CONSUMERS

SERVICES = ("scheduler", "fetcher", "reconciler", "notifier")
GC_THRESHOLD = 50_000  # allocations between the young generation's collections (Python's default: 700)
# Exit codes: argparse already exits with 2 on a usage error.
FAILED, USAGE, SETTINGS, UNREACHABLE = 1, 2, 3, 4
EXIT_CODES = (
    "Exit status: 0 done, 1 failed, 2 usage error, 3 invalid or missing settings,"
    " 4 PostgreSQL or RabbitMQ unreachable"
)
# What the demo needs beyond the services: the extra `cardsync[sim]` brings them.
SIMULATOR_MODULES = frozenset({"simulator", "trustme", "aiosmtpd"})
# Binding a port fails with these; any other failure to connect means the other side did not answer.
BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
HEALTH_TIMEOUT = 5.0


def _version() -> str:
    try:
        return metadata.version("cardsync")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    # --debug is accepted before or after the command; SUPPRESS keeps a subcommand from resetting it (the
    # parsers share the action, so no parser may set a default for it).
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of a failure"
    )
    parser = argparse.ArgumentParser(
        prog="cardsync",
        description="Keeps digital business card teams in step with Microsoft Entra ID.",
        epilog="Settings come from CARDSYNC_* environment variables and an optional .env file. "
        f"{EXIT_CODES}.",
        parents=[debug],
    )
    parser.add_argument("--version", action="version", version=f"cardsync {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, detail: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=detail, epilog=f"{EXIT_CODES}.", parents=[debug]
        )

    for name, detail in (
        ("scheduler", "the control API, the cadence loop and the outbox relay (health on the API port)"),
        ("fetcher", "reads the directory from Microsoft Graph (health on CARDSYNC_HEALTH_PORT, else 8081)"),
        ("reconciler", "plans and applies each run (health on CARDSYNC_HEALTH_PORT, else 8082)"),
        ("notifier", "sends invites and admin digests over SMTP (health on CARDSYNC_HEALTH_PORT, else 8083)"),
    ):
        command(name, f"run the {name} service", f"Run the {name} service until SIGTERM or Ctrl-C: {detail}.")
    command(
        "all",
        "run the four services in one process",
        "Run the scheduler, fetcher, reconciler and notifier in one process, for small installations.",
    )
    migrate = command(
        "migrate",
        "create the database if needed and apply the migrations",
        "Create the database of CARDSYNC_DATABASE_URL if it does not exist and apply each pending migration;"
        " refuses when a migration applied before has changed since.",
    )
    migrate.add_argument(
        "--status",
        action="store_true",
        help="list the migrations, applied, pending or changed since applied, and change nothing"
        " (exit status 1 when any is pending or changed)",
    )
    command(
        "rotate-secrets",
        "re-encrypt the stored client secrets under the newest secret key",
        "Re-encrypt every stored client secret under the first key of CARDSYNC_SECRET_KEYS.",
    )
    command(
        "healthcheck",
        "exit 0 when the service on this host answers /healthz",
        "Ask /healthz of the service running here, on the API port and then on each worker's health port"
        " (for a container's HEALTHCHECK); exit 0 when the first port that answers says healthy.",
    )
    dead_letters = command(
        "dead-letters",
        "list, show, replay or purge the messages no service could handle",
        "Work on the dead-letter queues (<prefix>.<queue>.dead) of the fetcher, reconciler and notifier: "
        "list"
        " their messages with the error that put each there, show one, replay messages to their service (once"
        " what failed is mended) or purge them.",
    )
    dead_letters.add_argument(
        "action",
        choices=("list", "show", "replay", "purge"),
        help="list the messages, show one, replay or purge",
    )
    dead_letters.add_argument(
        "ids", nargs="*", metavar="MESSAGE_ID", help="the messages to show, replay or purge"
    )
    dead_letters.add_argument(
        "--queue", choices=CONSUMERS, help="one queue's dead letters (default: every queue's)"
    )
    dead_letters.add_argument(
        "--all", action="store_true", help="replay or purge every message of the queues"
    )
    dead_letters.add_argument(
        "--limit", type=int, default=1000, help="messages read per queue (default 1000)"
    )
    demo = command(
        "demo",
        "a simulated tenant, all services, one real sync",
        "Start a simulated Microsoft tenant, a local mail sink and the four services, make a team, sync it "
        "and"
        " print what happened; needs the extra cardsync[sim].",
    )
    demo.add_argument("--once", action="store_true", help="exit after the summary instead of serving the API")
    demo.add_argument("--users", type=int, default=300, help="users in the simulated tenant (default 300)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(_settings_errors(exc), SETTINGS)
    if args.command == "healthcheck":
        return _healthcheck(settings)
    names = _services(args.command)
    problems = settings.startup_problems(names) or (
        settings.secret_key_problems() if args.command == "rotate-secrets" else []
    )
    if problems:
        return _fail("; ".join(problems), SETTINGS)
    logs.setup(args.command, settings.log_level)
    # A page of 999 users, or a run's plan, allocates objects by the hundred thousand, nearly all of them kept
    # until the page or the run is done: collecting every 700 allocations would trace them again and again.
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        return asyncio.run(_dispatch(args, settings)) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence and an exit status
        debug = getattr(args, "debug", False)
        if debug:
            traceback.print_exc()
        code, sentence = _explain(exc, args.command, settings)
        return _fail(sentence if debug else f"{sentence} (--debug shows the traceback)", code)


def _services(command: str) -> tuple[str, ...]:
    if command == "all":
        return SERVICES
    return (command,) if command in SERVICES else ()


def _fail(sentence: str, code: int) -> int:
    print(f"cardsync: {sentence}", file=sys.stderr)
    return code


def _settings_errors(exc: ValidationError) -> str:
    """One line naming each bad variable, without echoing its value (it may be a secret)."""
    bad = [f"CARDSYNC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
    return "invalid settings: " + "; ".join(bad)


def _explain(exc: BaseException, command: str, settings: Settings) -> tuple[int, str]:
    """The exit status and the one sentence that say why the command failed."""
    if isinstance(exc, ModuleNotFoundError) and exc.name in SIMULATOR_MODULES:
        return FAILED, (
            f"the demo needs the simulator, which this installation lacks ({exc.name}): install the extra"
            " with `pip install 'cardsync[sim]'`, or use the image's demo target"
        )
    refused = next(
        (c for c in _causes(exc) if isinstance(c, asyncpg.InvalidAuthorizationSpecificationError)), None
    )
    if refused is not None:
        return SETTINGS, f"PostgreSQL refused the credentials of CARDSYNC_DATABASE_URL: {refused}"
    if _unreachable(exc):
        if isinstance(exc, StartupError):
            return UNREACHABLE, str(exc)
        where = urlsplit(settings.database_url)
        return UNREACHABLE, (
            f"cannot reach PostgreSQL at {where.hostname}:{where.port or 5432} (CARDSYNC_DATABASE_URL):"
            f" {_reason(exc)}; is it running?"
        )
    if isinstance(exc, StartupError):
        return FAILED, str(exc)
    if isinstance(exc, asyncpg.PostgresError | RuntimeError):  # the project's errors say what to do
        return FAILED, f"{command} failed: {exc}"
    return FAILED, f"{command} failed: {type(exc).__name__}: {exc}"


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__


def _unreachable(exc: BaseException) -> bool:
    """A connection to PostgreSQL or RabbitMQ was not made: refused, timed out, or the host is unknown."""
    for cause in _causes(exc):
        if isinstance(cause, Unreachable | TimeoutError | socket.gaierror):
            return True
        if isinstance(cause, OSError):
            return cause.errno not in BIND_ERRORS
    return False


def _reason(exc: BaseException) -> str:
    *_, first = _causes(exc)
    if isinstance(first, socket.gaierror):
        return str(first.strerror).lower()
    if isinstance(first, OSError) and first.errno:
        return os.strerror(first.errno).lower()
    return str(first) or type(first).__name__


def _healthcheck(settings: Settings) -> int:
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    ports = dict.fromkeys(settings.health_port_for(name) for name in SERVICES)  # in order, each once
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=HEALTH_TIMEOUT) as resp:
                return 0 if resp.status == 200 else FAILED
        except urllib.error.HTTPError as exc:  # it answered: unhealthy
            return _fail(f"the service on port {port} is unhealthy ({exc.code})", FAILED)
        except OSError:  # nothing listens there: the service may be another one
            continue
    return _fail(f"no service answers /healthz on {host} (ports {', '.join(map(str, ports))})", FAILED)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        return await _migrate(settings, status_only=args.status)
    if args.command == "rotate-secrets":
        from services import rotate_secrets

        return await rotate_secrets.run(settings)
    if args.command == "dead-letters":
        from services import dead_letters

        return await dead_letters.run(settings, args)
    if args.command == "demo":
        from services import demo
        from shared import db

        await db.migrate(settings.database_url)
        return await demo.run(settings, once=args.once, users=args.users)
    from services import launcher

    await launcher.run(settings, _services(args.command), standalone=args.command != "all")
    return 0


async def _migrate(settings: Settings, status_only: bool) -> int:
    from shared import db

    if not status_only:
        applied = await db.migrate(settings.database_url)
        print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
        return 0
    states = await db.migration_status(settings.database_url)
    for state in states:
        print(f"{state.state:8} {state.name}")
    counts = {s: sum(1 for x in states if x.state == s) for s in ("applied", "pending", "changed", "unknown")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no migrations")
    return FAILED if counts["pending"] or counts["changed"] else 0


if __name__ == "__main__":
    sys.exit(main())
