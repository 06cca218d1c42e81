"""Runs through the real services, as an admin follows them in the dashboard: a run's progress while it is
active, invites held back and then sent from the Invites page (and one sent again from a card), and a held
run approved from the link in the admin's email, signing in on the way."""

from __future__ import annotations

import re

from tests.e2e.helpers import ADMIN, Team, group_id, mails, text, wait_mails
from tests.fixtures.e2e import OPERATOR_TOKEN
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

RUN_WAIT = 90_000  # ms: a whole sync through the four services on a busy two-core machine
INVITED = "You're invited"


async def sign_in(dash) -> None:
    """The operator's break-glass sign-in on the sign-in page the browser was sent to."""
    page = dash.page
    await page.get_by_text("Operator sign-in (break glass)").click()
    await page.get_by_label("Operator token").fill(OPERATOR_TOKEN)
    await page.get_by_role("button", name="Sign in as operator").click()


async def test_progress_invites_and_a_held_run_approved_from_its_email(
    stack_url, stack_api, simulator, sim_tenant, mail_sink, new_dashboard
):
    async with stack_api.post(
        "api/v1/teams", json={"name": "Contoso", "admins": [{"email": ADMIN, "name": "The Boss"}]}
    ) as resp:
        assert resp.status == 201, await resp.text()
        team = Team(stack_api, (await resp.json())["id"])
    creds = {"tenant_id": sim_tenant.tenant_id, "client_id": SIM_CLIENT_ID}
    await team.call("PUT", "/directory", json={**creds, "client_secret": SIM_CLIENT_SECRET})
    group = group_id(sim_tenant, "Engineering")
    await team.configure(
        groups=[{"id": group, "display_name": "Engineering"}],
        cadence="off",
        send_invites=False,
        removal_guard={"max_percent": 10, "min_count": 1},
    )
    people = sorted(u for u in sim_tenant.members[group] if u in sim_tenant.users)
    assert len(people) >= 4

    dash = await new_dashboard(stack_url)
    page = dash.page
    await dash.open(f"/teams/{team.id}/runs")
    await sign_in(dash)
    await page.get_by_role("heading", name="Runs").wait_for()

    # Progress, while the run is active: every Graph request is slowed so that the run lasts a few seconds.
    simulator.latency = 1.0
    await page.get_by_role("button", name="Sync now").click()
    await page.get_by_role("heading", name="Progress").wait_for(timeout=RUN_WAIT)
    await page.get_by_text(re.compile(r"[1-9]\d* users read")).first.wait_for()
    await dash.check("run-progress")
    simulator.latency = 0.0
    await page.get_by_text("Succeeded", exact=True).wait_for(timeout=RUN_WAIT)  # followed without a reload
    assert await page.get_by_role("heading", name="Progress").count() == 0

    # Invites were off: nothing went out until the admin sends them from the Invites page.
    assert not mails(mail_sink, subject=INVITED)
    await page.get_by_role("link", name="Invites", exact=True).click()
    await page.get_by_text(f"{len(people)} invites waiting to be sent").wait_for()
    await page.get_by_role("button", name="Send pending invites").click()
    await page.get_by_text(f"{len(people)} invites queued for sending.").wait_for()
    await dash.check("invites-sent")
    await wait_mails(mail_sink, len(people), subject=INVITED)

    # One member's invite again, from the card.
    someone = sim_tenant.users[people[0]]
    email = someone["mail"] or someone["userPrincipalName"]
    await page.get_by_role("link", name="Members", exact=True).click()
    await page.get_by_label("Name or email").fill(email)
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("link", name=someone["displayName"]).click()
    await page.get_by_role("heading", name="Edit the card").wait_for()
    await page.get_by_role("button", name="Send the invite again").click()
    await page.get_by_text("The invite is on its way again").wait_for()
    await dash.check()
    await wait_mails(mail_sink, 2, to=email, subject=INVITED)

    # Too many leave at once: the run holds their removals and the admin's email links to it.
    leavers = people[:3]
    for uid in leavers:
        sim_tenant.remove_member(group, uid)
    held = await team.wait((await team.start())["id"])
    assert held["status"] == "held", held
    notice = (await wait_mails(mail_sink, 1, to=ADMIN, subject="waiting for your approval"))[0]
    link = re.search(r"https?://\S+/teams/[0-9a-f-]+/runs/[0-9a-f-]+", text(notice))[0]
    assert link == f"{stack_url}/teams/{team.id}/runs/{held['id']}"

    reader = await new_dashboard(stack_url)  # the admin's mail client opens a browser with no session
    await reader.page.goto(link)
    await reader.page.get_by_role("heading", name="Sign in to CardSync").wait_for()
    await sign_in(reader)
    await reader.page.get_by_role("heading", name="Changes are held").wait_for()
    assert reader.page.url == link
    table = reader.page.get_by_role("table").filter(has_text="would be deactivated")
    for uid in leavers:
        await table.get_by_text(sim_tenant.users[uid]["displayName"]).wait_for()
    await reader.check("run-held")

    async def accept(dialog) -> None:
        await dialog.accept()

    reader.page.on("dialog", accept)
    await reader.page.get_by_role("button", name="Approve the held changes").click()
    await reader.page.get_by_text("The held changes are approved and applied.").wait_for()
    await reader.page.get_by_text("Succeeded", exact=True).wait_for(timeout=RUN_WAIT)
    approved = await team.run(held["id"])
    assert approved["status"] == "succeeded" and approved["counts"]["removed"] == len(leavers)
