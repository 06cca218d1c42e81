"""The API's models and the OpenAPI document generated from them."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import ValidationError

from services.scheduler.api.models.common import ProblemOut
from services.scheduler.api.models.config import ConfigIn
from services.scheduler.api.models.directory import ConsentCallbackQuery, DirectoryIn
from services.scheduler.api.models.members import MemberPatch, MembersQuery
from services.scheduler.api.models.teams import AccountIn
from services.scheduler.api.openapi import openapi_document
from services.scheduler.api.routes import ENDPOINTS
from shared.config import SyncConfig


@pytest.mark.parametrize("email", ["a@b.co", " Ann.Lee+x@sub.contoso.com "])
def test_good_emails(email):
    assert AccountIn(email=email).email == email.strip()


@pytest.mark.parametrize("email", ["", "a", "a@b", "a b@c.com", "@c.com", "a@.com", "a@b..com"])
def test_bad_emails(email):
    with pytest.raises(ValidationError):
        AccountIn(email=email)


def test_config_in_ignores_next_run_at_and_forbids_unknown_fields():
    body = ConfigIn.model_validate({"cadence": "weekly", "next_run_at": "2026-01-01T00:00:00Z"})
    assert body.config().cadence == "weekly"
    assert "next_run_at" not in body.config().model_dump()
    with pytest.raises(ValidationError):
        ConfigIn.model_validate({"cadance": "weekly"})


def test_config_in_names_every_repeated_group_and_target_with_the_other_bad_fields():
    mapping = {"source": "department", "target": {"kind": "field", "name": "team"}}
    with pytest.raises(ValidationError) as info:
        ConfigIn.model_validate(
            {
                "cadence": "every_minute",
                "groups": [{"id": g, "display_name": g} for g in ("a", "b", "a", "b")],
                "custom_mappings": [mapping, {**mapping, "source": "city"}],
                "fields": {"shoe_size": {}, "hat_size": {}},
            }
        )
    errors = {e["loc"]: e["msg"] for e in info.value.errors()}
    assert set(errors) == {("cadence",), ("groups",), ("custom_mappings",), ("fields",)}
    assert (
        "group 2 lists the group of group 0 again; group 3 lists the group of group 1 again"
        in errors[("groups",)]
    )
    assert "custom mapping 1 writes the target of custom mapping 0 again" in errors[("custom_mappings",)]
    assert "'hat_size', 'shoe_size'" in errors[("fields",)]


def test_directory_secret_is_required_and_bounded():
    with pytest.raises(ValidationError) as info:
        DirectoryIn.model_validate(
            {"tenant_id": "contoso.onmicrosoft.com", "client_id": "abc", "client_secret": ""}
        )
    assert [e["loc"] for e in info.value.errors()] == [("client_secret",)]


def test_member_patch_refuses_unknown_card_fields():
    with pytest.raises(ValidationError):
        MemberPatch.model_validate({"card": {"shoe_size": 1}})
    assert MemberPatch.model_validate({"card": {"job_title": "CTO"}}).card.model_fields_set == {"job_title"}


def test_member_patch_takes_a_card_as_read_and_checks_its_email():
    card = {"name": "Ann", "email": "ann@contoso.com", "has_photo": True, "fields": {}}
    assert MemberPatch.model_validate({"card": card}).card.email == "ann@contoso.com"
    with pytest.raises(ValidationError) as info:
        MemberPatch.model_validate({"card": {**card, "email": "ann at contoso"}})
    assert [e["loc"] for e in info.value.errors()] == [("card", "email")]


def test_query_texts_have_no_lengths_of_their_own():
    assert MembersQuery.model_validate({"cursor": "c" * 5000}).cursor == "c" * 5000
    assert ConsentCallbackQuery.model_validate({"state": "s" * 5000, "error_description": "d" * 5000})


def test_members_query_bounds():
    assert MembersQuery.model_validate({"limit": "1000"}).limit == 1000
    for limit in ("0", "1001", "x"):
        with pytest.raises(ValidationError):
            MembersQuery.model_validate({"limit": limit})


def test_openapi_document_covers_every_endpoint_from_the_models():
    doc = openapi_document(ENDPOINTS)
    assert doc["openapi"].startswith("3.1")
    assert len([op for path in doc["paths"].values() for op in path.values()]) == len(ENDPOINTS)
    config = doc["paths"]["/api/v1/teams/{team_id}/sync/config"]
    assert config["put"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConfigIn"
    }
    assert doc["components"]["schemas"]["ConfigOut"]["properties"]["next_run_at"]["readOnly"] is True
    callback = doc["paths"]["/api/v1/directory/consent-callback"]["get"]
    assert callback["security"] == [{"session": []}]
    assert {p["name"] for p in doc["paths"]["/api/v1/teams/{team_id}/members"]["get"]["parameters"]} == {
        "team_id",
        "status",
        "q",
        "subteam",
        "limit",
        "cursor",
    }
    schemas = doc["components"]["schemas"]
    for op in (op for path in doc["paths"].values() for op in path.values()):
        for answer in op["responses"].values():
            for media in answer.get("content", {}).values():
                ref = media["schema"].get("$ref")
                assert ref is None or ref.rsplit("/", 1)[1] in schemas


def test_an_endpoint_lists_the_problems_it_declares():
    responses = openapi_document(ENDPOINTS)["paths"]["/api/v1/teams/{team_id}/directory"]["put"]["responses"]
    for status, kind in (("422", "invalid-values"), ("503", "unavailable")):
        (media,) = responses[status]["content"].values()
        assert responses[status]["content"] == {"application/problem+json": media}
        assert media["schema"] == {"$ref": "#/components/schemas/ProblemOut"}
        assert media["example"]["type"] == f"/api/v1/problems/{kind}"
    assert responses["503"]["description"].startswith("Service Unavailable")
    assert responses["200"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/DirectoryOut"}}
    }


@pytest.mark.parametrize("source", ["aboutMe", "preferredName"])
def test_profile_properties_graph_lists_no_users_with_are_refused_as_mapping_sources_on_save(source):
    mapping = {"source": "department", "fallbacks": [source], "target": {"kind": "field", "name": "about"}}
    with pytest.raises(ValidationError) as info:
        ConfigIn.model_validate({"custom_mappings": [mapping]})
    assert [e["loc"] for e in info.value.errors()] == [("custom_mappings",)]
    assert f"custom mapping 0 reads {source}" in info.value.errors()[0]["msg"]
    assert SyncConfig.model_validate(
        {"custom_mappings": [mapping]}
    )  # a configuration saved before still reads


def test_a_group_id_in_upper_case_is_kept_as_graph_answers_it():
    config = SyncConfig.model_validate(
        {"groups": [{"id": "0C6D5E4F-0000-4000-8000-00000000000A"}, {"id": "Sales"}]}
    )
    assert [g.id for g in config.groups] == ["0c6d5e4f-0000-4000-8000-00000000000a", "Sales"]


def _operations(doc):
    return {op["operationId"]: (path, op) for path, item in doc["paths"].items() for op in item.values()}


def test_every_link_names_an_operation_and_only_its_parameters():
    doc = openapi_document(ENDPOINTS)
    operations = _operations(doc)
    assert len(operations) == len(ENDPOINTS)  # operationIds are unique, so a link names one operation
    count = 0
    for path, op in operations.values():
        own = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        for answer in op["responses"].values():
            for link in answer.get("links", {}).values():
                count += 1
                _, target = operations[link["operationId"]]
                wanted = {p["name"] for p in target["parameters"] if p["in"] == "path"}
                assert set(link["parameters"]) == wanted, (path, link)
                for value in link["parameters"].values():
                    assert value.startswith("$response.body#/") or value.removeprefix("$request.path.") in own
    assert count > 0


def test_a_response_with_an_id_links_to_the_operations_that_take_it():
    operations = _operations(openapi_document(ENDPOINTS))
    links = {name: op["responses"] for name, (_, op) in operations.items()}
    team = links["create_team"]["201"]["links"]
    assert team["get_team"] == {"operationId": "get_team", "parameters": {"team_id": "$response.body#/id"}}
    assert "get_run" not in team  # no run id in a new team
    run = {"team_id": "$request.path.team_id", "run_id": "$response.body#/id"}
    assert links["create_run"]["202"]["links"]["get_run"]["parameters"] == run
    assert links["create_run"]["200"]["links"]["approve_run"]["parameters"] == run
    token = links["issue_token"]["201"]["links"]["revoke_token"]["parameters"]
    assert token == {"team_id": "$request.path.team_id", "token_id": "$response.body#/id"}
    member = links["list_members"]["200"]["links"]["patch_member"]["parameters"]
    assert member == {"team_id": "$request.path.team_id", "member_id": "$response.body#/members/0/id"}
    assert links["list_teams"]["200"]["links"]["get_team"]["parameters"] == {
        "team_id": "$response.body#/teams/0/id"
    }
    assert "links" not in links["get_config"]["200"]  # a configuration has no id


def test_the_document_is_valid_openapi_with_this_installation_as_its_server():
    doc = openapi_document(ENDPOINTS, public_url="https://cards.contoso.com/")
    validate(doc)
    assert doc["servers"] == [{"url": "https://cards.contoso.com", "description": "this installation"}]
    assert "RFC 9457" in doc["info"]["description"]


def test_every_schema_field_parameter_and_tag_is_described():
    doc = openapi_document(ENDPOINTS)
    for name, schema in doc["components"]["schemas"].items():
        assert schema.get("description"), name
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"
    tags = {t["name"]: t["description"] for t in doc["tags"]}
    assert all(tags.values())
    for path, op in _operations(doc).values():
        assert all(p["description"] for p in op["parameters"]), path
        assert [tag for tag in op["tags"] if tag in tags] == op["tags"] != [], path
    assert _operations(doc)["put_config"][1]["tags"] == ["Sync configuration"]


def _schema_validator(doc, name):
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_examples_are_valid_for_the_document_and_for_the_models():
    doc = openapi_document(ENDPOINTS)
    examples = {n: s["examples"] for n, s in doc["components"]["schemas"].items() if "examples" in s}
    assert {"TeamIn", "ConfigIn", "ConfigOut", "RunOut", "MemberOut", "ProblemOut"} <= set(examples)
    for name, values in examples.items():
        for value in values:
            _schema_validator(doc, name).validate(value)
    for ep in ENDPOINTS:
        if ep.body:  # as the API reads a body: strictly, from JSON
            for value in ep.body.model_json_schema().get("examples", []):
                ep.body.model_validate_json(json.dumps(value), strict=True)
        for model in filter(None, ep.responses.values()):
            for value in model.model_json_schema(mode="serialization").get("examples", []):
                assert model.model_validate(value).model_dump(mode="json", exclude_unset=True) == value
    for value in examples["ProblemOut"]:
        assert ProblemOut.model_validate(value).model_dump(mode="json", exclude_unset=True) == value


def test_each_operation_declares_the_problems_it_can_answer():
    operations = {name: op for name, (_, op) in _operations(openapi_document(ENDPOINTS)).items()}

    def statuses(name):
        return {s for s in operations[name]["responses"] if s[0] in "45"}

    assert statuses("put_config") == {"400", "401", "403", "404", "412", "413", "422", "502"}
    assert statuses("get_config") == {"401", "404", "413"}
    assert statuses("create_team") == {"400", "401", "403", "413", "422"}  # operator only, and a CSRF token
    assert statuses("list_members") == {"400", "401", "404", "413", "422"}  # a query, no body
    assert statuses("approve_run") == {"401", "403", "404", "409", "413"}
    assert statuses("consent_callback") == {"400", "413"}  # the state authenticates, not a token
    responses = operations["put_config"]["responses"]
    for status in responses:
        if status[0] in "45":
            media = responses[status]["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ProblemOut"}
            assert media["example"]["status"] == int(status)
    assert (
        "the team has no directory connected"
        in operations["get_directory"]["responses"]["404"]["description"]
    )
    assert operations["approve_run"]["responses"]["404"]["description"] == (
        "Not Found: no such team, or one the caller may not act for; no such run"
    )
    assert responses["401"]["headers"] == {
        "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}
    }
    assert "default" in responses  # a 405, or an error no operation foresees, is a problem document too


def test_the_sync_configuration_declares_its_etag_and_if_match():
    operations = {name: op for name, (_, op) in _operations(openapi_document(ENDPOINTS)).items()}
    etag = {"ETag": {"$ref": "#/components/headers/ETag"}}
    assert operations["get_config"]["responses"]["200"]["headers"] == etag
    put = operations["put_config"]
    assert put["responses"]["200"]["headers"] == put["responses"]["412"]["headers"] == etag
    assert [p for p in put["parameters"] if p["in"] == "header"] == [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": "the ETag the change was made from: the save is refused with 412 when it is stale",
            "schema": {"type": "string", "examples": ['"4"']},
        }
    ]
    assert not any(p["in"] == "header" for p in operations["get_config"]["parameters"])
