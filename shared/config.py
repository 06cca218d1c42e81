"""A team's sync configuration (api.md "Sync configuration"), validated once, used by every service."""

from __future__ import annotations

import re
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

CARD_FIELDS = ("name", "email", "job_title", "company", "phone", "location", "photo")
Cadence = Literal["off", "every_15_minutes", "hourly", "daily", "weekly", "monthly", "quarterly"]
DAILY_OR_LONGER = frozenset(
    {"daily", "weekly", "monthly", "quarterly"}
)  # the cadences a time of day applies to

# Graph user properties a custom mapping may read: plain ones, the 15 on-premises extension attributes, and
# schema extensions (extension_<appid without dashes>_<name>).
PLAIN_SOURCES = frozenset(
    {
        "aboutMe",
        "accountEnabled",
        "ageGroup",
        "businessPhones",
        "city",
        "companyName",
        "country",
        "createdDateTime",
        "department",
        "displayName",
        "employeeHireDate",
        "employeeId",
        "employeeType",
        "faxNumber",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mailNickname",
        "mobilePhone",
        "officeLocation",
        "onPremisesDistinguishedName",
        "onPremisesDomainName",
        "onPremisesSamAccountName",
        "onPremisesUserPrincipalName",
        "otherMails",
        "postalCode",
        "preferredLanguage",
        "preferredName",
        "proxyAddresses",
        "state",
        "streetAddress",
        "surname",
        "usageLocation",
        "userPrincipalName",
        "userType",
        "employeeOrgData.division",
        "employeeOrgData.costCenter",
    }
)
# Profile properties Graph returns only for one user at a time: a list of members selecting them is refused,
# so a configuration saved now may not map them (one saved before still reads, so that it can be corrected).
SINGLE_USER_SOURCES = frozenset({"aboutMe", "preferredName"})
_EXTENSION_ATTR = re.compile(r"^onPremisesExtensionAttributes\.extensionAttribute([1-9]|1[0-5])$")
_SCHEMA_EXTENSION = re.compile(r"^extension_[0-9a-fA-F]{32}_[A-Za-z][A-Za-z0-9_]{0,119}$")
LINK_TYPES = frozenset(
    {"email", "phone", "url", "linkedin", "twitter", "instagram", "facebook", "address", "text"}
)


def is_valid_source(source: str) -> bool:
    return source in PLAIN_SOURCES or bool(_EXTENSION_ATTR.match(source) or _SCHEMA_EXTENSION.match(source))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class FieldToggles(Strict):
    """How a sync treats one card field (R7, R8)."""

    sync: bool = Field(default=True, description="fill the field when a sync creates the member")
    overwrite: bool = Field(default=True, description="replace it with the directory's value on later syncs")


# An Entra object id; Graph takes it in either case and always answers with it in lower case.
OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class SyncedGroup(Strict):
    """A directory group whose users the team syncs (R2), one subteam each (R3)."""

    id: str = Field(min_length=1, max_length=64, description="the group's object id")
    display_name: str = Field(default="", max_length=256, description="its name, as the admin picked it")

    @field_validator("id")
    @classmethod
    def _as_graph_answers_it(cls, v: str) -> str:
        """Lower case, as every id Graph sends (a delta round's members@delta among them) is compared with
        it."""
        return v.lower() if OBJECT_ID.fullmatch(v) else v


class FieldTarget(Strict):
    """A custom card field a mapping writes."""

    kind: Literal["field"] = Field(description="a custom field")
    name: str = Field(min_length=1, max_length=64, description="the field's name on the card")


def known_link_type(v: str) -> str:
    if v not in LINK_TYPES:
        raise ValueError(f"unknown link type {v!r}; use one of {', '.join(sorted(LINK_TYPES))}")
    return v


class LinkTarget(Strict):
    """A card link a mapping writes."""

    kind: Literal["link"] = Field(description="a link")
    type: str = Field(description=f"the link's type: {', '.join(sorted(LINK_TYPES))}")
    label: str = Field(min_length=1, max_length=64, description="what the card shows")

    _known_type = field_validator("type")(known_link_type)


class CustomMapping(Strict):
    """A directory user property copied to a card field or link (R6)."""

    source: str = Field(
        description="a user property: e.g. department, onPremisesExtensionAttributes.extensionAttribute1,"
        " extension_<appid>_<name>"
    )
    fallbacks: list[str] = Field(
        default_factory=list, max_length=5, description="properties read in turn when the source is empty"
    )
    target: FieldTarget | LinkTarget = Field(discriminator="kind", description="what it writes on the card")
    sync: bool = Field(default=True, description="fill the target when a sync creates the member")
    overwrite: bool = Field(default=True, description="replace it with the directory's value on later syncs")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not is_valid_source(v):
            raise ValueError(f"unknown directory property {v!r}")
        return v

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if not is_valid_source(s)]
        if bad:
            raise ValueError(
                "unknown directory propert"
                + ("y " if len(bad) == 1 else "ies ")
                + ", ".join(repr(s) for s in bad)
            )
        return v

    @property
    def sources(self) -> list[str]:
        return [self.source, *self.fallbacks]


