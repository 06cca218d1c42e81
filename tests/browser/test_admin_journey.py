"""A team admin's first sync, as the seed walks it, through the real services: sign in with Microsoft, connect
by admin consent, pick two groups, toggle a field, save, preview, Sync Now until done, and see the members."""

from __future__ import annotations

import re

RUN_WAIT = 90_000  # ms: a whole sync through the four services on a busy two-core machine


async def test_an_admin_connects_picks_previews_syncs_and_sees_the_members(
    stack_url, stack_api, simulator, sim_tenant, new_dashboard
):
    admin = min(sim_tenant.users)
    email = sim_tenant.users[admin]["mail"]
    body = {"name": "Contoso", "admins": [{"email": email, "name": "Admin"}]}
    async with stack_api.post("api/v1/teams", json=body) as resp:
        assert resp.status == 201, await resp.text()
        team = (await resp.json())["id"]
    simulator.sign_in(sim_tenant.tenant_id, admin)
    dash = await new_dashboard(stack_url)
    page = dash.page

    await dash.open(f"/teams/{team}/settings")  # a deep link survives the sign-in
    await page.get_by_role("link", name="Sign in with Microsoft").click()
    await page.get_by_role("heading", name="Sync settings").wait_for()
    await dash.open("/")  # an admin of one team goes straight to it
    await page.get_by_role("heading", name="Contoso").wait_for()
    await dash.check("team")

    await page.get_by_role("link", name="Directory").click()
    await page.get_by_role("button", name="Connect with Microsoft").wait_for()
    await dash.check("directory")
    await page.get_by_role("button", name="Connect with Microsoft").click()
    await page.get_by_role("heading", name=f"Connected to {sim_tenant.tenant_id}").wait_for()
    assert page.url == f"{stack_url}/teams/{team}/directory"
    await dash.check("directory-connected")

    await page.get_by_role("link", name="Choose the groups to sync").click()
    search = page.get_by_label("Search the directory's groups")
    for name in ("Sales", "Engineering"):
        await search.fill(name[:3])
        await page.locator("#group-results").get_by_label(name).check()
        await page.locator("#chips").get_by_label(name).wait_for()
    await page.get_by_label("Overwrite Job title").uncheck()
    await page.get_by_role("button", name="Save configuration").click()
    await page.get_by_text("Saved. The next run uses these settings.").wait_for()
    chips = page.locator("#chips input:checked")
    assert sorted(await chips.evaluate_all("els => els.map(e => e.value.split('|')[1])")) == [
        "Engineering",
        "Sales",
    ]
    assert not await page.get_by_label("Overwrite Job title").is_checked()
    await dash.check("settings-groups")

    await page.get_by_role("button", name="Preview").click()
    await page.get_by_text("Succeeded", exact=True).wait_for(timeout=RUN_WAIT)
    await page.get_by_role("heading", name="What this sync would do").wait_for()
    joins = page.locator("tbody tr", has_text="Joins")
    assert await joins.count() > 1
    await dash.check("preview")
    someone = (await joins.first.locator("td").nth(1).inner_text()).split(" <")[0]
    await page.get_by_label("Find a person or change").fill(someone)
    await page.get_by_role("button", name="Find").click()
    await page.wait_for_url(re.compile(r"[?&]q="))
    assert await page.locator("tbody tr", has_text="Joins").count() == 1

    await page.get_by_role("link", name="Runs").click()
    await page.get_by_role("button", name="Sync now").click()
    await page.get_by_role("heading", name=re.compile("^Sync run")).wait_for()
    await page.get_by_text("Succeeded", exact=True).wait_for(timeout=RUN_WAIT)  # the page follows the run
    created = int(await page.get_by_role("row", name=re.compile("^Created")).locator("td").inner_text())
    assert created > 1
    await dash.check("run")
    await page.get_by_role("link", name="Runs").click()
    await page.get_by_role("heading", name="Runs").wait_for()
    await dash.check("runs")

    await page.get_by_role("link", name="Members").click()
    await page.get_by_role("heading", name="Members").wait_for()
    rows = page.locator("tbody tr")
    assert await rows.count() >= min(created, 50)
    await dash.check("members")
    await rows.first.get_by_role("link").click()
    await page.get_by_role("heading", name="Edit the card").wait_for()
    assert await page.get_by_text("Overwrite is on for").count() == 1
    await dash.check("member")

    for name, shot in (("Invites", "invites"), ("Templates", "templates"), ("Audit", "audit")):
        await page.get_by_role("link", name=name, exact=True).click()
        await page.get_by_role("heading", name=re.compile(name)).wait_for()
        await dash.check(shot)
