"""The operator's break-glass sign-in, making a team, and the settings page's answers to a stale or invalid
save, against the API and dashboard served in this process."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import PHONE

TOKEN = "operator-test-token-of-32-characters"


async def sign_in_as_operator(dash) -> None:
    await dash.open("/")
    await dash.page.get_by_text("Operator sign-in (break glass)").click()
    await dash.page.get_by_label("Operator token").fill(TOKEN)
    await dash.page.get_by_role("button", name="Sign in as operator").click()
    await dash.page.get_by_role("heading", name="Teams").wait_for()


async def make_team(dash, name: str, admins: str = "") -> str:
    await dash.page.get_by_label("Team name").fill(name)
    await dash.page.get_by_label("First admins").fill(admins)
    await dash.page.get_by_role("button", name="Make the team").click()
    await dash.page.get_by_text(f"The team {name} is made").wait_for()
    link = dash.page.get_by_role("link", name=f"Open {name}")
    return re.search(r"/teams/([0-9a-f-]+)", await link.get_attribute("href"))[1]


async def test_a_wrong_operator_token_is_said_beside_the_field(served, new_dashboard):
    dash = await new_dashboard(served)
    await dash.open("/signin")
    await dash.check("signin")
    await dash.page.get_by_text("Operator sign-in (break glass)").click()
    await dash.page.get_by_label("Operator token").fill("not-the-token")
    await dash.page.get_by_role("button", name="Sign in as operator").click()
    await dash.page.get_by_text("That is not the operator token").wait_for()
    assert await dash.page.get_by_label("Operator token").get_attribute("aria-invalid") == "true"
    await dash.check()


async def test_the_operator_makes_a_team_and_its_token_is_shown_once(served, new_dashboard):
    dash = await new_dashboard(served)
    await sign_in_as_operator(dash)
    await make_team(dash, "Contoso", "Ada Admin <ada@contoso.com>")
    assert await dash.page.get_by_label("Team token").input_value()
    await dash.check("teams")
    await dash.page.get_by_label("Team name").fill("Fabrikam")
    await dash.page.get_by_label("First admins").fill("not an email")
    await dash.page.get_by_role("button", name="Make the team").click()
    await dash.page.get_by_text("Admin 1: Value error, not a valid email address").wait_for()
    await dash.page.reload()
    assert await dash.page.get_by_label("Team token").count() == 0  # shown once


async def test_a_stale_save_says_someone_else_saved(served, new_dashboard):
    first = await new_dashboard(served)
    await sign_in_as_operator(first)
    team = await make_team(first, "Contoso")
    second = await new_dashboard(served)
    await second.page.context.add_cookies(await first.page.context.cookies())
    for dash in (first, second):
        await dash.open(f"/teams/{team}/settings")
    save = first.page.get_by_role("button", name="Save configuration")
    assert await save.is_disabled()  # nothing changed yet
    await first.check("settings")
    await first.page.get_by_label("Overwrite Job title").uncheck()
    assert await save.is_enabled()
    await save.click()
    await first.page.get_by_text("Saved. The next run uses these settings.").wait_for()
    assert not await first.page.get_by_label("Overwrite Job title").is_checked()
    await expect(save).to_be_disabled()  # all saved

    await second.page.get_by_label("Sync Phone number").uncheck()
    await second.page.get_by_role("button", name="Save configuration").click()
    await second.page.get_by_text("Someone else saved this: reload to see their changes.").wait_for()
    await second.check("settings-stale")
    await second.page.get_by_role("link", name="Reload").click()
    await second.page.get_by_text("Someone else saved this").wait_for(state="detached")
    assert not await second.page.get_by_label("Overwrite Job title").is_checked()
    assert await second.page.get_by_label("Sync Phone number").is_checked()


async def test_an_invalid_guard_is_said_beside_its_field(served, new_dashboard):
    dash = await new_dashboard(served)
    await sign_in_as_operator(dash)
    team = await make_team(dash, "Contoso")
    await dash.open(f"/teams/{team}/settings")
    await dash.page.get_by_label("More than (% of the team)").fill("ten")
    await dash.page.get_by_role("button", name="Save configuration").click()
    field = dash.page.get_by_label("More than (% of the team)")
    await dash.page.locator("#guard-percent-error").wait_for()
    assert await field.get_attribute("aria-invalid") == "true"
    assert await field.input_value() == "ten"
    await dash.check()


async def test_pages_fit_a_phone(served, new_dashboard):
    dash = await new_dashboard(served, PHONE)
    await sign_in_as_operator(dash)
    team = await make_team(dash, "Contoso")
    await dash.open(f"/teams/{team}")
    await dash.check("team-phone")
    width = await dash.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