class RemovalGuard(Strict):
    """Holds a run's removals for an admin's approval when they are too many (R10)."""

    max_percent: float = Field(
        default=20, ge=0, le=100, description="hold above this share of managed members"
    )
    min_count: int = Field(default=10, ge=0, description="and above this many members")


# R2 scope: the user attributes a scope rule may test, and the operators each takes. Every one of them is
# one Microsoft Graph can filter users on (as an advanced query), except ``matches``, a wildcard pattern,
# which only the fetcher applies, after the read.
_TEXT_OPS = frozenset({"eq", "ne", "in", "not_in", "startswith", "matches"})
SCOPE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "userType": frozenset({"eq", "ne", "in", "not_in"}),
    "accountEnabled": frozenset({"eq", "ne"}),
    "employeeType": _TEXT_OPS,
    "department": _TEXT_OPS,
    "companyName": _TEXT_OPS,
    "userPrincipalName": _TEXT_OPS | {"endswith"},
    **{f"onPremisesExtensionAttributes.extensionAttribute{n}": _TEXT_OPS for n in range(1, 16)},
}
ScopeOp = Literal["eq", "ne", "in", "not_in", "startswith", "endswith", "matches"]
_LIST_OPS = frozenset({"in", "not_in"})
_SCOPE_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


class ScopeRule(Strict):
    """One test on a directory user's attribute (R2 scope), e.g. userType eq Guest."""

    attribute: str = Field(
        description="userType, accountEnabled, employeeType, department, companyName, userPrincipalName or "
        "onPremisesExtensionAttributes.extensionAttribute1 to 15"
    )
    op: ScopeOp = Field(
        description="eq, ne, in, not_in, startswith, endswith (userPrincipalName only), matches (a pattern "
        "where * stands for any run of characters and ? for one); compared without regard to case"
    )
    value: StrictStr | StrictBool | None = Field(
        default=None,
        description="the value, for every operator but in and not_in: true or false for accountEnabled, "
        "a string of 1 to 256 characters otherwise",
    )
    values: list[StrictStr] | None = Field(
        default=None, min_length=1, max_length=50, description="the values of in and not_in (1 to 50)"
    )

    @model_validator(mode="after")
    def _well_formed(self) -> ScopeRule:
        ops = SCOPE_ATTRIBUTES.get(self.attribute)
        if ops is None:
            raise ValueError(
                f"unknown attribute {self.attribute!r}; scope rules test "
                + ", ".join(a for a in SCOPE_ATTRIBUTES if "extensionAttribute" not in a)
                + " or onPremisesExtensionAttributes.extensionAttribute1 to 15"
            )
        if self.op not in ops:
            raise ValueError(
                f"{self.attribute} takes the operators {', '.join(sorted(ops))}; {self.op} is not one of them"
            )
        if self.op in _LIST_OPS:
            if self.values is None or self.value is not None:
                raise ValueError(f"{self.op} takes a list in 'values' (and no 'value')")
            bad = [v for v in self.values if not _SCOPE_TEXT.match(v)]
            if bad:
                raise ValueError("each value is 1 to 256 characters, none of them a control character")
            return self
        if self.values is not None or self.value is None:
            raise ValueError(f"{self.op} takes one 'value' (and no 'values')")
        if self.attribute == "accountEnabled":
            if not isinstance(self.value, bool):
                raise ValueError("accountEnabled is compared with true or false")
        elif not isinstance(self.value, str) or not _SCOPE_TEXT.match(self.value):
            raise ValueError(
                f"{self.attribute} is compared with a string of 1 to 256 characters, none of them a control "
                "character"
            )
        return self


class Scope(Strict):
    """Which users of the synced groups the team takes (R2 scope): a user is in scope when it passes every
    include rule and no exclude rule. A user out of scope counts as in no synced group (R9, under R10)."""

    include: list[ScopeRule] = Field(
        default_factory=list, max_length=20, description="rules a user must all pass"
    )
    exclude: list[ScopeRule] = Field(
        default_factory=list, max_length=20, description="rules a user must pass none of"
    )

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


