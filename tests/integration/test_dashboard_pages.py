"""The dashboard without a browser script: sign-in redirects, the CSRF check on its forms, a team out of
reach, and the audit export, all answered through the API's own checks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from shared.config import SyncConfig
from tests.fixtures.api import make_team

TOKEN = "operator-test-token-of-32-characters"


async def operator_session(api) -> None:
    resp = await api.post("/signin/operator", data={"token": TOKEN, "next": "/teams"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/teams"


async def test_a_page_without_a_session_asks_to_sign_in_and_comes_back(api):
    resp = await api.get("/teams/3f1c0000-0000-4000-8000-000000000000/runs?x=1", allow_redirects=False)
    assert resp.status == 303
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/signin"
    assert parse_qs(location.query) == {"next": ["/teams/3f1c0000-0000-4000-8000-000000000000/runs?x=1"]}
    page = await (await api.get(resp.headers["Location"])).text()
    assert 'href="/auth/login?next=%2Fteams%2F3f1c' in page


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(api, operator, pool):
    team = await make_team(api, operator)
    await operator_session(api)
    form = {
        "cadence": "weekly",
        "etag": '"0"',
        "removal_guard.max_percent": "5",
        "removal_guard.min_count": "1",
    }
    resp = await api.post(f"/teams/{team['id']}/settings", data=form)
    assert resp.status == 403
    assert "X-CSRF-Token" in await resp.text()
    assert await pool.fetchval("SELECT count(*) FROM sync_configs") == 0


async def test_a_team_token_sees_no_other_teams_pages(api, operator):
    mine, theirs = await make_team(api, operator, "Mine"), await make_team(api, operator, "Theirs")
    resp = await api.get(f"/teams/{theirs['id']}/settings", headers=mine["headers"])
    assert resp.status == 404
    text = await resp.text()
    assert "no such team" in text and "Theirs" not in text and "Traceback" not in text
    assert (await api.get(f"/teams/{mine['id']}/settings", headers=mine["headers"])).status == 200


async def test_the_audit_log_downloads_as_the_apis_csv(api, operator):
    team = await make_team(api, operator)
    await operator_session(api)
    page = await (await api.get(f"/teams/{team['id']}/settings")).text()
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "cadence": "weekly", "etag": '"0"', "removal_guard.max_percent": "5"}
    form["removal_guard.min_count"] = "1"
    saved = await api.post(f"/teams/{team['id']}/settings", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    resp = await api.get(f"/teams/{team['id']}/audit.csv")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    lines = (await resp.text()).splitlines()
    assert lines[0].startswith("id,at,actor_kind") and "config.save" in lines[1]


async def test_custom_mappings_are_checked_by_the_api_and_saved_from_their_rows(api, operator, pool):
    team = await make_team(api, operator)
    await operator_session(api)
    page = await (await api.get(f"/teams/{team['id']}/settings")).text()
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert 'name="mappings_rows" value="1"' in page  # one blank row to add a mapping
    form = {
        "csrf_token": csrf,
        "cadence": "daily",
        "etag": '"0"',
        "removal_guard.max_percent": "20",
        "removal_guard.min_count": "10",
        "mappings_rows": "3",
        "m0.source": "department",
        "m0.kind": "field",
        "m0.name": "Department",
        "m0.sync": "on",
        "m1.source": "",  # a blank row is no mapping
        "m2.source": "favouriteColour",
        "m2.fallbacks": "department, nope",
        "m2.kind": "link",
        "m2.type": "url",
        "m2.name": "",
    }
    checked = await api.post(f"/teams/{team['id']}/settings/check", data=form)
    assert checked.status == 200
    text = await checked.text()
    assert 'id="m2-source-error"' in text and "unknown directory property &#39;favouriteColour&#39;" in text
    assert 'id="m2-fallbacks-error"' in text and "&#39;nope&#39;" in text
    assert 'id="m2-name-error"' in text and 'id="m0-source-error"' not in text
    assert 'name="mappings_rows" value="4"' in text  # a blank row again after the last one typed
    refused = await api.post(f"/teams/{team['id']}/settings", data=form)
    assert refused.status == 422 and 'id="m2-source-error"' in await refused.text()

    form.update({"m2.source": "employeeId", "m2.fallbacks": "", "m2.name": "Badge"})
    saved = await api.post(f"/teams/{team['id']}/settings", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    config = await pool.fetchval("SELECT config FROM sync_configs")
    assert [(m["source"], m["target"], m["sync"], m["overwrite"]) for m in config["custom_mappings"]] == [
        ("department", {"kind": "field", "name": "Department"}, True, False),
        ("employeeId", {"kind": "link", "type": "url", "label": "Badge"}, False, False),
    ]


async def test_a_previews_page_applies_its_plan(api, operator, pool):
    team = await make_team(api, operator)
    preview = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, dry_run, status, config, plan, plan_hash, finished_at)"
        " VALUES ($1, 'manual', true, 'succeeded', $2, $3, 'h', now()) RETURNING id",
        team["id"],
        SyncConfig().model_dump(mode="json"),
        {"create": [], "update": [], "remove": [], "invite": [], "roles": []},
    )
    await operator_session(api)
    page = await (await api.get(f"/teams/{team['id']}/runs/{preview}")).text()
    assert "Apply this plan" in page
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = await api.post(
        f"/teams/{team['id']}/runs/{preview}/apply", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    applying = await pool.fetchrow("SELECT id, dry_run FROM sync_runs WHERE applies_run = $1", preview)
    assert applying is not None and not applying["dry_run"]
    assert resp.headers["Location"] == f"/teams/{team['id']}/runs/{applying['id']}"
