"""The sync configuration: defaults, ETag versions, stale saves (R15), validation, next_run_at (R14)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.scheduler.cadence import next_run_at
from shared.config import SyncConfig
from tests.fixtures.api import make_team


def _config(**changes) -> dict:
    return {**SyncConfig().model_dump(mode="json"), **changes}


async def test_defaults_until_saved(api, operator):
    team = await make_team(api, operator)
    resp = await api.get(f"/api/v1/teams/{team['id']}/sync/config", headers=team["headers"])
    assert resp.status == 200
    assert resp.headers["ETag"] == '"0"'
    body = await resp.json()
    off = {
        "state": "off",
        "reason": "near-real-time sync is off in the sync configuration",
        "checked_at": None,
    }
    assert body == {**_config(), "next_run_at": None, "realtime_status": off}


async def test_save_versions_and_refuses_stale_saves(api, operator, pool):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]

    first = await api.put(path, json=_config(use_admin_roles=True), headers={**h, "If-Match": '"0"'})
    assert first.status == 200, await first.text()
    assert first.headers["ETag"] == '"1"'
    saved = await first.json()
    assert saved["use_admin_roles"] is True
    next_run = datetime.fromisoformat(saved["next_run_at"])
    assert saved["next_run_at"].endswith("Z")

    stale = await api.put(path, json=_config(send_invites=False), headers={**h, "If-Match": '"0"'})
    assert stale.status == 412
    assert stale.content_type == "application/problem+json"

    second = await api.put(
        path,
        json={**_config(send_invites=False), "next_run_at": None},
        headers={**h, "If-Match": first.headers["ETag"]},
    )
    assert second.status == 200 and second.headers["ETag"] == '"2"'
    assert datetime.fromisoformat((await second.json())["next_run_at"]) == next_run  # same cadence, same slot

    without = await api.put(path, json=_config(send_invites=True), headers=h)  # no If-Match: accepted
    assert without.status == 200 and without.headers["ETag"] == '"3"'

    got = await api.get(path, headers=h)
    assert got.headers["ETag"] == '"3"' and (await got.json())["send_invites"] is True
    stored = await pool.fetchrow(
        "SELECT cadence, next_run_at FROM sync_configs WHERE team_id = $1", uuid.UUID(team["id"])
    )
    assert stored["cadence"] == "daily" and stored["next_run_at"] == next_run


async def test_cadence_change_reschedules_and_off_clears(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]

    async def saved(cadence: str) -> datetime:
        before = datetime.now(UTC)
        body = await (await api.put(path, json=_config(cadence=cadence), headers=h)).json()
        after = datetime.now(UTC)
        shown = datetime.fromisoformat(body["next_run_at"])
        # A monthly slot may fall on the daily one's day: compare with the cadence's own next slot, not the
        # other.
        assert shown in {next_run_at(cadence, before, team["id"]), next_run_at(cadence, after, team["id"])}
        return shown

    assert await saved("daily") <= datetime.now(UTC) + timedelta(days=1)
    assert await saved("monthly") > datetime.now(UTC)
    off = await api.put(path, json=_config(cadence="off"), headers=h)
    assert (await off.json())["next_run_at"] is None


async def test_invalid_config_lists_every_bad_field(api, operator):
    team = await make_team(api, operator)
    bad = _config(
        cadence="every_minute",
        fields={"name": {"sync": "maybe"}, "shoe_size": {}},
        custom_mappings=[
            {"source": "favouriteColour", "target": {"kind": "link", "type": "fax", "label": "X"}}
        ],
        removal_guard={"max_percent": 120, "min_count": -1},
        groups=[
            {"id": "g1", "display_name": "One"},
            {"id": "g2", "display_name": "Two"},
            {"id": "g1", "display_name": "One again"},
        ],
    )
    resp = await api.put(f"/api/v1/teams/{team['id']}/sync/config", json=bad, headers=team["headers"])
    assert resp.status == 422
    body = await resp.json()
    assert body["status"] == 422 and body["title"] and body["type"]
    locs = {tuple(map(str, e["loc"])) for e in body["errors"]}
    assert any(
        "group 2 lists the group of group 0 again" in e["msg"]
        for e in body["errors"]
        if e["loc"] == ["groups"]
    )
    for expected in [
        ("groups",),
        ("cadence",),
        ("fields", "name", "sync"),
        ("custom_mappings", "0", "source"),
        ("removal_guard", "max_percent"),
        ("removal_guard", "min_count"),
    ]:
        assert expected in locs or any(loc[: len(expected)] == expected for loc in locs), (expected, locs)
    assert all(isinstance(e["msg"], str) for e in body["errors"])


async def test_auth_then_team_then_body(api, operator):
    team = await make_team(api, operator)
    other = await make_team(api, operator, "Other")
    resp = await api.put(f"/api/v1/teams/{other['id']}/sync/config", data=b"garbage", headers=team["headers"])
    assert resp.status == 404
    resp = await api.put(f"/api/v1/teams/{team['id']}/sync/config", data=b"garbage", headers=team["headers"])
    assert resp.status == 400


async def test_wrong_json_types_are_refused_not_coerced(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    fields = _config()["fields"]
    bad = _config(
        send_invites="false",
        cadence=1,
        fields={**fields, "name": {"sync": 1, "overwrite": True}},
        custom_mappings=[{"source": "department", "target": {"kind": "field", "name": 7}}],
        removal_guard={"max_percent": "20", "min_count": 10.0},
        next_run_at=5,
    )
    resp = await api.put(path, json=bad, headers=h)
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    locs = {tuple(e["loc"]) for e in (await resp.json())["errors"]}
    assert locs == {
        ("send_invites",),
        ("cadence",),
        ("fields", "name", "sync"),
        ("custom_mappings", 0, "target", "field", "name"),
        ("removal_guard", "max_percent"),
        ("removal_guard", "min_count"),
        ("next_run_at",),
    }
    assert (await api.get(path, headers=h)).headers["ETag"] == '"0"'  # nothing was saved


async def test_the_example_of_the_contract_is_accepted(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    mappings = [
        {
            "source": "department",
            "fallbacks": [],
            "target": {"kind": "field", "name": "Department"},
            "sync": True,
            "overwrite": True,
        },
        {
            "source": "onPremisesExtensionAttributes.extensionAttribute1",
            "fallbacks": [],
            "target": {"kind": "link", "type": "url", "label": "Calendar"},
            "sync": True,
            "overwrite": False,
        },
    ]
    example = _config(
        cadence="weekly",
        custom_mappings=mappings,
        removal_guard={"max_percent": 20, "min_count": 10},
        next_run_at="2026-11-29T03:17:00Z",
    )
    resp = await api.put(path, json=example, headers=h)
    assert resp.status == 200, await resp.text()
    saved = await resp.json()
    assert saved["cadence"] == "weekly" and saved["custom_mappings"] == mappings
    assert saved["next_run_at"] != "2026-11-29T03:17:00Z"  # read-only: the schedule decides it


async def test_removal_guard_percent_reads_as_the_contract_writes_it(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    default = await api.get(path, headers=h)
    assert '"removal_guard":{"max_percent":20,"min_count":10}' in await default.text()
    assert type((await default.json())["removal_guard"]["max_percent"]) is int
    for sent in (35, 12.5, 40.0):
        resp = await api.put(
            path, json=_config(removal_guard={"max_percent": sent, "min_count": 3}), headers=h
        )
        assert resp.status == 200, await resp.text()
        got = (await resp.json())["removal_guard"]["max_percent"]
        assert got == sent and type(got) is (float if sent == 12.5 else int)


async def test_if_match_compares_strongly(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    for weak in ('W/"0"', "0", 'W/"0", "7"'):
        resp = await api.put(path, json=_config(), headers={**h, "If-Match": weak})
        assert resp.status == 412, weak
        assert resp.content_type == "application/problem+json" and resp.headers["ETag"] == '"0"'
    resp = await api.put(path, json=_config(), headers={**h, "If-Match": 'W/"0", "0"'})
    assert resp.status == 200 and resp.headers["ETag"] == '"1"'


async def test_if_match_reads_only_the_digits_an_etag_is_written_with(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    # superscript two, Arabic-Indic zero, a number past any version: tags of no version, so stale, never a 500
    for odd in ('"\u00b2"', '"\u0660"', '"' + "9" * 5000 + '"'):
        resp = await api.put(
            path, json=_config(), headers={**h, "If-Match": odd.encode().decode("unicode_escape")}
        )
        assert resp.status == 412, odd[:10]
        assert resp.content_type == "application/problem+json"


async def test_a_chosen_time_of_day_schedules_in_the_teams_zone(api, operator):
    team = await make_team(api, operator)
    path, h = f"/api/v1/teams/{team['id']}/sync/config", team["headers"]
    body = _config(cadence="daily")
    body.update(at="06:30", timezone="Europe/Berlin")
    saved = await (await api.put(path, json=body, headers=h)).json()
    assert saved["at"] == "06:30" and saved["timezone"] == "Europe/Berlin"
    local = datetime.fromisoformat(saved["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (6, 30)

    body.update(at="18:00")  # the same cadence at another time: rescheduled at once (R14)
    saved = await (await api.put(path, json=body, headers=h)).json()
    assert datetime.fromisoformat(saved["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin")).hour == 18

    for cadence in ("every_15_minutes", "hourly"):
        resp = await api.put(path, json=_config(cadence=cadence), headers=h)
        assert resp.status == 200
        shown = datetime.fromisoformat((await resp.json())["next_run_at"])
        assert shown - datetime.now(UTC) <= timedelta(minutes=15 if cadence == "every_15_minutes" else 60)

    bad = _config(cadence="hourly")
    bad.update(at="25:00", timezone="Mars/Olympus")
    resp = await api.put(path, json=bad, headers=h)
    assert resp.status == 422
    locs = {tuple(e["loc"]) for e in (await resp.json())["errors"]}
    assert {("at",), ("timezone",)} <= locs
    bad.update(at="07:00", timezone="UTC")
    resp = await api.put(path, json=bad, headers=h)
    assert resp.status == 422 and "daily and longer" in (await resp.json())["errors"][0]["msg"]
