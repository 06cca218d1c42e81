"""The Graph client's pure decisions: retry waits, the throttle budget, error reasons, URLs, batching."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.graph import retry
from shared.graph.batch import batch_body, chunks, split_throttled
from shared.graph.client import build_url
from shared.graph.errors import (
    DeltaExpired,
    GraphAuthError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
    error_for,
    token_error,
)
from shared.graph.groups import search_clause, search_params


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert retry.parse_retry_after("7") == 7.0
    assert retry.parse_retry_after(" 2.5 ") == 2.5
    assert retry.parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry.parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry.parse_retry_after(None) is None
    assert retry.parse_retry_after("soon") is None


def test_backoff_is_jittered_exponential_and_capped():
    assert retry.backoff(0, rand=lambda: 1.0) == 1.0
    assert retry.backoff(3, rand=lambda: 1.0) == 8.0
    assert retry.backoff(30, rand=lambda: 1.0) == retry.BACKOFF_CAP
    assert retry.backoff(3, rand=lambda: 0.25) == 2.0


def test_graphs_retry_after_wins_over_backoff():
    assert retry.throttle_delay(12.0, attempt=5, rand=lambda: 1.0) == 12.0
    assert retry.throttle_delay(None, attempt=2, rand=lambda: 1.0) == 4.0


def test_the_throttle_budget_is_shared_by_the_run_and_bounded():
    budget = retry.ThrottleBudget(10)
    budget.spend(6, now=100)
    budget.spend(4, now=106)
    with pytest.raises(GraphThrottled) as caught:
        budget.spend(0.5, now=110)
    assert "gave up after 10 s" in caught.value.reason


def test_r17_requests_waiting_side_by_side_spend_the_budget_once():
    budget = retry.ThrottleBudget(10)
    for _ in range(8):  # eight requests throttled together
        budget.spend(6, now=100)
    budget.spend(3, now=105)  # overlaps the first wait by a second
    assert budget.waited == 8
    with pytest.raises(GraphThrottled):
        budget.spend(3, now=200)


def test_a_retry_after_of_zero_backs_off_instead_of_retrying_at_once():
    assert retry.throttle_delay(0.0, attempt=3, rand=lambda: 1.0) == 8.0


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/v1.0/groups/g1/transitiveMembers?$top=999", "GroupMember.Read.All"),
        ("/v1.0/groups/g1/members", "Member.Read.Hidden, should the group's membership be hidden"),
        ("/v1.0/groups/g1", "GroupMember.Read.All"),
        ("/v1.0/users/u1/photo/$value", "ProfilePhoto.Read.All"),
        ("/v1.0/directoryRoles(roleTemplateId='x')/members", "RoleManagement.Read.Directory"),
        ("/v1.0/users/delta", "User.Read.All"),
    ],
)
def test_a_403_names_the_missing_permission(path, permission):
    body = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}
    error = error_for(403, body, path)
    assert isinstance(error, GraphForbidden)
    assert permission in error.reason and "Authorization_RequestDenied" in error.reason


def test_a_deleted_group_is_named():
    error = error_for(
        404, {"error": {"code": "Request_ResourceNotFound"}}, "/v1.0/groups/abc/transitiveMembers"
    )
    assert isinstance(error, GraphNotFound)
    assert "abc no longer exists" in error.reason


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "syncStateNotFound"),
        (400, "resyncRequired"),
        (410, ""),
        (400, "SyncStateNotFound"),
        (400, "Request_UnsupportedQuery"),
    ],
)
def test_expired_delta_tokens(status, code):
    path = "/v1.0/users/delta?$deltatoken=abc"
    assert isinstance(error_for(status, {"error": {"code": code}}, path), DeltaExpired)


@pytest.mark.parametrize(
    "path", ["/v1.0/users", "/v1.0/users/delta?$select=id", "/v1.0/users/delta?$deltatoken=latest"]
)
def test_a_400_to_anything_but_a_delta_link_is_no_expired_token(path):
    error = error_for(400, {"error": {"code": "Request_UnsupportedQuery"}}, path)
    assert not isinstance(error, DeltaExpired)


def test_other_answers():
    assert isinstance(error_for(401, None, "/v1.0/groups/x"), GraphAuthError)
    assert isinstance(error_for(502, b"", "/v1.0/groups/x"), GraphUnavailable)
    assert error_for(
        400, {"error": {"code": "Request_BadRequest", "message": "bad"}}, "/v1.0/x"
    ).reason.endswith("(400 Request_BadRequest: bad)")


def _entra(error: str, code: int, description: str) -> dict:
    """A token endpoint's error answer as msal hands it over, trace ids and all."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: 3427eb4d\r\nCorrelation ID: 0aa7c9ea",
        "error_codes": [code],
    }


