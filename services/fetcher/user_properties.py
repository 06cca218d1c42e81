"""Which Graph user properties a run reads: exactly those the team's configuration uses."""

from __future__ import annotations

from services.fetcher.scope import properties_of
from shared.config import SyncConfig

# Always read: the object id, the identity (R4: mail, else userPrincipalName) and the names digests show.
IDENTITY = ("id", "displayName", "givenName", "surname", "mail", "userPrincipalName")
# R5: the card fields and the directory properties they are made from.
FIELD_SOURCES: dict[str, tuple[str, ...]] = {
    "name": ("displayName", "givenName", "surname", "userPrincipalName"),
    "email": ("mail", "userPrincipalName"),
    "job_title": ("jobTitle",),
    "company": ("companyName",),
    "phone": ("mobilePhone", "businessPhones"),
    "location": ("streetAddress", "city", "state", "postalCode", "country"),
    "photo": (),
}


def selectable(source: str) -> str:
    """The property to ``$select`` for a mapping source: a nested one selects its parent."""
    return source.split(".", 1)[0]


def user_properties(config: SyncConfig) -> list[str]:
    """The ``$select`` list for the run's users, ``id`` first, the rest sorted."""
    wanted: set[str] = set(IDENTITY)
    for field, sources in FIELD_SOURCES.items():
        toggles = config.toggles(field)
        if toggles.sync or toggles.overwrite:
            wanted.update(sources)
    for mapping in config.custom_mappings:
        if mapping.sync or mapping.overwrite:
            wanted.update(selectable(s) for s in mapping.sources)
    if config.remove_disabled_users:
        wanted.add("accountEnabled")
    wanted.update(properties_of(config.scope))  # R2 scope: each rule is tested on the record read
    wanted.discard("id")
    return ["id", *sorted(wanted)]


def select_param(config: SyncConfig) -> str:
    return ",".join(user_properties(config))
