"""The `cardsync` command: one service per process, all four in one, migrations, key rotation, and the demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from pydantic import ValidationError

from shared import logs
from shared.runtime import StartupError
from shared.settings import Settings

SERVICES = ("scheduler", "fetcher", "reconciler", "notifier")
GC_THRESHOLD = 50_000  # allocations between the young generation's collections (Python's default: 700)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardsync", description="Directory sync from Microsoft Entra ID.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SERVICES:
        sub.add_parser(name, help=f"run the {name} service")
    sub.add_parser("all", help="run the four services in one process")
    sub.add_parser("migrate", help="create the database if needed and apply the migrations")
    sub.add_parser("rotate-secrets", help="re-encrypt the stored client secrets under the newest secret key")
    demo = sub.add_parser("demo", help="a simulated tenant, all services, one real sync")
    demo.add_argument("--once", action="store_true", help="exit after the summary instead of serving the API")
    demo.add_argument("--users", type=int, default=300, help="users in the simulated tenant")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"cardsync: {_settings_errors(exc)}", file=sys.stderr)
        return 2
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
    except StartupError as exc:
        print(f"cardsync: {exc}", file=sys.stderr)
        return 2


def _settings_errors(exc: ValidationError) -> str:
    """One line naming each bad variable, without echoing its value (it may be a secret)."""
    bad = [f"CARDSYNC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
    return "invalid settings: " + "; ".join(bad)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from services import launcher

    if args.command == "migrate":
        from shared import db

        applied = await db.migrate(settings.database_url)
        print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
        return 0
    if args.command == "rotate-secrets":
        from services import rotate_secrets

        return await rotate_secrets.run(settings)
    if args.command == "demo":
        from services import demo
        from shared import db

        await db.migrate(settings.database_url)
        return await demo.run(settings, once=args.once, users=args.users)
    names = SERVICES if args.command == "all" else (args.command,)
    await launcher.run(settings, names, standalone=args.command != "all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
