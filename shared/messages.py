"""The typed messages the services exchange. JSON on the wire; every one may arrive twice or late.

Commands are imperative (the ones an admin's action starts, ``SyncRequested`` and ``PendingInvitesRequested``,
are named for what the admin did); events are in the past tense. Each message has its own ``message_id`` (for
the consumers' inboxes) and a ``schema_version``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    routing_key: ClassVar[str]
    message_id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="unique per message")
    schema_version: int = 1
    sent_at: datetime = Field(default_factory=_now)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Message:
        # pydantic's own JSON parser builds the model without an intermediate dict: faster on large pages.
        return cls.model_validate_json(body)


class RunMessage(Message):
    team_id: str
    run_id: str


class SyncRequested(RunMessage):
    """A run was queued (Sync Now, a cadence come due, a change notification): fetch the team's directory."""

    routing_key: ClassVar[str] = "sync.requested"
    dry_run: bool = False
    trigger: Literal["manual", "schedule", "notification"] = "manual"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """One directory user as Graph returned it: its object id and its Graph properties, by their Graph names.

    A plain dataclass, not a model: a full read makes one per user of the tenant, and orjson writes them as
    they are. Pydantic still validates every one in a message that is read."""

    id: str
    properties: dict[str, Any]


class MembersFetched(RunMessage):
    """One page of the transitive user members of one synced group."""

    routing_key: ClassVar[str] = "snapshot.members"
    attempt: str = Field(default="", description="the fetch this page belongs to; a refetch starts a new one")
    seq: int = Field(description="page number within the attempt, from 0, unique across groups")
    group_id: str | None = Field(description="the synced group these users belong to; None for delta pages")
    users: list[DirectoryUser]
    removed_ids: list[str] = Field(default_factory=list, description="delta only: users gone from the group")

    def to_bytes(self) -> bytes:
        """The same JSON as ``model_dump_json``, the users written by orjson: their properties are plain JSON
        values from Graph, and pages of 999 of them are the bulk of a full read."""
        body = self.model_dump(mode="json", exclude={"users"})
        body["users"] = self.users
        return orjson.dumps(body)

    @classmethod
    def from_bytes(cls, body: bytes) -> MembersFetched:
        """The envelope validated by pydantic, the users by ``directory_users``: the same checks, at about 60%
        of pydantic's cost on a page of 999."""
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise ValueError("a MembersFetched body is a JSON object")  # noqa: TRY004 - read as malformed
        users = directory_users(data.pop("users", None))
        return cls.model_validate(data | {"users": []}).model_copy(update={"users": users})


def directory_users(raw: object) -> list[DirectoryUser]:
    """A page's users from their JSON; ValueError for anything that is not a list of {id: str, properties:
    object}."""
    if not isinstance(raw, list):
        raise ValueError("users: a list is required")  # noqa: TRY004 - read as malformed
    users = []
    for n, item in enumerate(raw):
        if not (
            isinstance(item, dict)
            and isinstance(uid := item.get("id"), str)
            and isinstance(properties := item.get("properties"), dict)
        ):
            raise ValueError(  # noqa: TRY004 - read as malformed
                f"users[{n}]: an object with a string id and an object of properties is required"
            )
        users.append(DirectoryUser(uid, properties))
    return users


class GroupInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    display_name: str


class SnapshotCompleted(RunMessage):
    """Every page of the run was sent: ``pages`` says how many, so the reconciler knows it has them all."""

    routing_key: ClassVar[str] = "snapshot.completed"
    attempt: str = Field(default="", description="only the pages of this attempt make the snapshot")
    pages: int
    mode: Literal["full", "delta"] = "full"
    groups: list[GroupInfo]
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="role template id -> directory ids of its members"
    )
    graph_requests: int = 0
    skipped: list[dict[str, str]] = Field(
        default_factory=list, description="records the fetcher could not read"
    )
    excluded: list[dict[str, str]] = Field(
        default_factory=list,
        description="users of the synced groups the scope rules leave out (R2), the first 1,000 read: "
        "directory_id, name, email, rule",
    )
    excluded_count: int = Field(default=0, ge=0, description="how many users the scope rules left out")
    photos: bool = Field(
        default=False,
        description="the fetcher checks the members' photos once the run is applied: the run waits for them",
    )
    gone_groups: list[str] = Field(
        default_factory=list,
        description="synced groups the directory no longer has (Graph answered 404): not read; their"
        " members who are in no other synced group are kept, not removed",
    )


class SnapshotFailed(RunMessage):
    routing_key: ClassVar[str] = "snapshot.failed"
    reason: str = Field(description="what went wrong, in words an admin understands")
    cause: str = Field(default="unknown", description="its cause, one of shared.failures.Cause")
    graph_requests: int = 0


class FetchedPhoto(BaseModel):
    """A user's profile photo, changed or seen for the first time; or, without a content type, gone."""

    model_config = ConfigDict(frozen=True)

    directory_id: str
    etag: str | None
    content_type: str | None = Field(description="None when the user has no photo any more")
    data_b64: str | None = None


class PhotosFetched(RunMessage):
    """The photos one check of an applied run found changed, together: photos travel apart from members, after
    them, and are stored together."""

    routing_key: ClassVar[str] = "photos.fetched"
    attempt: str = Field(
        description="the photo step this belongs to; a redelivered RunApplied starts another"
    )
    seq: int = Field(description="message number within the attempt, from 0")
    photos: list[FetchedPhoto]


