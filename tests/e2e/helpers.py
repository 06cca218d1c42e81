"""Small tenants and a team client for the end-to-end rule tests: everything goes through the control API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, TypeVar

import aiohttp

from shared.mailsink import MailSink
from simulator import Simulator, Tenant

CLIENT_ID = "7c0d3b4e-1f2a-4b5c-8d6e-9f0a1b2c3d4e"
SECRET = "e2e~rules-client-secret"
ADMIN = "boss@contoso.example"
ENDED = ("succeeded", "failed", "held")
T = TypeVar("T")


async def until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 60.0, every: float = 0.1
) -> T:
    """Poll ``fetch`` until ``done`` holds for its value; fail with the last value at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last value: {value!r}")
        await asyncio.sleep(every)


def person(tenant: Tenant, i: int, **extra: Any) -> dict[str, Any]:
    """The directory properties of a deterministic user number ``i``."""
    upn = f"user{i:03d}@{tenant.domain}"
    return {
        "displayName": f"Person {i:03d}",
        "givenName": "Person",
        "surname": f"{i:03d}",
        "userPrincipalName": upn,
        "mail": upn,
        "jobTitle": f"Title {i}",
        "companyName": "Contoso",
        "mobilePhone": f"+1 555 010 {i:04d}",
        "businessPhones": [],
        "city": "Redmond",
        "country": "US",
        "department": f"Dept {i % 3}",
        "accountEnabled": True,
        **extra,
    }


def small_tenant(simulator: Simulator, users: int, groups: tuple[str, ...] = ("Staff",)) -> Tenant:
    """Every user is in the first group; user i is also in group k > 0 when i % len(groups) == k."""
    tenant = Tenant()
    tenant.register_app(CLIENT_ID, SECRET)
    group_ids = [tenant.add_group(displayName=name, description=name) for name in groups]
    for i in range(users):
        uid = tenant.add_user(**person(tenant, i))
        tenant.add_member(group_ids[0], uid)
        if len(groups) > 1 and i % len(groups):
            tenant.add_member(group_ids[i % len(groups)], uid)
    tenant.changes.entries.clear()
    return simulator.add_tenant(tenant)


def user_ids(tenant: Tenant) -> list[str]:
    """The tenant's users in creation order (user000 first)."""
    return sorted(tenant.users, key=lambda uid: tenant.users[uid]["userPrincipalName"])


def group_id(tenant: Tenant, name: str) -> str:
    return next(gid for gid, g in tenant.groups.items() if g["displayName"] == name)


@dataclass
class Team:
    api: aiohttp.ClientSession
    id: str

    @property
    def path(self) -> str:
        return f"api/v1/teams/{self.id}"

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        async with self.api.request(method, f"{self.path}{path}", **kwargs) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == expect, (resp.status, body)
            return body

    async def configure(self, expect: int = 200, **changes: Any) -> dict[str, Any]:
        """Read the configuration, change top-level keys (``fields`` entries merge), save it with its ETag."""
        async with self.api.get(f"{self.path}/sync/config") as resp:
            config, etag = await resp.json(), resp.headers["ETag"]
        config.pop("next_run_at", None)
        fields = changes.pop("fields", {})
        config.update(changes)
        for name, toggles in fields.items():
            config["fields"][name].update(toggles)
        return await self.call("PUT", "/sync/config", expect=expect, json=config, headers={"If-Match": etag})

    async def start(self, dry_run: bool = False) -> dict[str, Any]:
        return await self.call("POST", "/sync/runs", expect=202, json={"dry_run": dry_run})

    async def run(self, run_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/sync/runs/{run_id}")

    async def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        return await until(lambda: self.run(run_id), lambda r: r["status"] in ENDED, timeout)

    async def sync(self, dry_run: bool = False, expect: str = "succeeded") -> dict[str, Any]:
        run = await self.wait((await self.start(dry_run))["id"])
        assert run["status"] == expect, run
        return run

    async def members(self, status: str | None = None) -> list[dict[str, Any]]:
        found, cursor = [], None
        while True:
            query = (
                "limit=1000"
                + (f"&status={status}" if status else "")
                + (f"&cursor={cursor}" if cursor else "")
            )
            page = await self.call("GET", f"/members?{query}")
            found += page["members"]
            if not (cursor := page["next_cursor"]):
                return found

    async def by_directory(self) -> dict[str, dict[str, Any]]:
        """The managed members by directory user id, each directory id once."""
        managed = [m for m in await self.members() if m["managed"]]
        by_id = {m["directory_id"]: m for m in managed}
        assert len(by_id) == len(managed), "two members share a directory id"
        return by_id

    async def by_directory_once_invited(self) -> dict[str, dict[str, Any]]:
        """``by_directory`` once every invite is marked sent: the notifier sends them after the run ends, and
        marks each just after its mail leaves, so only then do the members hold still."""
        return await until(
            self.by_directory, lambda by_id: all(m["invite"]["status"] == "sent" for m in by_id.values())
        )

    async def member(self, member_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/members/{member_id}")


async def connect_team(
    api: aiohttp.ClientSession, tenant: Tenant, groups: tuple[str, ...] = ("Staff",), **config: Any
) -> Team:
    """A team with one admin (ADMIN), connected to the tenant, syncing the named groups, cadence off."""
    async with api.post(
        "api/v1/teams", json={"name": "Contoso", "admins": [{"email": ADMIN, "name": "The Boss"}]}
    ) as resp:
        assert resp.status == 201, await resp.text()
        team = Team(api, (await resp.json())["id"])
    await team.call(
        "PUT",
        "/directory",
        json={"tenant_id": tenant.tenant_id, "client_id": CLIENT_ID, "client_secret": SECRET},
    )
    selected = [{"id": group_id(tenant, name), "display_name": name} for name in groups]
    await team.configure(groups=selected, cadence="off", **config)
    return team


def recipient(message: EmailMessage) -> str:
    return message["To"].addresses[0].addr_spec.lower()


def mails(sink: MailSink, to: str | None = None, subject: str = "") -> list[EmailMessage]:
    return [
        m
        for m in list(sink.messages)
        if (to is None or recipient(m) == to.lower()) and subject in str(m["Subject"])
    ]


def invites(sink: MailSink) -> list[EmailMessage]:
    return mails(sink, subject="You're invited")


def digests(sink: MailSink) -> list[EmailMessage]:
    return mails(sink, to=ADMIN)


async def wait_mails(
    sink: MailSink, count: int, to: str | None = None, subject: str = "", timeout: float = 60.0
) -> list[EmailMessage]:
    async def fetch() -> list[EmailMessage]:
        return mails(sink, to, subject)

    return await until(fetch, lambda found: len(found) >= count, timeout)


def text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def link_values(member: dict[str, Any]) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {}
    for link in member["links"]:
        by_type.setdefault(link["type"], []).append(link["value"])
    return by_type
