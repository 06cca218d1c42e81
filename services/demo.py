"""`cardsync demo`: a simulated Microsoft tenant, a local SMTP sink, all four services, one real sync."""

from __future__ import annotations

import asyncio
import secrets
import sys
from urllib.parse import urlencode

import aiohttp
from pydantic import SecretStr

from services import launcher
from services.cli import SERVICES
from services.scheduler.api.routes.consent import CALLBACK_PATH
from services.scheduler.api.routes.signin import CALLBACK_PATH as SIGNIN_CALLBACK_PATH
from shared.mailsink import MailSink
from shared.settings import Settings
from simulator import Simulator, generate_tenant

DEMO_CLIENT_ID = "c0ffee00-0de0-4000-8000-000000000001"
DEMO_AMQP_PREFIX = "cardsync-demo"


def demo_overrides(settings: Settings) -> dict[str, object]:
    """What the demo decides unless the environment did: the tokens it makes up, and a bus prefix of its own
    so that it never consumes the queues of an installation on the same broker."""
    made: dict[str, object] = {
        "operator_token": settings.operator_token or SecretStr(secrets.token_urlsafe(24)),
        "amqp_prefix": settings.amqp_prefix
        if "amqp_prefix" in settings.model_fields_set
        else DEMO_AMQP_PREFIX,
    }
    if not settings.secret_keys():
        made["secret_key"] = SecretStr(secrets.token_urlsafe(24))
    return made


async def run(settings: Settings, *, once: bool, users: int) -> int:
    sim = Simulator()
    await sim.start()
    tenant = sim.add_tenant(generate_tenant(users, 6, seed=42, client_id=DEMO_CLIENT_ID))
    # The tenant's app is the platform's app too: admins sign in with it, and the API's own sign-in and
    # admin-consent callbacks are its reply URLs, so the links the dashboard hands out work in the demo.
    for path in (SIGNIN_CALLBACK_PATH, CALLBACK_PATH):
        try:
            tenant.add_redirect_uri(DEMO_CLIENT_ID, settings.public_url.rstrip("/") + path)
        except ValueError as exc:
            print(f"demo: the identity platform will not return to the API: {exc}", file=sys.stderr)
    admin = _demo_admin(tenant)
    sink = MailSink().start()
    settings = settings.model_copy(
        update={
            "graph_url": sim.graph_url,
            "authority_url": sim.authority_url,
            "ca_file": sim.ca_file,
            "smtp_host": sink.host,
            "smtp_port": sink.port,
            "smtp_tls": "none",
            "smtp_starttls": False,
            "smtp_username": None,
            "app_client_id": settings.app_client_id or DEMO_CLIENT_ID,
            "app_client_secret": settings.app_client_secret or SecretStr(tenant.apps[DEMO_CLIENT_ID]),
            **demo_overrides(settings),
        }
    )
    outcome: dict[str, int] = {}

    async def scenario() -> None:
        try:
            outcome["code"] = await _sync_and_report(settings, tenant, sink, admin)
        except Exception as exc:  # noqa: BLE001 - the demo says what broke and stops
            print(f"demo failed: {exc!r}", file=sys.stderr)
            outcome["code"] = 1
        if once or outcome["code"]:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)
        else:
            token = settings.operator_token.get_secret_value()
            site = settings.public_url.rstrip("/")
            hint = urlencode({"login_hint": admin["userPrincipalName"]})
            print(
                f"\nThe dashboard: {site}/\n"
                f"  sign in as the tenant's admin {admin['displayName']}: {site}/auth/login?{hint}\n"
                "  (the simulated Microsoft sign-in runs on this machine with a certificate of a test "
                "authority:\n"
                "  your browser asks you to accept it once)\n"
                f"  or as the operator (break-glass) with the token {token}\n"
                f"The API: {site}/api/v1 (reference: {site}/api/docs). Ctrl-C stops."
            )

    try:
        await launcher.run(settings, SERVICES, standalone=False, on_started=scenario)
    finally:
        sink.stop()
        await sim.stop()
    return outcome.get("code", 1)


