"""Why a run failed, as a cause with a kind: the one place that says which causes pass by themselves (retried
on a schedule) and which need a person (not retried until the configuration or the directory connection
changes), and what an admin reads about each (R17).

A run records its cause (``sync_runs.failure_cause``) beside its reason; the scheduler retries by it, the
notifier words its notice by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from shared.graph.errors import (
    GraphAuthError,
    GraphError,
    GraphForbidden,
    GraphLinkRefused,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
)


class Cause(StrEnum):
    # Causes that need a person.
    SECRET = "secret"  # the client secret is wrong or expired
    CERTIFICATE = "certificate"  # the client certificate expired or is not registered on the app
    APP = "app"  # the app is not in the tenant, or has no consent there (consent revoked)
    TENANT = "tenant"  # the tenant is unknown
    TOKEN = "token"  # Graph refused the app's token
    PERMISSION = "permission"  # an application permission is missing
    CONFIGURATION = "configuration"  # no directory, no groups, a setting Graph cannot serve
    # Causes that pass.
    GRAPH = "graph"  # Graph answered 5xx or could not be reached
    THROTTLED = "throttled"  # Graph throttled past the run's patience
    OUTAGE = "outage"  # the database or the broker was out
    TIMEOUT = "timeout"  # the run stopped moving
    INCOMPLETE = "incomplete"  # the snapshot lacked a group (R9)
    UNKNOWN = "unknown"


NEEDS_A_PERSON = frozenset(
    {
        Cause.SECRET,
        Cause.CERTIFICATE,
        Cause.APP,
        Cause.TENANT,
        Cause.TOKEN,
        Cause.PERMISSION,
        Cause.CONFIGURATION,
    }
)
# R14: a scheduled run failed for a passing cause is queued again after these waits, one after the other;
# after them the team waits for its next cadence period.
RETRY_AFTER = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))


def cause(value: str | None) -> Cause:
    """The cause a run recorded; UNKNOWN for none or one this version does not know."""
    try:
        return Cause(value or Cause.UNKNOWN)
    except ValueError:
        return Cause.UNKNOWN


def needs_a_person(value: str | None) -> bool:
    return cause(value) in NEEDS_A_PERSON


def retry_after(value: str | None, failures: int) -> timedelta | None:
    """R14: how long after the ``failures``-th failure in a row of a scheduled run the next try comes; None
    when it waits for its cadence (the retries are spent) or for a person (nothing would change)."""
    if needs_a_person(value) or not 1 <= failures <= len(RETRY_AFTER):
        return None
    return RETRY_AFTER[failures - 1]


def cause_of(exc: BaseException) -> Cause:
    """The cause of a failure the fetcher met."""
    if isinstance(exc, GraphAuthError):
        return {
            "secret": Cause.SECRET,
            "certificate": Cause.CERTIFICATE,
            "client_id": Cause.APP,
            "tenant_id": Cause.TENANT,
        }.get(exc.credential or "", Cause.TOKEN)
    if isinstance(exc, GraphForbidden):
        return Cause.PERMISSION
    if isinstance(exc, GraphThrottled):
        return Cause.THROTTLED
    if isinstance(exc, GraphUnavailable | GraphLinkRefused):
        return Cause.GRAPH
    if isinstance(exc, GraphNotFound):
        return Cause.CONFIGURATION  # a synced group or path gone: the configuration must change
    if isinstance(exc, GraphError):
        return Cause.GRAPH if (exc.status or 0) >= 500 else Cause.UNKNOWN
    return Cause.UNKNOWN


@dataclass(frozen=True)
class Advice:
    """What an admin reads about a failure: what failed, and what to do."""

    what: str
    todo: str


_ADVICE: dict[Cause, Advice] = {
    Cause.SECRET: Advice(
        "Microsoft's identity platform refused the app's client secret: it is wrong or has expired.",
        "Make a new client secret in the Entra admin center (App registrations, the app, Certificates &"
        " secrets), then save its Value under Directory in CardSync.",
    ),
    Cause.CERTIFICATE: Advice(
        "Microsoft's identity platform refused the app's client certificate: it has expired, or it is not"
        " the one registered on the app.",
        "Upload a new certificate to the app in the Entra admin center (App registrations, the app,"
        " Certificates & secrets), then connect the directory again with it and its private key under"
        " Directory in CardSync.",
    ),
    Cause.APP: Advice(
        "The app is not registered in the tenant, or its admin consent there was revoked.",
        "Check the Application (client) ID under Directory, and have an administrator of the tenant grant"
        " the app admin consent again (Enterprise applications, the app, Permissions).",
    ),
    Cause.TENANT: Advice(
        "Microsoft's identity platform does not know the tenant CardSync is connected to.",
        "Check the Directory (tenant) ID on the app registration's overview page and save it under"
        " Directory.",
    ),
    Cause.TOKEN: Advice(
        "Microsoft Graph refused the app's access token: its consent may have been revoked.",
        "Connect the directory again under Directory (or grant the app admin consent again).",
    ),
    Cause.PERMISSION: Advice(
        "The app is missing an application permission of Microsoft Graph.",
        "In the Entra admin center, add the permission named below to the app (API permissions) and grant"
        " admin consent for the tenant.",
    ),
    Cause.CONFIGURATION: Advice(
        "The team's sync configuration cannot be synced as it is.",
        "Open the sync configuration, fix what the reason below names, and save it.",
    ),
    Cause.GRAPH: Advice(
        "Microsoft Graph was unavailable or answered with an error.",
        "Nothing: CardSync tries again by itself.",
    ),
    Cause.THROTTLED: Advice(
        "Microsoft Graph throttled the sync for longer than a run waits.",
        "Nothing: CardSync tries again by itself.",
    ),
    Cause.OUTAGE: Advice(
        "CardSync's database or message broker was unavailable.",
        "Nothing: CardSync tries again by itself.",
    ),
    Cause.TIMEOUT: Advice(
        "The sync stopped making progress and was ended.",
        "Nothing: CardSync tries again by itself. Should it keep failing, tell the operator.",
    ),
    Cause.INCOMPLETE: Advice(
        "Microsoft Graph gave an incomplete directory, so nobody was removed.",
        "Nothing: CardSync tries again by itself.",
    ),
    Cause.UNKNOWN: Advice(
        "The sync failed.",
        "CardSync tries again by itself; should it keep failing, tell the operator.",
    ),
}


def advice(value: str | None) -> Advice:
    return _ADVICE[cause(value)]


def when_retried(value: str | None, failures: int, trigger: str) -> str:
    """The sentence a notice ends with: when the sync is tried again."""
    if needs_a_person(value):
        return "Scheduled syncs wait until the sync configuration or the directory connection is saved again."
    wait = retry_after(value, failures) if trigger == "schedule" else None
    if wait is None:
        return "The next scheduled sync tries again."
    minutes = int(wait.total_seconds() // 60)
    return (
        f"It is tried again in {minutes // 60} hours."
        if minutes >= 60
        else (f"It is tried again in {minutes} minutes.")
    )