@pytest.mark.parametrize(
    ("result", "credential", "start"),
    [
        (
            _entra("invalid_client", 7000215, "Invalid client secret provided."),
            "secret",
            "the client secret is wrong or expired: AADSTS7000215: Invalid client secret provided; create",
        ),
        (
            _entra("invalid_client", 7000222, "The provided client secret keys for app 'c1' are expired."),
            "secret",
            "the client secret is wrong or expired: AADSTS7000222",
        ),
        (
            _entra("unauthorized_client", 700016, "Application with identifier 'c1' was not found."),
            "client_id",
            "the app c1 is not registered in the tenant t1 or has no admin consent there: AADSTS700016",
        ),
        (
            _entra("invalid_tenant", 90002, "Tenant 't1' not found."),
            "tenant_id",
            "the tenant t1 is unknown to Microsoft's identity platform: AADSTS90002",
        ),
        # The token endpoint answers an unknown tenant with invalid_request: the code tells.
        (_entra("invalid_request", 90002, "Tenant 't1' not found."), "tenant_id", "the tenant t1 is unknown"),
        (
            _entra(
                "invalid_request", 900023, "Specified tenant identifier 't1' is neither a valid DNS name."
            ),
            "tenant_id",
            "the tenant t1 is unknown",
        ),
        ({"error": "unauthorized_client"}, "client_id", "the app c1 is not registered in the tenant t1"),
        ({"error": "invalid_client"}, "secret", "the client secret is wrong or expired (invalid_client)"),
        (
            _entra("invalid_scope", 1002012, "The provided value for scope x is not valid."),
            None,
            "the app cannot be granted Microsoft Graph access",
        ),
        (
            _entra("invalid_request", 90014, "A required field is missing."),
            None,
            "the identity platform refused a token for tenant t1: AADSTS90014",
        ),
    ],
)
def test_token_refusals_name_the_credential_at_fault(result, credential, start):
    error = token_error(result, "t1", "c1")
    assert isinstance(error, GraphAuthError) and error.credential == credential
    assert error.reason.startswith(start), error.reason
    assert "Trace ID" not in error.reason and error.code == result["error"]


def test_secret_and_tenant_reasons_say_what_to_do():
    secret = token_error(_entra("invalid_client", 7000215, "Invalid client secret provided."), "t1", "c1")
    assert "create a new client secret" in secret.reason
    tenant = token_error(_entra("invalid_tenant", 90002, "Tenant 't1' not found."), "t1", "c1")
    assert "check the tenant id" in tenant.reason


@pytest.mark.parametrize("error", ["temporarily_unavailable", "server_error"])
def test_an_identity_platform_out_of_order_is_transient(error):
    failure = token_error(
        {"error": error, "error_description": "AADSTS90033: A transient error."}, "t1", "c1"
    )
    assert isinstance(failure, GraphUnavailable) and failure.transient
    assert failure.reason.startswith("the identity platform gave no token for tenant t1 for now: AADSTS90033")


def test_urls_keep_odata_punctuation_and_encode_the_rest():
    url = build_url("https://g/v1.0", "/groups", {"$search": '"displayName:a&b c"', "$top": 5})
    assert url == "https://g/v1.0/groups?$search=%22displayName:a%26b%20c%22&$top=5"
    assert (
        build_url("https://g/v1.0", "https://g/v1.0/x?$skiptoken=A%2B") == "https://g/v1.0/x?$skiptoken=A%2B"
    )


def test_group_search_drops_quotes_and_backslashes():
    assert search_clause('sales "EU"\\') == '"displayName:sales EU"'
    assert search_clause("O'Brien\n") == '"displayName:O\'Brien"'
    assert "$search" not in search_params("  ", 10) and "$search" not in search_params(' "\\\\ ', 10)
    assert search_params("x", 5000)["$top"] == "999"


def test_batches_hold_twenty_and_split_out_throttled_items():
    ids = [str(i) for i in range(45)]
    assert [len(c) for c in chunks(ids)] == [20, 20, 5]
    assert batch_body({"1": "/users/a/photo"}) == {
        "requests": [{"id": "1", "method": "GET", "url": "/users/a/photo"}]
    }
    done, again, after = split_throttled(
        [
            {"id": "1", "status": 200, "body": {"x": 1}},
            {"id": "2", "status": 429, "headers": {"retry-after": "3"}},
            {"id": "3", "status": 429, "headers": {"Retry-After": "5"}},
            {"id": "4", "status": 404, "body": {"error": {"code": "ImageNotFound"}}},
        ]
    )
    assert [d.id for d in done] == ["1", "4"] and again == ["2", "3"] and after == 5.0
