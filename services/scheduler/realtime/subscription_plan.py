"""Which subscriptions a team should have, and what to do about the ones it has: a pure decision, level-based.

A team with near-real-time on, a directory and synced groups watches two resources of its tenant: ``users``
(a changed, disabled, restored or deleted user) and ``groups`` (a group's members, its name, its deletion).
Graph also offers ``groups/{id}/members`` for one group, but that tells nothing of the groups nested in it,
whose members are the synced group's too, and each subscription counts against Graph's 100 per app and tenant;
one ``groups`` subscription covers every nested group whatever the number of synced groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.config import SyncConfig

USERS, GROUPS = "users", "groups"
# Users and groups notify of `updated` (creation and soft deletion included) and `deleted` (for good) only.
CHANGE_TYPES = "updated,deleted"
MAX_LIFETIME = timedelta(minutes=41760)  # Graph's limit for users and groups: under 29 days
LIFETIME = MAX_LIFETIME - timedelta(hours=1)  # asked for: our clock may run ahead of Graph's
RENEW_BEFORE = timedelta(days=3)  # a scheduler down for a weekend still renews in time
RECHECK = timedelta(hours=6)  # looked at again though nothing asked for it
SOONEST = timedelta(minutes=1)


@dataclass(frozen=True)
class Held:
    """A subscription on record."""

    graph_id: str
    resource: str
    tenant_id: str
    client_id: str
    expires_at: datetime
    reauthorize: bool = False
    retired: bool = False  # the app that made it is no longer the team's connection


@dataclass(frozen=True)
class Plan:
    create: list[str] = field(default_factory=list)  # resources
    renew: list[Held] = field(default_factory=list)
    delete: list[Held] = field(default_factory=list)  # with the team's connection
    retire: list[Held] = field(default_factory=list)  # with the credentials they keep
    forget: list[Held] = field(default_factory=list)  # the record only: gone at Graph, or out of reach


def wanted(config: SyncConfig | None, connected: bool, reachable: bool) -> frozenset[str]:
    if config is None or not (config.realtime and connected and config.groups and reachable):
        return frozenset()
    return frozenset({USERS, GROUPS})


def plan(want: Iterable[str], held: Iterable[Held], app: tuple[str, str] | None, now: datetime) -> Plan:
    """What to do so that the team holds one live subscription of each wanted resource, made with ``app``
    (tenant id, client id), renewed before it expires or when Graph asks for it, and nothing else."""
    result = Plan()
    kept: dict[str, Held] = {}
    for sub in sorted(held, key=lambda h: h.expires_at, reverse=True):
        if sub.expires_at <= now:
            result.forget.append(sub)
        elif sub.retired:
            result.retire.append(sub)
        elif (sub.tenant_id, sub.client_id) != app:  # nothing here can delete it: it lapses at Graph
            result.forget.append(sub)
        elif sub.resource not in want or sub.resource in kept:
            result.delete.append(sub)
        else:
            kept[sub.resource] = sub
            if sub.reauthorize or sub.expires_at - now <= RENEW_BEFORE:
                result.renew.append(sub)
    result.create.extend(sorted(set(want) - kept.keys()))
    return result


def next_check(expiries: Iterable[datetime], now: datetime) -> datetime:
    """When to look again: in time to renew the first to expire, and at least every RECHECK."""
    return max(now + SOONEST, min([now + RECHECK, *(e - RENEW_BEFORE for e in expiries)]))
