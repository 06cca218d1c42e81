"""Schemathesis against the generated OpenAPI document: whatever it sends, one request at a time or along the
document's links, the API never answers 5xx, and every answer is one the document describes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from tests.fixtures.api import bearer, make_team
from tests.integration.test_api_members import seed_members

EXAMPLES = 8  # per operation and mode: enough to reach every branch of validation, fast enough for CI
WALKS, STEPS = 15, 20  # per caller: walks of up to STEPS calls along the links
# What the answers must be, checked from the answers alone (the last two from the walk's earlier answers):
# the data checks are left out, as the document does not spell out every rule the API checks (an email's
# shape, a link's type) and an empty query value is no value by design.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    use_after_free,
    ensure_resource_availability,
]
BOUNDED = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate]
)


def _schema(doc: dict):
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.phases.stateful.inference.algorithms = []  # only the links the document declares
    return schema


def _from_the_parser(response) -> bool:
    """aiohttp answers a request line or header over 8190 bytes itself, in text/plain, before any handler."""
    return response.status_code == 400 and response.headers.get("content-type", [""])[0].startswith(
        "text/plain"
    )


def _check(case, response, failures: list[str], **kwargs) -> None:
    checks = [not_a_server_error] if _from_the_parser(response) else CHECKS
    try:
        case.validate_response(response, checks=checks, **kwargs)
    except FailureGroup as group:
        titles = "; ".join(sorted({f.title for f in group.exceptions}))
        failures.append(
            f"{case.method} {response.request.url}: {response.status_code} {titles}: {response.text[:300]}"
        )


def _stateless(doc: dict, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    failures: list[str] = []
    for result in _schema(doc).get_all_operations():
        operation = result.ok()
        fixed = {name: value for name, value in ids.items() if "{" + name + "}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

            @settings(BOUNDED, max_examples=EXAMPLES)
            @given(case=strategy)
            def check(case) -> None:
                _check(case, case.call(base_url=base_url, headers=headers, timeout=10), failures)

            check()
    return failures


def _stateful(
    doc: dict, base_url: str, headers: Callable[[], dict[str, str]], ids: dict[str, str]
) -> list[str]:
    """WALKS walks along the links from the operations that start one (making or listing teams, or acting on
    the team of ``ids``), each with fresh ``headers()``, as a walk may revoke the token it was given."""
    failures: list[str] = []
    walks = 0

    class Walk(_schema(doc).as_state_machine()):
        def setup(self) -> None:
            nonlocal walks
            walks += 1
            self.headers = headers()

        def step(self, input):
            if input.transition is None and input.case.path_parameters:  # a random id would only find 404
                path = input.case.path_parameters
                path.update({name: value for name, value in ids.items() if name in path})
            return super().step(input)

        def get_call_kwargs(self, case) -> dict:
            return {"base_url": base_url, "headers": self.headers, "timeout": 10}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            _check(case, response, failures, transport_kwargs=kwargs, recorder=self.recorder)

    while walks < WALKS:
        try:
            Walk.run(settings=settings(BOUNDED, max_examples=WALKS - walks, stateful_step_count=STEPS))
            break
        except Exception as exc:
            # Hypothesis stops when a walk it replays meets an API changed since: the walks go on afresh.
            if not (isinstance(exc, Flaky) or is_inconsistent_replay(exc)):
                raise
    return failures


async def test_no_request_gets_a_server_error(graph_api, operator, pool):
    # The simulated cloud answers the identity and Graph requests, as no test reaches the real one.
    team = await make_team(graph_api, operator)
    (member_id,) = await seed_members(pool, team["id"], 1)
    run = await (await graph_api.post(f"/api/v1/teams/{team['id']}/sync/runs", headers=operator)).json()
    doc = await (await graph_api.get("/api/v1/openapi.json")).json()
    ids = {"team_id": team["id"], "member_id": str(member_id), "run_id": run["id"]}
    base_url = str(graph_api.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(_stateless, doc, base_url, operator, ids)
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("caller", ["operator", "team"])
async def test_no_walk_along_the_links_gets_a_server_error(graph_api, operator, pool, caller):
    team = await make_team(graph_api, operator, admins=[{"email": "boss@contoso.com", "name": "Boss"}])
    await seed_members(pool, team["id"], 2)
    run = await (await graph_api.post(f"/api/v1/teams/{team['id']}/sync/runs", headers=operator)).json()
    doc = await (await graph_api.get("/api/v1/openapi.json")).json()
    base_url = str(graph_api.make_url("")).rstrip("/")

    def headers() -> dict[str, str]:
        if caller == "operator":
            return operator
        url = f"{base_url}/api/v1/teams/{team['id']}/tokens"
        answer = requests.post(url, json={"name": "walk"}, headers=operator, timeout=10)
        assert answer.status_code == 201, answer.text
        return bearer(answer.json()["token"])

    ids = {"team_id": team["id"], "run_id": run["id"]}
    failures = await asyncio.to_thread(_stateful, doc, base_url, headers, ids)
    assert not failures, "\n".join(failures[:10])
