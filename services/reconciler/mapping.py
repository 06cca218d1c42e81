"""R5 and R6: a raw Graph user becomes the card it should be. Pure."""

from __future__ import annotations

from typing import Any

from services.reconciler.model import LinkValue, MappedCard
from shared.card_links import link_problem
from shared.config import FieldTarget, SyncConfig

ADDRESS_PARTS = ("streetAddress", "city", "state", "postalCode", "country")


class SkipUser(ValueError):
    """A directory record that cannot become a member; the message goes on the run's member errors."""


def text(value: Any) -> str | None:
    """A property value as trimmed text; blanks, objects and empty lists are None, a list gives its first
    text."""
    if type(value) is str:  # nearly every value: the fast way first
        return value.strip() or None
    if isinstance(value, list):
        return next((t for t in map(text, value) if t), None)
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        value = str(value).lower()
    return str(value).strip() or None


def prop(properties: dict[str, Any], source: str) -> str | None:
    """A property by its Graph name; ``parent.child`` reads a nested one (onPremisesExtensionAttributes)."""
    if "." not in source:
        return text(properties.get(source))
    parent, _, child = source.partition(".")
    value = properties.get(parent)
    return text(value.get(child) if isinstance(value, dict) else None)


def first(properties: dict[str, Any], *sources: str) -> str | None:
    return next((v for s in sources if (v := prop(properties, s))), None)


def link_value(kind: str, value: str) -> str:
    """The link a directory value makes: mailto: and tel: links for email and phone (so always safe ones), the
    value itself for any other kind (``link_problem`` decides whether it may be one)."""
    if kind == "email":
        return f"mailto:{value}"
    if kind == "phone":
        return "tel:" + "".join(value.split())
    return value


def _name(p: dict[str, Any]) -> str | None:
    if name := prop(p, "displayName"):
        return name
    given = " ".join(filter(None, (prop(p, "givenName"), prop(p, "surname"))))
    if given:
        return given
    upn = prop(p, "userPrincipalName")
    return upn.split("@", 1)[0].strip() or None if upn else None


def default_fields(p: dict[str, Any]) -> dict[str, str | None]:
    location = ", ".join(filter(None, (prop(p, part) for part in ADDRESS_PARTS)))
    return {
        "name": _name(p),
        "email": first(p, "mail", "userPrincipalName"),
        "job_title": prop(p, "jobTitle"),
        "company": prop(p, "companyName"),
        "phone": first(p, "mobilePhone", "businessPhones"),
        "location": location or None,
    }


def map_user(properties: dict[str, Any], config: SyncConfig, directory_id: str | None = None) -> MappedCard:
    """The card for one directory user; raises SkipUser for a record that cannot be a member."""
    directory_id = text(directory_id or properties.get("id"))
    if not directory_id:
        raise SkipUser("the directory user has no object id")
    fields = default_fields(properties)
    email = fields["email"]
    # The email is trimmed: more than one word means it has whitespace inside.
    if not email or "@" not in email or len(email.split()) != 1:
        raise SkipUser(f"directory user {directory_id} has no usable email (mail or userPrincipalName)")
    custom: dict[str, str | None] = {}
    links: dict[str, LinkValue | None] = {}
    refused: dict[str, str] = {}
    for mapping in config.custom_mappings:
        value = first(properties, *mapping.sources)
        target = mapping.target
        if isinstance(target, FieldTarget):
            custom[target.name] = value
            continue
        source = f"mapping:{target.label}"
        link = link_value(target.type, value) if value else None
        if link is not None and (problem := link_problem(link)):
            refused[source] = (
                f"the card link {target.label} was not synced: the directory's value {problem};"
                f" correct {' or '.join(mapping.sources)} in the directory"
            )
            link = None
        links[source] = LinkValue(target.type, target.label, link) if link else None
    return MappedCard(
        directory_id=directory_id,
        login_email=prop(properties, "userPrincipalName") or email,
        fields=fields,
        custom=custom,
        links=links,
        enabled=properties.get("accountEnabled") is not False,
        refused=refused,
    )