class PhotosCompleted(RunMessage):
    """The photo check of an applied run is over: ``messages`` PhotosFetched of its ``attempt`` were sent, and
    the run ends once they are stored."""

    routing_key: ClassVar[str] = "photos.completed"
    attempt: str
    messages: int
    graph_requests: int = 0
    error: str | None = Field(
        default=None, description="why the check stopped short, in words an admin understands; the run fails"
    )
    cause: str | None = Field(default=None, description="the error's cause, one of shared.failures.Cause")


class PhotosStored(RunMessage):
    """The reconciler stored the photos of a PhotosFetched (set on their members, or staged for members to
    come): the fetcher records their etags now, so that a photo lost on its way is fetched again."""

    routing_key: ClassVar[str] = "photos.stored"
    etags: dict[str, str | None] = Field(
        description="directory id -> the etag of the photo stored; None for a photo removed"
    )
    forget: list[str] = Field(
        default_factory=list,
        max_length=1_000_000,
        description="directory ids whose member (and photo) went outside a sync, an undo's: their next member"
        " is checked from scratch",
    )


class RunApplied(RunMessage):
    """The reconciler committed a run's apply (its removals perhaps held for approval): the run's members
    exist, and what follows an apply (the photo step) may start."""

    routing_key: ClassVar[str] = "run.applied"
    photos: bool = Field(
        default=False, description="its snapshot promised a photo check, which the run waits for"
    )


class RunApproved(RunMessage):
    """An admin approved the removals a held run holds (R10); the run is ``reconciling`` again until they are
    applied."""

    routing_key: ClassVar[str] = "run.approved"


class RunUndoRequested(RunMessage):
    """An admin asked to undo the run ``undoes``: ``run_id`` is the undo run, queued; the reconciler puts the
    members back as the journal of ``undoes`` has them."""

    routing_key: ClassVar[str] = "run.undo"
    undoes: str


class MergeDecided(RunMessage):
    """An admin accepted or rejected a proposed merge (R4): ``run_id`` is the queued run that applies the
    decision, from what the proposing run saw of the directory user."""

    routing_key: ClassVar[str] = "merge.decided"
    merge_id: str


class InviteRequested(Message):
    """One member to invite (R11): the held additions an approval lets in, and messages written before
    ``InvitesRequested``."""

    routing_key: ClassVar[str] = "notify.invite"
    team_id: str
    member_id: str
    run_id: str | None = None


class InvitesRequested(Message):
    """Members of one team to invite (R11), at most ``INVITE_BATCH`` a message; each is emailed once, as in
    ``InviteRequested``. One message for many: a first sync invites every member, and a message apiece cost
    the outbox, the broker and the notifier more than the emails did."""

    routing_key: ClassVar[str] = "notify.invites"
    team_id: str
    member_ids: list[str]
    run_id: str | None = None


INVITE_BATCH = 500


class AdminDigestRequested(Message):
    routing_key: ClassVar[str] = "notify.digest"
    team_id: str
    run_id: str
    kind: Literal["summary", "held"] = "summary"
    # A summary sent once a held run's removals are approved and applied: it lists who left, not who joined
    # again (a notifier that predates the flag ignores it and sends the whole summary).
    approved: bool = False


class RunNoticeRequested(RunMessage):
    """Tell the team's admins that its syncs began to fail (this run is the first of the streak), work again
    (this run ended the streak), or that synced groups are gone from the directory (R9: their members are
    held)."""

    routing_key: ClassVar[str] = "notify.run_notice"
    kind: Literal["failed", "fixed", "group_gone"]
    day: date = Field(
        description="the UTC day the run ended: an admin gets one failure notice a team and day"
    )
    groups: list[str] = Field(default_factory=list, description="group_gone: the groups, by name")


class PendingInvitesRequested(Message):
    """An admin asked for the team's pending invites to be sent: queue each, and send it once. With
    ``member_id``, only that member's invite, sent again even when it was sent before."""

    routing_key: ClassVar[str] = "notify.pending_invites"
    team_id: str
    member_id: str | None = None


class CredentialExpiring(Message):
    """A team's directory credential (client secret or certificate) expires within ``days`` days: email its
    admins, once per team, expiry and notice."""

    routing_key: ClassVar[str] = "notify.credential_expiring"
    team_id: str
    expires_at: datetime
    days: int = Field(description="the notice: 30 or 7 days before the expiry")
    credential_type: Literal["secret", "certificate"]
    thumbprint: str | None = None


class WebhookEvent(Message):
    """Something a team's webhooks subscribe to happened: the notifier makes one delivery for each webhook of
    the team that takes ``event``. Member events come a batch of at most ``WEBHOOK_BATCH`` member ids at a
    time (``seq`` numbers the batches of one run and event)."""

    routing_key: ClassVar[str] = "notify.webhook"
    team_id: str
    run_id: str
    event: Literal["member.created", "member.updated", "member.removed", "run.finished"]
    seq: int = 0
    member_ids: list[str] = Field(default_factory=list)


WEBHOOK_BATCH = 500

ALL_MESSAGES: tuple[type[Message], ...] = (
    SyncRequested,
    MembersFetched,
    SnapshotCompleted,
    SnapshotFailed,
    PhotosFetched,
    PhotosCompleted,
    PhotosStored,
    RunApplied,
    RunApproved,
    RunUndoRequested,
    MergeDecided,
    InviteRequested,
    InvitesRequested,
    AdminDigestRequested,
    RunNoticeRequested,
    PendingInvitesRequested,
    CredentialExpiring,
    WebhookEvent,
)
BY_ROUTING_KEY: dict[str, type[Message]] = {m.routing_key: m for m in ALL_MESSAGES}
