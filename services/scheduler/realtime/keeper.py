"""Keeping each team's subscriptions as its configuration wants them: create, renew, delete at Graph.

A team is looked at when its configuration or its directory connection changes (database triggers set its
check time), when Graph asks (a lifecycle notification), before a subscription expires, and every few hours
anyway. Each look compares what the team should hold with what it holds and acts on the difference, so a look
repeated or cut short is harmless. Several schedulers share the teams: each claims the ones it looks at.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from services.scheduler.realtime import subscription_plan as plan
from services.scheduler.realtime import subscription_records as store
from services.scheduler.realtime import subscriptions
from services.scheduler.realtime.address import Endpoints, Unreachable, endpoints
from shared.config import SyncConfig
from shared.crypto import UndecryptableSecret
from shared.graph.client import GraphClient
from shared.graph.connection import credentials_for
from shared.graph.errors import GraphAuthError, GraphError
from shared.settings import Settings

log = logging.getLogger(__name__)
BATCH = 20
RETRY = timedelta(minutes=5)  # after a failure


async def keep_due_teams(pool: asyncpg.Pool, graph: GraphClient, settings: Settings, now: datetime) -> int:
    """Look at every team due at ``now``; how many were looked at."""
    done = 0
    while claimed := await store.claim_due(pool, now, BATCH):
        for team_id, lease in claimed:
            await keep_team(pool, graph, settings, team_id, lease, now)
        done += len(claimed)
        if len(claimed) < BATCH:
            break
    return done


async def keep_team(
    pool: asyncpg.Pool, graph: GraphClient, settings: Settings, team_id: UUID, lease: datetime, now: datetime
) -> None:
    team = await store.team_state(pool, team_id)
    config = _config(team.config)
    urls = endpoints(settings)
    connection = team.connection
    app = (connection["tenant_id"], connection["client_id"]) if connection else None
    want = plan.wanted(config, connection is not None, isinstance(urls, Endpoints))
    todo = plan.plan(want, team.held, app, now)
    problems: list[str] = []
    for sub in todo.forget:
        await store.forget(pool, sub.graph_id)
    for sub in todo.retire:
        await _retire(pool, graph, settings, team.retired[sub.graph_id], problems)
    expiries: list[datetime] = []
    if todo.delete or todo.renew or todo.create:
        assert connection is not None and app is not None and isinstance(urls, Endpoints)
        try:
            tenant = graph.for_tenant(credentials_for(settings, connection))
        except (GraphAuthError, UndecryptableSecret) as exc:
            problems.append(_reason(exc))
        else:
            for sub in todo.delete:
                await _attempt(problems, _delete(pool, tenant, sub))
            for sub in todo.renew:
                await _attempt(problems, _renew(pool, tenant, team_id, sub, app, urls, now, expiries))
            for resource in todo.create:
                await _attempt(problems, _create(pool, tenant, team_id, resource, app, urls, now, expiries))
    kept = {s.graph_id for s in todo.renew}
    expiries += [s.expires_at for s in team.held if s.resource in want and s.graph_id not in kept]
    state, reason = _state(config, connection, urls, want, problems)
    next_at = now + RETRY if problems else plan.next_check(expiries, now)
    await store.checked(pool, team_id, lease, state, reason, next_at, now)
    if problems:
        log.warning("near-real-time sync of team %s: %s", team_id, "; ".join(problems))


def _config(saved: Mapping[str, Any] | None) -> SyncConfig | None:
    try:
        return SyncConfig.model_validate(saved) if saved is not None else None
    except ValidationError:
        return None


async def _attempt(problems: list[str], step: Any) -> None:
    try:
        await step
    except GraphError as exc:
        problems.append(exc.reason)


async def _delete(pool: asyncpg.Pool, graph: Any, sub: plan.Held) -> None:
    await subscriptions.delete(graph, sub.graph_id, sub.resource)
    await store.forget(pool, sub.graph_id)


async def _renew(
    pool: asyncpg.Pool,
    graph: Any,
    team_id: UUID,
    sub: plan.Held,
    app: tuple[str, str],
    urls: Endpoints,
    now: datetime,
    expiries: list[datetime],
) -> None:
    try:
        expires = await subscriptions.renew(graph, sub.graph_id, sub.resource, now + plan.LIFETIME)
    except subscriptions.SubscriptionGone:
        await store.forget(pool, sub.graph_id)
        await _create(pool, graph, team_id, sub.resource, app, urls, now, expiries)
        return
    await store.renewed(pool, sub.graph_id, expires)
    expiries.append(expires)


async def _create(
    pool: asyncpg.Pool,
    graph: Any,
    team_id: UUID,
    resource: str,
    app: tuple[str, str],
    urls: Endpoints,
    now: datetime,
    expiries: list[datetime],
) -> None:
    client_state = secrets.token_urlsafe(32)  # 43 characters; Graph takes at most 128
    graph_id, expires = await subscriptions.create(graph, resource, urls, client_state, now + plan.LIFETIME)
    await store.add(pool, team_id, resource, graph_id, app, client_state, expires)
    expiries.append(expires)
    log.info("team %s: subscribed to changes of %s until %s", team_id, resource, expires)


async def _retire(
    pool: asyncpg.Pool, graph: GraphClient, settings: Settings, row: asyncpg.Record, problems: list[str]
) -> None:
    """Delete at Graph a subscription made with a connection since removed or replaced, with what it kept of
    that connection. When those credentials give no token any more, nothing can delete it: it lapses."""
    kept = {
        "kind": row["retired_kind"],
        "tenant_id": row["tenant_id"],
        "client_id": row["client_id"],
        "secret_encrypted": row["retired_secret"],
    }
    try:
        await subscriptions.delete(
            graph.for_tenant(credentials_for(settings, kept)), row["graph_id"], row["resource"]
        )
    except (GraphAuthError, UndecryptableSecret) as exc:
        log.info("subscription %s is left to expire at Graph: %s", row["graph_id"], _reason(exc))
    except GraphError as exc:
        problems.append(exc.reason)
        return
    await store.forget(pool, row["graph_id"])


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, GraphError) else str(exc)


def _state(
    config: SyncConfig | None,
    connection: Any,
    urls: Endpoints | Unreachable,
    want: frozenset[str],
    problems: list[str],
) -> tuple[str, str | None]:
    if want:
        return ("failed", "; ".join(problems)) if problems else ("on", None)
    if config is None or not config.realtime:
        return "off", "near-real-time sync is off in the sync configuration"
    if isinstance(urls, Unreachable):
        return "off", urls.reason
    if connection is None:
        return "off", "no directory is connected"
    return "off", "no groups are synced"