class AdditionGuard(Strict):
    """Holds a run's new members (and their invites) for an admin's approval when they are too many: the
    counterpart of the removal guard (R10). A first sync, of a team with no members yet, is held above
    ``max_count``."""

    max_count: int = Field(default=2000, ge=0, description="hold above this many new members")
    max_percent: float = Field(
        default=100, ge=0, description="and above this share of the managed members the team had"
    )


def unlistable_sources(mappings: list[CustomMapping]) -> list[str]:
    """Each source of ``mappings`` that Graph returns only for one user at a time, as "custom mapping N reads
    X"."""
    return [
        f"custom mapping {i} reads {source}"
        for i, m in enumerate(mappings)
        for source in m.sources
        if source in SINGLE_USER_SOURCES
    ]


UNLISTABLE = "Microsoft Graph returns it only for one user at a time, never for a list of group members"


def _once(keys: list[Any], message: str) -> None:
    """ValueError naming every repeated entry (by index) and the entry it repeats."""
    first: dict[Any, int] = {}
    repeats = []
    for i, key in enumerate(keys):
        if key in first:
            repeats.append(message.format(i=i, first=first[key]))
        else:
            first[key] = i
    if repeats:
        raise ValueError("; ".join(repeats))


def _default_fields() -> dict[str, FieldToggles]:
    return {name: FieldToggles() for name in CARD_FIELDS}


class SyncConfig(Strict):
    """A team's sync configuration."""

    groups: list[SyncedGroup] = Field(default_factory=list, max_length=500, description="the synced groups")
    cadence: Cadence = Field(default="daily", description="how often a run starts on its own (R14)")
    at: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description='time of day "HH:MM" of daily and longer cadences, in `timezone`; none: a time of the '
        "team's own",
    )
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA time zone of `at`, e.g. Europe/Berlin"
    )
    fields: dict[str, FieldToggles] = Field(
        default_factory=_default_fields, description=f"toggles per card field: {', '.join(CARD_FIELDS)}"
    )
    custom_mappings: list[CustomMapping] = Field(
        default_factory=list, max_length=100, description="extra properties to copy (R6)"
    )
    delete_on_removal: bool = Field(
        default=False, description="delete a removed member for good, not only deactivate it (R9)"
    )
    send_invites: bool = Field(default=True, description="email each new member an invite (R11)")
    use_admin_roles: bool = Field(
        default=False, description="make directory administrators team admins (R12)"
    )
    remove_disabled_users: bool = Field(
        default=True, description="remove members whose user is disabled (R2)"
    )
    removal_guard: RemovalGuard = Field(
        default_factory=RemovalGuard, description="when to hold removals (R10)"
    )
    addition_guard: AdditionGuard = Field(
        default_factory=AdditionGuard, description="when to hold new members and their invites (R10)"
    )
    scope: Scope = Field(
        default_factory=Scope, description="which users of the synced groups are synced (R2 scope)"
    )
    realtime: bool = Field(
        default=False,
        description="sync within a minute of a change in the directory, on Graph's change notifications",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{v!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
            ) from None
        return v

    @field_validator("at")
    @classmethod
    def _at_for_long_cadences(cls, v: str | None, info: ValidationInfo) -> str | None:
        cadence = info.data.get("cadence")
        if v is not None and cadence is not None and cadence not in DAILY_OR_LONGER:
            raise ValueError(f"a time of day applies to daily and longer cadences, not to {cadence}")
        return v

    def time_of_day(self) -> time | None:
        return time.fromisoformat(self.at) if self.at else None

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, FieldToggles]) -> dict[str, FieldToggles]:
        unknown = sorted(set(v) - set(CARD_FIELDS))
        if unknown:
            raise ValueError(
                "unknown card field"
                + ("s " if len(unknown) > 1 else " ")
                + ", ".join(repr(f) for f in unknown)
                + f"; fields are {', '.join(CARD_FIELDS)}"
            )
        return {name: v.get(name, FieldToggles()) for name in CARD_FIELDS}

    # Checked as fields, not once the whole configuration is valid, so that a 422 lists them with every other
    # bad field.
    @field_validator("groups")
    @classmethod
    def _groups_once(cls, v: list[SyncedGroup]) -> list[SyncedGroup]:
        _once([g.id for g in v], "group {i} lists the group of group {first} again")
        return v

    @field_validator("custom_mappings")
    @classmethod
    def _targets_once(cls, v: list[CustomMapping]) -> list[CustomMapping]:
        _once(
            [
                (m.target.kind, m.target.name if isinstance(m.target, FieldTarget) else m.target.label)
                for m in v
            ],
            "custom mapping {i} writes the target of custom mapping {first} again",
        )
        return v

    def toggles(self, field: str) -> FieldToggles:
        # Validation fills in every card field: a default is built only for a name that is not one.
        found = self.fields.get(field)
        return found if found is not None else FieldToggles()
