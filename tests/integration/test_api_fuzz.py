"""Schemathesis against the generated OpenAPI document: whatever it sends, the API never answers 5xx."""

from __future__ import annotations

import asyncio

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.fixtures.api import make_team
from tests.integration.test_api_members import seed_members

EXAMPLES = 8  # per operation and mode: enough to reach every branch of validation, fast enough for CI


def _fuzz(doc: dict, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {name: value for name, value in ids.items() if "{" + name + "}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            @given(case=strategy)
            def check(case) -> None:
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
                    )

            check()
    return failures


async def test_no_request_gets_a_server_error(graph_api, operator, pool):
    # The simulated cloud answers the identity and Graph requests, as no test reaches the real one.
    team = await make_team(graph_api, operator)
    (member_id,) = await seed_members(pool, team["id"], 1)
    run = await (await graph_api.post(f"/api/v1/teams/{team['id']}/sync/runs", headers=operator)).json()
    doc = await (await graph_api.get("/api/v1/openapi.json")).json()
    ids = {"team_id": team["id"], "member_id": str(member_id), "run_id": run["id"]}
    base_url = str(graph_api.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(_fuzz, doc, base_url, operator, ids)
    assert not failures, "\n".join(failures[:10])
