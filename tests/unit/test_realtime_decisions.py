"""Near-real-time sync decisions: which subscriptions a team should hold, what to do about the ones it holds,
and whether Microsoft Graph could reach the notification address at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.realtime.address import Endpoints, Unreachable, endpoints
from services.scheduler.realtime.notifications import Notification, believed, parse
from services.scheduler.realtime.subscription_plan import (
    GROUPS,
    RENEW_BEFORE,
    USERS,
    Held,
    next_check,
    plan,
    wanted,
)
from services.scheduler.realtime.subscription_records import client_state_hash
from shared.config import SyncConfig
from shared.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
APP = ("tenant", "app")
GROUP = {"id": "0c6d2f4e-1111-2222-3333-444455556666", "display_name": "Staff"}


def held(resource: str, expires_in: timedelta = timedelta(days=20), **kw) -> Held:
    return Held(f"sub-{resource}-{expires_in}", resource, *APP, NOW + expires_in, **kw)


def test_a_team_watches_users_and_groups_only_when_it_syncs_in_near_real_time():
    on = SyncConfig(realtime=True, groups=[GROUP])
    assert wanted(on, connected=True, reachable=True) == {USERS, GROUPS}
    assert wanted(on.model_copy(update={"realtime": False}), True, True) == set()
    assert wanted(on.model_copy(update={"groups": []}), True, True) == set()
    assert wanted(on, connected=False, reachable=True) == set()
    assert wanted(on, connected=True, reachable=False) == set()
    assert wanted(None, True, True) == set()


def test_missing_subscriptions_are_made_and_live_ones_kept():
    todo = plan({USERS, GROUPS}, [held(USERS)], APP, NOW)
    assert todo.create == [GROUPS] and not (todo.renew or todo.delete or todo.retire or todo.forget)


def test_renewed_in_time_or_when_graph_asks():
    soon, later = held(USERS, RENEW_BEFORE), held(GROUPS, RENEW_BEFORE + timedelta(hours=1))
    assert plan({USERS, GROUPS}, [soon, later], APP, NOW).renew == [soon]
    asked = held(GROUPS, timedelta(days=20), reauthorize=True)
    assert plan({GROUPS}, [asked], APP, NOW).renew == [asked]


def test_unwanted_duplicate_expired_and_retired_subscriptions_go():
    extra = held(USERS, timedelta(days=10))
    keep = held(USERS, timedelta(days=20))
    expired = held(GROUPS, timedelta(seconds=0))
    retired = held(GROUPS, timedelta(days=5), retired=True)
    foreign = Held("other", GROUPS, "another-tenant", "app", NOW + timedelta(days=9))
    todo = plan({USERS}, [extra, keep, expired, retired, foreign], APP, NOW)
    assert todo.delete == [extra] and todo.retire == [retired]
    assert sorted(s.graph_id for s in todo.forget) == sorted([expired.graph_id, "other"])
    assert todo.create == [] and todo.renew == []
    assert plan(set(), [keep], APP, NOW).delete == [keep]


def test_next_look_is_in_time_to_renew_and_never_at_once():
    assert next_check([NOW + timedelta(days=20)], NOW) == NOW + timedelta(hours=6)
    assert next_check([NOW + RENEW_BEFORE + timedelta(hours=1)], NOW) == NOW + timedelta(hours=1)
    assert next_check([NOW], NOW) == NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    "public_url",
    [
        "http://127.0.0.1:8080",
        "http://cards.example.com",
        "https://localhost:8443",
        "https://10.1.2.3",
        "https://192.168.0.10/cards",
        "https://[::1]:8443",
        "https://cardsync",
        "https://cards.internal",
        "https://169.254.10.1",
    ],
)
def test_a_public_url_graph_cannot_reach_turns_near_real_time_off(public_url):
    found = endpoints(Settings(public_url=public_url, _env_file=None))
    assert isinstance(found, Unreachable)
    assert public_url in found.reason and "CARDSYNC_NOTIFICATION_URL" in found.reason


def test_an_https_public_url_or_an_override_is_used():
    assert endpoints(Settings(public_url="https://cards.contoso.com/", _env_file=None)) == Endpoints(
        "https://cards.contoso.com/api/v1/graph/notifications",
        "https://cards.contoso.com/api/v1/graph/lifecycle",
    )
    assert endpoints(Settings(public_url="https://52.1.2.3", _env_file=None)) == Endpoints(
        "https://52.1.2.3/api/v1/graph/notifications", "https://52.1.2.3/api/v1/graph/lifecycle"
    )
    tunnel = Settings(notification_url="http://127.0.0.1:9000", _env_file=None)
    assert endpoints(tunnel) == Endpoints(
        "http://127.0.0.1:9000/api/v1/graph/notifications", "http://127.0.0.1:9000/api/v1/graph/lifecycle"
    )
    assert isinstance(endpoints(Settings(notification_url="ftp://x", _env_file=None)), Unreachable)


def test_only_notifications_with_their_subscriptions_secret_are_believed():
    items = parse(
        b'{"value": [{"subscriptionId": "a", "clientState": "right", "tenantId": "T"},'
        b' {"subscriptionId": "a", "clientState": "wrong"}, {"subscriptionId": "b", "clientState": "right"},'
        b' {"subscriptionId": "a", "clientState": "right", "tenantId": "other"},'
        b' {"subscriptionId": "a", "clientState": "right", "lifecycleEvent": "missed"},'
        b' {"subscriptionId": "a", "clientState": "right", "lifecycleEvent": "somethingNew"},'
        b' {"subscriptionId": 7}, "junk"]}'
    )
    assert len(items) == 6
    known = {"a": {"client_state_hash": client_state_hash("right"), "tenant_id": "t"}}
    assert [n for n, _ in believed(items, known)] == [
        Notification("a", "right", "T", None),
        Notification("a", "right", None, "missed"),
    ]
