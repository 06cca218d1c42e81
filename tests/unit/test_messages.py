import orjson
import pytest
from pydantic import ValidationError

from shared.messages import (
    ALL_MESSAGES,
    BY_ROUTING_KEY,
    AdminDigestRequested,
    CredentialExpiring,
    DirectoryUser,
    FetchedPhoto,
    GroupInfo,
    InviteRequested,
    InvitesRequested,
    MembersFetched,
    PendingInvitesRequested,
    PhotosFetched,
    RunApplied,
    RunApproved,
    SnapshotCompleted,
    SnapshotFailed,
    SyncRequested,
    WebhookEvent,
)

EXAMPLES = [
    SyncRequested(team_id="t", run_id="r", dry_run=True, trigger="schedule"),
    MembersFetched(
        team_id="t",
        run_id="r",
        seq=3,
        group_id="g",
        users=[
            DirectoryUser(id="u1", properties={"displayName": 'Zoë "Z" O\'Brien\n', "businessPhones": ["1"]})
        ],
    ),
    SnapshotCompleted(
        team_id="t",
        run_id="r",
        pages=4,
        groups=[GroupInfo(id="g", display_name="Sales")],
        roles={"62e90394-69f5-4237-9190-012177145e10": ["u1"]},
        graph_requests=12,
    ),
    SnapshotFailed(team_id="t", run_id="r", reason="the client secret has expired"),
    InviteRequested(team_id="t", member_id="m", run_id="r"),
    InvitesRequested(team_id="t", member_ids=["m1", "m2"], run_id="r"),
    AdminDigestRequested(team_id="t", run_id="r", kind="held"),
    PendingInvitesRequested(team_id="t"),
    RunApproved(team_id="t", run_id="r"),
    CredentialExpiring(
        team_id="t", expires_at="2027-01-01T00:00:00Z", days=7, credential_type="certificate", thumbprint="AB"
    ),
    WebhookEvent(team_id="t", run_id="r", event="member.created", seq=1, member_ids=["m1", "m2"]),
    RunApplied(team_id="t", run_id="r"),
    PhotosFetched(
        team_id="t",
        run_id="r",
        attempt="a",
        seq=2,
        photos=[
            FetchedPhoto(directory_id="u1", etag='W/"1"', content_type="image/png", data_b64="iVBORw=="),
            FetchedPhoto(directory_id="u2", etag=None, content_type=None),
        ],
    ),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_is_lossless(message):
    assert type(message).from_bytes(message.to_bytes()) == message


def test_every_message_has_its_own_routing_key_and_id():
    assert len(BY_ROUTING_KEY) == len(ALL_MESSAGES)
    a, b = SyncRequested(team_id="t", run_id="r"), SyncRequested(team_id="t", run_id="r")
    assert a.message_id != b.message_id
    assert a.schema_version == 1


def test_messages_are_frozen():
    message = SyncRequested(team_id="t", run_id="r")
    with pytest.raises(ValidationError):
        message.run_id = "other"


def test_missing_fields_are_refused():
    with pytest.raises(ValidationError):
        SyncRequested.from_bytes(b'{"team_id": "t"}')


def test_a_members_page_is_written_as_pydantic_would_and_read_back_typed():
    page = EXAMPLES[1]
    assert orjson.loads(page.to_bytes()) == orjson.loads(page.model_dump_json())
    [user] = MembersFetched.from_bytes(page.to_bytes()).users
    assert isinstance(user, DirectoryUser) and user == page.users[0]


@pytest.mark.parametrize(
    "users",
    [
        [{"id": "u1", "properties": ["not", "an", "object"]}],
        [{"id": 7, "properties": {}}],
        [{"properties": {}}],
        ["u1"],
        {"id": "u1"},
        None,
    ],
)
def test_a_members_page_with_malformed_users_is_refused(users):
    body = orjson.loads(EXAMPLES[1].to_bytes())
    body["users"] = users
    with pytest.raises(ValueError, match="users"):
        MembersFetched.from_bytes(orjson.dumps(body))


@pytest.mark.parametrize("body", [b"[]", b"{", b'{"team_id": "t", "run_id": "r", "users": []}'])
def test_a_malformed_members_page_is_refused(body):
    with pytest.raises(ValueError):
        MembersFetched.from_bytes(body)