def _demo_admin(tenant) -> dict:
    """The person who runs CardSync at the simulated company: its first enabled user with a mailbox."""
    return next(u for _, u in sorted(tenant.users.items()) if u.get("mail") and u.get("accountEnabled", True))


async def _sync_and_report(settings: Settings, tenant, sink: MailSink, admin: dict) -> int:
    token = settings.operator_token.get_secret_value()
    base = f"http://{settings.api_host}:{settings.api_port}/api/v1"
    roots = [g for g in tenant.groups.values()]
    chosen = [roots[0], roots[-1]]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def call(method: str, path: str, body=None, ok=(200, 201, 202, 204)):
            async with http.request(method, base + path, json=body) as resp:
                data = await resp.json() if resp.content_type.endswith("json") else None
                if resp.status not in ok:
                    raise RuntimeError(f"{method} {path}: {resp.status} {data}")
                return data

        team = await call(
            "POST",
            "/teams",
            {"name": "Fabrikam", "admins": [{"email": admin["mail"], "name": admin["displayName"]}]},
        )
        tid = team["id"]
        secret = tenant.apps[DEMO_CLIENT_ID]
        await call(
            "PUT",
            f"/teams/{tid}/directory",
            {"tenant_id": tenant.tenant_id, "client_id": DEMO_CLIENT_ID, "client_secret": secret},
        )
        config = await call("GET", f"/teams/{tid}/sync/config")
        config.pop("next_run_at", None)
        config["groups"] = [{"id": g["id"], "display_name": g["displayName"]} for g in chosen]
        await call("PUT", f"/teams/{tid}/sync/config", config)
        print(f"Simulated tenant {tenant.tenant_id}: {len(tenant.users)} users, {len(tenant.groups)} groups.")
        print("Syncing groups: " + ", ".join(g["displayName"] for g in chosen))
        run = await call("POST", f"/teams/{tid}/sync/runs", {"dry_run": False})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while run["status"] not in ("succeeded", "failed", "held"):
            if loop.time() > deadline:
                raise RuntimeError(f"the run did not finish in time: {run['status']}")
            await asyncio.sleep(0.2)
            run = await call("GET", f"/teams/{tid}/sync/runs/{run['id']}")
        print(
            f"\nRun {run['id']}: {run['status']} in "
            f"{_seconds(run['started_at'], run['finished_at'])}, {run['graph_requests']} Graph requests"
        )
        print("  counts: " + ", ".join(f"{k} {v}" for k, v in run["counts"].items()))
        if run["error"]:
            print(f"  error: {run['error']}")
        members = await _all_members(call, tid)
        print(f"\nMembers: {len(members)}")
        for m in members[:8]:
            card = m["card"]
            print(f"  {card['name'] or '':28} {card['email'] or '':44} {card['job_title'] or ''}")
        if len(members) > 8:
            print(f"  ... and {len(members) - 8} more")
        subteams = (await call("GET", f"/teams/{tid}/subteams"))["subteams"]
        print("\nSubteams:")
        for s in subteams:
            print(f"  {s['name']:28} {s['member_count']} members")
        await _wait_for_mail(sink, run["counts"]["invited"] + 1)
        print(f"\nEmails sent: {len(sink.messages)}")
        for message in sink.messages[:5]:
            print(f"  to {message['To']}: {message['Subject']}")
        if len(sink.messages) > 5:
            print(f"  ... and {len(sink.messages) - 5} more")
        return 0 if run["status"] == "succeeded" else 1


async def _all_members(call, tid: str) -> list[dict]:
    members, cursor = [], None
    while True:
        page = await call("GET", f"/teams/{tid}/members?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        members += page["members"]
        cursor = page.get("next_cursor")
        if not cursor:
            return members


async def _wait_for_mail(sink: MailSink, expected: int, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(sink.messages) < expected and loop.time() < deadline:
        await asyncio.sleep(0.1)


def _seconds(start: str | None, end: str | None) -> str:
    from datetime import datetime

    if not start or not end:
        return "?"
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return f"{delta.total_seconds():.1f}s"
