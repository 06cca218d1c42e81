"""The values the pure core works on: a directory user mapped to a card, a current member, a member action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CARD_COLUMNS = ("name", "email", "job_title", "company", "phone", "location")
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
GROUPS_ADMIN = "fdd7a751-b60b-444a-984c-02652fe8fa1c"


def email_key(value: str | None) -> str:
    return (value or "").strip().lower()


@dataclass(frozen=True, slots=True)
class LinkValue:
    type: str
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class MappedCard:
    """A directory user as the card it should become (R5, R6): values trimmed, blanks as None. ``refused``:
    the link sources whose directory value may not be a card link, with the member error that says why."""

    directory_id: str
    login_email: str
    fields: dict[str, str | None]
    custom: dict[str, str | None] = field(default_factory=dict)
    links: dict[str, LinkValue | None] = field(default_factory=dict)
    enabled: bool = True
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def email_key(self) -> str:
        return email_key(self.fields.get("email"))

    @property
    def login_key(self) -> str:
        return email_key(self.login_email)

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.directory_id,
            "login": self.login_email,
            "f": self.fields,
            "c": self.custom,
            "l": {s: None if v is None else [v.type, v.label, v.value] for s, v in self.links.items()},
            "en": self.enabled,
        }
        if self.refused:  # rare: most staged cards go without the key
            data["x"] = self.refused
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MappedCard:
        return cls(
            directory_id=data["id"],
            login_email=data["login"],
            fields=data["f"],
            custom=data["c"],
            links={s: None if v is None else LinkValue(*v) for s, v in data["l"].items()},
            enabled=data["en"],
            refused=data.get("x", {}),
        )


@dataclass(frozen=True, slots=True)
class Observed:
    """What a snapshot says about one directory user. Full mode: ``groups`` are all its synced groups.
    Delta mode: ``groups`` were joined, ``left`` were left, ``gone`` means it left every group."""

    directory_id: str
    card: MappedCard | None
    groups: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()
    gone: bool = False


@dataclass(slots=True)
class CurrentMember:
    member_id: str
    account_id: str
    directory_id: str | None
    managed: bool
    status: str
    fields: dict[str, str | None]
    custom: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    subteams: dict[str, tuple[str, bool]] = field(default_factory=dict)
    role: str = "member"
    role_from_sync: bool = False
    invite_status: str | None = None
    # The account's login email when this team's sync made the account, and so keeps it equal to the user's
    # userPrincipalName (R4, R5); None when the login is the person's own (a claimed or hand-made account).
    sync_login: str | None = None


Role = tuple[str, bool]  # (role, given by a sync)
PLAIN: Role = ("member", False)


@dataclass(frozen=True, slots=True)
class Roles:
    """R12's outcome for one directory user and its member, decided in SQL (``role_rules.py``): the team role
    the member takes (None: it keeps its own), the subteam places whose role changes, the role of a place it
    joins."""

    team: Role | None = None
    places: dict[str, Role] = field(default_factory=dict)
    joined: Role = PLAIN


NO_ROLES = Roles()


@dataclass(slots=True)
class MemberAction:
    """One member's part of a plan. ``kind``: create, update, unchanged, remove, skip or none."""

    kind: str
    directory_id: str | None = None
    member_id: str | None = None
    account_id: str | None = None
    card: MappedCard | None = None
    fields: dict[str, str | None] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, LinkValue | None] = field(default_factory=dict)
    join: dict[str, Role] = field(default_factory=dict)
    leave: frozenset[str] = frozenset()
    subteam_roles: dict[str, Role] = field(default_factory=dict)
    role: Role | None = None
    status: str | None = None
    bind: bool = False
    invite: bool = False
    hard: bool = False
    reason: str | None = None
