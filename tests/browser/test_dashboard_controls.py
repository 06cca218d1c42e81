"""The directory's connection test, the group picker's pages, the custom mappings editor checked as one
types, and editing a template, against the API and dashboard served in this process and the simulated
tenant."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.test_operator_pages import make_team, sign_in_as_operator
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET


async def test_the_directory_test_the_group_pages_and_the_mappings_editor(served, new_dashboard, sim_tenant):
    for n in range(30):
        sim_tenant.add_group(displayName=f"Project {n:02d}")
    dash = await new_dashboard(served)
    page = dash.page
    await sign_in_as_operator(dash)
    team = await make_team(dash, "Contoso")

    await dash.open(f"/teams/{team}/directory")
    await page.get_by_label("Tenant id or domain").fill(sim_tenant.tenant_id)
    await page.get_by_label("Application (client) id").fill(SIM_CLIENT_ID)
    await page.get_by_label("Client secret").fill(SIM_CLIENT_SECRET)
    await page.get_by_role("button", name="Test and save the connection").click()
    await page.get_by_text("The directory is connected.").wait_for()
    # The picker pages on past its first page of groups.
    await dash.open(f"/teams/{team}/settings")
    await page.get_by_label("Search the directory's groups").fill("Project")
    ours = page.locator("#group-results label", has_text=re.compile(r"^\s*Project \d\d$"))
    await expect(ours).to_have_count(
        25
    )  # the search's first page (the one on focus, of every group, is gone)
    await page.get_by_role("button", name="More groups").click()
    await expect(page.get_by_role("button", name="More groups")).to_have_count(0)
    for n in range(30):
        await expect(
            page.locator("#group-results").get_by_label(f"Project {n:02d}", exact=True)
        ).to_have_count(1)

    # Custom mappings: each error beside its field as one types, then saved.
    source = page.get_by_label("Mapping 1 reads", exact=True)
    await source.fill("favouriteColour")
    await page.locator("#m0-source-error").wait_for()
    await expect(page.locator("#m0-source-error")).to_contain_text("unknown directory property")
    assert await page.get_by_label("Mapping 1 reads", exact=True).get_attribute("aria-invalid") == "true"
    await page.get_by_label("Mapping 1 field name or link label").fill("Department")
    await page.locator("#mappings").scroll_into_view_if_needed()
    await dash.check("settings-mappings")
    await page.get_by_label("Mapping 1 reads", exact=True).fill("department")
    await page.locator("#m0-source-error").wait_for(state="detached")
    await page.get_by_label("Mapping 2 reads", exact=True).wait_for()  # a new blank row to add another
    await page.get_by_role("button", name="Save configuration").click()
    await page.get_by_text("Saved. The next run uses these settings.").wait_for()
    assert await page.get_by_label("Mapping 1 reads", exact=True).input_value() == "department"
    assert await page.get_by_label("Mapping 1 field name or link label").input_value() == "Department"

    # The connection test, permission by permission (last: the token without a permission is kept a while).
    await page.get_by_role("link", name="Directory", exact=True).click()
    await page.get_by_role("button", name="Test connection").click()
    await page.get_by_role("heading", name="The connection works").wait_for()
    sim_tenant.revoke(SIM_CLIENT_ID, "GroupMember.Read.All")
    await page.get_by_role("button", name="Test connection").click()
    await page.get_by_role("heading", name="Permissions are missing").wait_for()
    row = page.get_by_role("row", name="GroupMember.Read.All")
    await expect(row.locator("td").nth(1)).to_contain_text("No")
    await expect(page.get_by_role("row", name="User.Read.All").locator("td").nth(1)).to_have_text("Yes")
    await dash.check("directory-test")


async def test_a_template_is_edited(served, new_dashboard):
    dash = await new_dashboard(served)
    page = dash.page
    await sign_in_as_operator(dash)
    team = await make_team(dash, "Contoso")
    await dash.open(f"/teams/{team}/templates")
    await page.get_by_label("Name", exact=True).fill("Sales")
    await page.get_by_label("Link 1 type").select_option("url")
    await page.get_by_label("Link 1 label").fill("Site")
    await page.get_by_label("Link 1 value").fill("https://contoso.com")
    await page.get_by_role("button", name="Make the template").click()
    await page.get_by_text("The template is made.").wait_for()
    await page.get_by_role("link", name="Edit Sales").click()
    await page.get_by_role("heading", name="Edit the template Sales").wait_for()
    assert await page.get_by_label("Link 1 label").input_value() == "Site"
    await page.get_by_label("Link 1 label").fill("Book a meeting")
    await page.get_by_label("Link 2 type").select_option("email")
    await page.get_by_label("Link 2 label").fill("Email")
    await dash.check("template-edit")
    await page.get_by_label("Link 1 value").fill("javascript:alert(1)")
    await page.get_by_role("button", name="Save the template").click()
    await page.get_by_text("Link 1:").wait_for()  # the API's 422, beside the links
    # the form drawn again holds what was typed and not saved: its button stays ready
    assert await page.get_by_role("button", name="Save the template").is_enabled()
    await page.get_by_label("Link 1 value").fill("https://contoso.com/meet")
    await page.get_by_role("button", name="Save the template").click()
    await page.get_by_text("The template is saved.").wait_for()
    await expect(page.get_by_text("Book a meeting (url): https://contoso.com/meet")).to_be_visible()
    await expect(page.get_by_text("Email (email)")).to_be_visible()
