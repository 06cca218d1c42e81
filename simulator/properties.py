"""Graph's property sets per object type, and shaping stored objects into what Graph returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.errors import bad_request

USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
USER_PROPERTIES = frozenset(USER_DEFAULT) | {
    "accountEnabled",
    "ageGroup",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "department",
    "employeeHireDate",
    "employeeId",
    "employeeOrgData",
    "employeeType",
    "faxNumber",
    "mailNickname",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesSamAccountName",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "postalCode",
    "proxyAddresses",
    "state",
    "streetAddress",
    "usageLocation",
    "userType",
}
GROUP_DEFAULT = (
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
)
GROUP_PROPERTIES = frozenset(GROUP_DEFAULT) | {"membershipRule", "isAssignableToRole", "classification"}
OTHER_PROPERTIES = {
    "device": (
        "id",
        "accountEnabled",
        "deviceId",
        "displayName",
        "operatingSystem",
        "operatingSystemVersion",
    ),
    "servicePrincipal": (
        "id",
        "accountEnabled",
        "appDisplayName",
        "appId",
        "displayName",
        "servicePrincipalType",
    ),
    "orgContact": ("id", "companyName", "displayName", "givenName", "mail", "surname", "jobTitle"),
}
DEFAULTS: dict[str, tuple[str, ...]] = {"user": USER_DEFAULT, "group": GROUP_DEFAULT, **OTHER_PROPERTIES}
KNOWN: dict[str, frozenset[str]] = {
    "user": USER_PROPERTIES,
    "group": GROUP_PROPERTIES,
    **{k: frozenset(v) for k, v in OTHER_PROPERTIES.items()},
}


def parse_select(raw: str | None) -> tuple[str, ...] | None:
    if not raw:
        return None
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


def check_select(
    select: tuple[str, ...] | None, object_type: str, extra: frozenset[str] = frozenset()
) -> None:
    for name in select or ():
        if name not in KNOWN[object_type] and name not in extra and not name.startswith("extension_"):
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.{object_type}'."
            )


def shaper(
    object_type: str, select: tuple[str, ...] | None, typed: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What Graph returns for objects of a type: selected (or default) properties, null when unset, and id.

    Directory extensions are returned only when selected and set; properties of other types are left out.
    """
    head = {"@odata.type": f"#microsoft.graph.{object_type}"} if typed else {}
    wanted = select or DEFAULTS[object_type]
    names = [n for n in wanted if n in KNOWN[object_type] and n != "id"]
    extensions = [n for n in wanted if n.startswith("extension_")]

    def shape_one(obj: dict[str, Any]) -> dict[str, Any]:
        out = head.copy()  # runs for every object of every page: a plain loop is the cheapest build
        for name in names:
            out[name] = obj.get(name)
        for name in extensions:
            if name in obj:
                out[name] = obj[name]
        out["id"] = obj["id"]
        return out

    return shape_one


def shape(
    obj: dict[str, Any], object_type: str, select: tuple[str, ...] | None, typed: bool
) -> dict[str, Any]:
    return shaper(object_type, select, typed)(obj)


def bare(object_id: str, object_type: str) -> dict[str, Any]:
    return {"@odata.type": f"#microsoft.graph.{object_type}", "id": object_id}
