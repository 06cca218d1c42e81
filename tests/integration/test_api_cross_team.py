"""Nothing crosses a team: every operation of the OpenAPI document, called by team B (its token, and its
admin's signed-in session) on team A's resources, answers 401, 403 or 404 and shows none of A's data."""

from __future__ import annotations

import re
import uuid

from tests.fixtures.api import bearer, make_team
from tests.integration.test_api_members import seed_members

_PARAM = re.compile(r"{(\w+)}")
_NO_TEAM_ANSWERS = {"/api/v1/me": 200, "/api/v1/teams": 200}  # B's own view of itself


async def _team_a(api, operator, pool) -> tuple[dict, dict[str, str], list[str]]:
    """Team A with one of everything; its ids by path parameter, and strings that are A's alone."""
    team = await make_team(api, operator, "Alpha Secret Team", [{"email": "alpha-admin@alpha.example"}])
    (member_id,) = await seed_members(pool, team["id"], 1)
    await pool.execute(
        "UPDATE members SET card_email = 'alpha.person@alpha.example', card_job_title = 'Alpha Title'"
        " WHERE id = $1",
        member_id,
    )
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id) VALUES ($1, 'consent', $2, "
        "$3)",
        uuid.UUID(team["id"]),
        "aaaaaaaa-1111-2222-3333-444444444444",
        "alpha-client",
    )
    await pool.execute(
        "INSERT INTO member_photos (member_id, content_type, data) VALUES ($1, 'image/png', $2)",
        member_id,
        b"\x89PNG\r\n\x1a\nALPHA",
    )
    run = await (await api.post(f"/api/v1/teams/{team['id']}/sync/runs", headers=operator)).json()
    template = await api.post(
        f"/api/v1/teams/{team['id']}/templates",
        json={
            "name": "Alpha Template",
            "links": [{"type": "url", "label": "Alpha", "value": "https://a.example"}],
        },
        headers=operator,
    )
    token = await (
        await api.post(f"/api/v1/teams/{team['id']}/tokens", json={"name": "alpha-ci"}, headers=operator)
    ).json()
    hook = await (
        await api.post(
            f"/api/v1/teams/{team['id']}/webhooks",
            json={"url": "https://hooks.alpha.example/in", "events": ["run.finished"]},
            headers=operator,
        )
    ).json()
    merge_id = await pool.fetchval(
        "INSERT INTO member_merges (team_id, run_id, member_id, directory_id, email, seen)"
        " VALUES ($1, $2, $3, 'alpha-user', 'alpha.person@alpha.example', $4) RETURNING id",
        uuid.UUID(team["id"]),
        uuid.UUID(run["id"]),
        member_id,
        {"card": {"f": {"name": "Alpha Title"}}, "groups": []},
    )
    ids = {
        "team_id": team["id"],
        "member_id": str(member_id),
        "run_id": run["id"],
        "merge_id": str(merge_id),
        "template_id": (await template.json())["id"],
        "token_id": token["id"],
        "webhook_id": hook["id"],
    }
    secrets = [
        "Alpha Secret Team",
        "alpha.person@alpha.example",
        "Alpha Title",
        "aaaaaaaa-1111",
        "alpha-client",
        "Alpha Template",
        "alpha-ci",
        "ALPHA",
        "alpha-admin",
        "hooks.alpha.example",
    ]
    return team, ids, secrets


async def _sweep(
    client, doc: dict, ids: dict[str, str], headers: dict[str, str], secrets: list[str]
) -> list[str]:
    wrong: list[str] = []
    for path, operations in doc["paths"].items():
        for method in operations:
            url = _PARAM.sub(lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)
            kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
            resp = await client.request(method.upper(), url, headers=headers, allow_redirects=False, **kwargs)
            text = await resp.text()
            expected = {401, 403, 404}
            if "{team_id}" not in path:
                expected = (
                    {_NO_TEAM_ANSWERS.get(path, 0), 400, 401, 403, 404, 422}
                    if method == "get"
                    else {400, 401, 403, 404, 422}
                )
            if resp.status not in expected:
                wrong.append(f"{method.upper()} {path}: {resp.status} {text[:200]}")
            leaked = [s for s in secrets if s.lower() in text.lower()]
            if leaked:
                wrong.append(f"{method.upper()} {path}: shows {leaked}")
    return wrong


async def test_team_b_reaches_nothing_of_team_a(browsers, operator, pool, sim_tenant):
    browser = await browsers()
    api = browser.api
    _, ids, secrets = await _team_a(api, operator, pool)
    user_id = min(sim_tenant.users)
    team_b = await make_team(
        api, operator, "Bravo", [{"email": sim_tenant.users[user_id]["mail"], "name": "B"}]
    )
    doc = await (await api.get("/api/v1/openapi.json")).json()
    assert len(doc["paths"]) >= 15

    by_token = await _sweep(api, doc, ids, bearer(team_b["token"]), secrets)
    assert not by_token, "\n".join(by_token)

    me = await browser.sign_in(sim_tenant, user_id)
    assert [t["id"] for t in me["teams"]] == [team_b["id"]]
    by_session = await _sweep(api, doc, ids, browser.headers(), secrets)
    assert not by_session, "\n".join(by_session)
