"""Saving synced groups: each id is checked against the team's directory (the simulated tenant) before it
counts."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient, TestServer

from services.scheduler.api import create_app
from services.scheduler.api.endpoint import GRAPH
from shared.config import SyncConfig
from tests.fixtures.api import make_team
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET


async def _connected_team(api, operator, tenant, secret: str = SIM_CLIENT_SECRET) -> dict:
    team = await make_team(api, operator)
    resp = await api.put(
        f"/api/v1/teams/{team['id']}/directory",
        json={"tenant_id": tenant.tenant_id, "client_id": SIM_CLIENT_ID, "client_secret": secret},
        headers=team["headers"],
    )
    assert resp.status == 200, await resp.text()
    return team


def _save(api, team: dict, groups: list[dict]):
    config = {**SyncConfig().model_dump(mode="json"), "groups": groups}
    return api.put(f"/api/v1/teams/{team['id']}/sync/config", json=config, headers=team["headers"])


def _real(tenant) -> list[dict]:
    return [{"id": gid, "display_name": g["displayName"]} for gid, g in sorted(tenant.groups.items())]


async def test_groups_the_directory_has_are_saved(graph_api, operator, sim_tenant):
    team = await _connected_team(graph_api, operator, sim_tenant)
    groups = _real(sim_tenant)
    resp = await _save(graph_api, team, groups)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["groups"] == groups


async def test_unknown_group_ids_are_422_each_named(graph_api, operator, sim_tenant, pool):
    team = await _connected_team(graph_api, operator, sim_tenant)
    real = _real(sim_tenant)
    unknown = [{"id": str(uuid.uuid4()), "display_name": f"ghost {i}"} for i in range(22)]
    groups = [unknown[0], *real, {"id": "not/a group?id", "display_name": "odd"}, *unknown[1:]]
    resp = await _save(graph_api, team, groups)  # 26 ids: two $batch requests

    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    bad = [i for i, g in enumerate(groups) if g not in real]
    assert body["errors"] == [
        {"loc": ["groups", i, "id"], "msg": "the directory has no group with this id"} for i in bad
    ]
    assert (
        await pool.fetchval("SELECT count(*) FROM sync_configs WHERE team_id = $1", uuid.UUID(team["id"]))
        == 0
    )


async def test_groups_need_a_connected_directory(graph_api, operator, sim_tenant):
    team = await make_team(graph_api, operator)
    resp = await _save(graph_api, team, _real(sim_tenant))
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    errors = (await resp.json())["errors"]
    assert [e["loc"] for e in errors] == [["groups", i, "id"] for i in range(len(errors))] and errors
    assert all("no directory is connected" in e["msg"] for e in errors)
    assert (await _save(graph_api, team, [])).status == 200  # no groups, nothing to check


async def test_an_unanswering_directory_is_502(graph_api, operator, simulator, sim_tenant, pool, settings):
    team = await _connected_team(graph_api, operator, sim_tenant)
    sim_tenant.rotate_secret(SIM_CLIENT_ID)  # in the tenant, after the connection was made
    simulator.expire_tokens(sim_tenant.tenant_id)
    resp = await _save(graph_api, team, _real(sim_tenant))
    assert resp.status == 502 and resp.content_type == "application/problem+json"
    assert SIM_CLIENT_SECRET not in await resp.text()

    team = await _connected_team(graph_api, operator, sim_tenant, secret=sim_tenant.apps[SIM_CLIENT_ID])
    closed = settings.model_copy(update={"authority_url": "https://127.0.0.1:1", "ca_file": None})
    async with TestClient(TestServer(create_app(pool, closed))) as offline:
        resp = await _save(offline, team, _real(sim_tenant))
        assert resp.status == 502, await resp.text()
        detail = (await resp.json())["detail"]
    assert detail.startswith("the groups could not be checked against the directory")


async def test_a_stale_save_is_412_before_its_groups_are_checked(graph_api, operator, sim_tenant):
    team = await _connected_team(graph_api, operator, sim_tenant)
    first = await _save(graph_api, team, _real(sim_tenant)[:1])
    assert first.status == 200
    etag = first.headers["ETag"]
    assert (await _save(graph_api, team, _real(sim_tenant)[:2])).status == 200  # someone else saved meanwhile
    config = {
        **SyncConfig().model_dump(mode="json"),
        "groups": [{"id": str(uuid.uuid4()), "display_name": "ghost"}],
    }
    resp = await graph_api.put(
        f"/api/v1/teams/{team['id']}/sync/config", json=config, headers={**team["headers"], "If-Match": etag}
    )
    assert resp.status == 412, await resp.text()


async def test_only_newly_chosen_groups_are_checked(graph_api, operator, sim_tenant):
    # A group saved before and deleted in the directory since does not stop an edit of something else (its
    # runs fail naming it); a group added in the same save is checked.
    team = await _connected_team(graph_api, operator, sim_tenant)
    real = _real(sim_tenant)
    assert (await _save(graph_api, team, real[:2])).status == 200
    sim_tenant.delete_group(real[0]["id"], permanent=True)
    config = {**SyncConfig().model_dump(mode="json"), "groups": real[:2], "cadence": "weekly"}
    resp = await graph_api.put(
        f"/api/v1/teams/{team['id']}/sync/config", json=config, headers=team["headers"]
    )
    assert resp.status == 200, await resp.text()
    ghost = {"id": str(uuid.uuid4()), "display_name": "ghost"}
    resp = await _save(graph_api, team, [*real[:2], ghost])
    assert resp.status == 422
    assert (await resp.json())["errors"] == [
        {"loc": ["groups", 2, "id"], "msg": "the directory has no group with this id"}
    ]


async def test_a_group_search_with_quotes_finds_the_words_it_quotes(graph_api, operator, sim_tenant):
    team = await _connected_team(graph_api, operator, sim_tenant)
    group = _real(sim_tenant)[0]
    word = group["display_name"].split()[0]
    resp = await graph_api.get(
        f"/api/v1/teams/{team['id']}/directory/groups",
        params={"search": f'"{word}\\'},
        headers=team["headers"],
    )
    assert resp.status == 200, await resp.text()
    assert group["id"] in [g["id"] for g in (await resp.json())["groups"]]


async def test_the_api_keeps_its_token_across_searches_and_saves(graph_api, operator, sim_tenant, simulator):
    team = await _connected_team(graph_api, operator, sim_tenant)
    counted = simulator.requests[sim_tenant.tenant_id]
    before = counted["token"]
    for search in ("All", "Sales", "Eng"):
        resp = await graph_api.get(
            f"/api/v1/teams/{team['id']}/directory/groups", params={"search": search}, headers=team["headers"]
        )
        assert resp.status == 200, await resp.text()
    assert (await _save(graph_api, team, _real(sim_tenant)[:2])).status == 200
    assert counted["token"] - before <= 1  # one token for all of them, not one each


async def test_a_permission_granted_after_a_refused_save_is_used_by_the_next_save(
    graph_api, operator, sim_tenant, simulator
):
    team = await _connected_team(graph_api, operator, sim_tenant)
    await graph_api.get(f"/api/v1/teams/{team['id']}/directory/groups", headers=team["headers"])  # a token
    sim_tenant.revoke(SIM_CLIENT_ID, "GroupMember.Read.All")
    simulator.expire_tokens(sim_tenant.tenant_id)  # the next token is issued without it
    refused = await _save(graph_api, team, _real(sim_tenant)[:1])
    assert refused.status == 502 and "GroupMember.Read.All" in (await refused.json())["detail"]
    sim_tenant.grant(SIM_CLIENT_ID, "GroupMember.Read.All")  # the API still holds the token issued before it
    graph_api.app[GRAPH].renew_refused_after = 0.0  # which now counts as older than the grant
    assert (await _save(graph_api, team, _real(sim_tenant)[:1])).status == 200
