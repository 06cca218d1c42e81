"""Builds the named services on one set of connections and runs them until a signal."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from shared import db
from shared.runtime import (
    Infra,
    Service,
    StartupError,
    Unreachable,
    check_settings,
    open_infra,
    run_until_signalled,
)
from shared.settings import Settings


async def open_checked(settings: Settings) -> Infra:
    """Open the connections, turning the usual start-up failures into one clear sentence."""
    try:
        return await open_infra(settings)
    except db.NotMigrated as exc:
        raise StartupError(str(exc)) from exc
    except asyncpg.InvalidCatalogNameError as exc:
        raise StartupError(f"the database does not exist: run `cardsync migrate` first ({exc})") from exc
    except Unreachable as exc:
        raise StartupError(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise StartupError(f"PostgreSQL refused the connection: {exc}") from exc


def build(infra: Infra, names: Sequence[str], standalone: bool) -> list[Service]:
    return [
        importlib.import_module(f"services.{name}.bootstrap").bootstrap(infra, standalone=standalone)
        for name in names
    ]


async def run(
    settings: Settings,
    names: Sequence[str],
    standalone: bool,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    check_settings(settings, names)
    infra = await open_checked(settings)
    try:
        await run_until_signalled(build(infra, names, standalone), on_started, infra)
    finally:
        await asyncio.shield(infra.close())
