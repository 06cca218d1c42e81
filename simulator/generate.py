"""A realistic generated tenant: people with titles, phones and addresses; department groups nested under
an all-staff group and teams nested in departments; project groups of Zipf-like sizes; devices, service
principals and a contact among the members; administrators; a share of users with photos."""

from __future__ import annotations

import random
import unicodedata
import uuid
from itertools import accumulate
from typing import Any

from simulator import names
from simulator.images import jpeg, png
from simulator.tenant import GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR, Tenant

_NO_EXTENSIONS = {f"extensionAttribute{i}": None for i in range(1, 16)}  # shared: never mutated in place
_COLOURS = ((0, 120, 212), (16, 124, 16), (216, 59, 1), (135, 100, 184), (0, 153, 188), (232, 17, 35))


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _photos() -> list[tuple[bytes, str]]:
    """A handful of distinct images, shared by every user who has a photo."""
    return [(jpeg(c), "image/jpeg") for c in _COLOURS] + [(png(c), "image/png") for c in _COLOURS[:2]]


def _zipf_weights(count: int) -> list[float]:
    return list(accumulate(1.0 / (rank + 1) for rank in range(count)))


def _user(rng: random.Random, index: int, domain: str, company: str) -> dict[str, Any]:
    given, surname = rng.choice(names.GIVEN_NAMES), rng.choice(names.SURNAMES)
    city, state, postal, country, prefix = rng.choice(names.OFFICES)
    # Entra user principal names are ASCII: "Zoë" signs in as "zoe".
    local = unicodedata.normalize("NFKD", f"{given}.{surname}{index}").encode("ascii", "ignore").decode()
    local = local.lower().replace("'", "")
    upn = f"{local}@{domain}"
    user: dict[str, Any] = {
        "id": _guid(rng),
        "displayName": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
        "userPrincipalName": upn,
        "mail": upn,
        "jobTitle": rng.choice(names.TITLES),
        "department": rng.choice(names.DEPARTMENTS),
        "companyName": company,
        "businessPhones": [f"{prefix} {rng.randrange(1000, 9999)}"],
        "officeLocation": f"{city} {rng.randrange(1, 9)}",
        "streetAddress": f"{rng.randrange(1, 300)} {rng.choice(names.STREETS)}",
        "city": city,
        "postalCode": postal,
        "country": country,
        "accountEnabled": rng.random() > 0.03,
        "employeeId": f"E{100000 + index}",
        "preferredLanguage": rng.choice(names.LANGUAGES),
        "onPremisesExtensionAttributes": _NO_EXTENSIONS,
        "userType": "Member",
    }
    if state:
        user["state"] = state
    if rng.random() < 0.7:
        user["mobilePhone"] = f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
    if rng.random() < 0.2:
        user["onPremisesExtensionAttributes"] = {
            **_NO_EXTENSIONS,
            "extensionAttribute1": f"CC-{rng.randrange(100, 999)}",
        }
    return user


def _group_names(count: int) -> list[tuple[str, str]]:
    out = [("All Staff", "Everyone in the company")]
    for i in range(1, count):
        base = names.DEPARTMENTS[(i - 1) % len(names.DEPARTMENTS)]
        lap = (i - 1) // len(names.DEPARTMENTS)
        project = names.PROJECTS[(i - 1) % len(names.PROJECTS)]
        out.append(
            (f"{base}" if lap == 0 else f"{base} – Team {lap}", f"{base} people")
            if i % 3
            else (f"Project {project}" + (f" {lap}" if lap else ""), f"Project {project}")
        )
    return out


def generate_tenant(
    users: int,
    groups: int,
    nesting: int = 2,
    photo_share: float = 0.3,
    seed: int = 1,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Tenant:
    rng = random.Random(seed)
    tenant = Tenant(tenant_id or _guid(rng))
    company = f"Fabrikam {tenant.tenant_id[:4].upper()}"
    tenant.register_app(client_id or _guid(rng), client_secret or f"sim~{rng.getrandbits(160):040x}")
    user_ids = [tenant.add_user(**_user(rng, i, tenant.domain, company)) for i in range(users)]
    group_ids = [
        tenant.add_group(
            id=_guid(rng), displayName=n, description=d, mailNickname=n.lower().replace(" ", "-")
        )
        for n, d in _group_names(max(groups, 0))
    ]
    homes = _nest(tenant, group_ids, nesting, rng)
    _place_users(tenant, user_ids, homes, group_ids, rng)
    _add_other_members(tenant, group_ids, users, rng)
    for role, count in ((GLOBAL_ADMINISTRATOR, 2), (GROUPS_ADMINISTRATOR, 2)):
        for uid in rng.sample(user_ids, min(count, len(user_ids))):
            tenant.assign_role(role, uid)
    pool = _photos()
    for uid in user_ids:
        if rng.random() < photo_share:
            tenant.set_photo(uid, *rng.choice(pool))
    tenant.changes.entries.clear()  # the generated state is the starting point, not a change
    return tenant


def _nest(tenant: Tenant, group_ids: list[str], nesting: int, rng: random.Random) -> list[str]:
    """Nest two groups of every three (the third is a project group); return the groups users join first."""
    if len(group_ids) <= 1 or nesting < 1:
        return group_ids
    nested = [gid for i, gid in enumerate(group_ids[1:], 1) if i % 3]
    level1 = nested[: max(1, len(nested) // 3)] if nesting >= 2 else nested
    for gid in level1:
        tenant.add_member(group_ids[0], gid)
    for gid in nested[len(level1) :]:
        tenant.add_member(rng.choice(level1), gid)
    return nested or group_ids[1:]


def _place_users(
    tenant: Tenant, user_ids: list[str], homes: list[str], group_ids: list[str], rng: random.Random
) -> None:
    projects = [gid for gid in group_ids[1:] if gid not in homes]
    home_weights, project_weights = _zipf_weights(len(homes)), _zipf_weights(len(projects))
    for uid, home in zip(
        user_ids, rng.choices(homes, cum_weights=home_weights, k=len(user_ids)), strict=True
    ):
        tenant.members[home].add(uid)
        if projects and rng.random() < 0.2:
            for project in set(rng.choices(projects, cum_weights=project_weights, k=rng.randint(1, 3))):
                tenant.members[project].add(uid)
    tenant.membership_version += 1


def _add_other_members(tenant: Tenant, group_ids: list[str], users: int, rng: random.Random) -> None:
    if not group_ids:
        return
    for _ in range(min(20, 1 + users // 500)):
        device = tenant.add_device(
            id=_guid(rng),
            displayName=f"LAPTOP-{rng.getrandbits(24):06X}",
            deviceId=_guid(rng),
            operatingSystem="Windows",
            accountEnabled=True,
        )
        tenant.add_member(rng.choice(group_ids), device)
    for i in range(min(5, 1 + users // 2000)):
        app = tenant.add_service_principal(
            id=_guid(rng),
            displayName=f"Provisioning Connector {i + 1}",
            appId=_guid(rng),
            servicePrincipalType="Application",
            accountEnabled=True,
        )
        tenant.add_member(rng.choice(group_ids), app)
    contact = tenant.add_contact(
        id=_guid(rng), displayName="Pat Partner", mail="pat@partner.example", companyName="Partner Ltd"
    )
    tenant.add_member(group_ids[0], contact)
