"""R6 custom mappings, R7 sync toggles, R8 overwrite toggles and R13 templates, end to end."""

from __future__ import annotations

from tests.e2e.helpers import connect_team, link_values, small_tenant, user_ids


async def test_overwrite_on_lets_the_directory_win_and_empty_fields(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    ids = user_ids(tenant)
    edited, emptied = ids[0], ids[1]
    members = await team.by_directory()
    await team.call(
        "PATCH", f"/members/{members[edited]['id']}", json={"card": {"job_title": "Platform Title"}}
    )
    assert (await team.member(members[edited]["id"]))["card"]["job_title"] == "Platform Title"

    tenant.update_user(edited, jobTitle="Directory Title")
    tenant.update_user(emptied, jobTitle=None, companyName=None)
    run = await team.sync()
    assert run["counts"]["updated"] == 2
    assert (await team.member(members[edited]["id"]))["card"]["job_title"] == "Directory Title"
    card = (await team.member(members[emptied]["id"]))["card"]
    assert card["job_title"] is None and card["company"] is None
    assert card["name"] == members[emptied]["card"]["name"]


async def test_overwrite_off_keeps_a_platform_edit(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant, fields={"job_title": {"overwrite": False}})
    await team.sync()
    ids = user_ids(tenant)
    edited, untouched = ids[0], ids[1]
    members = await team.by_directory()
    assert members[edited]["card"]["job_title"] == "Title 0"
    await team.call(
        "PATCH", f"/members/{members[edited]['id']}", json={"card": {"job_title": "Platform Title"}}
    )

    tenant.update_user(edited, jobTitle="Directory Title")
    tenant.update_user(untouched, jobTitle="Another Directory Title", companyName="Fabrikam")
    await team.sync()
    assert (await team.member(members[edited]["id"]))["card"]["job_title"] == "Platform Title"
    card = (await team.member(members[untouched]["id"]))["card"]
    assert card["job_title"] == "Title 1"  # overwrite off: never touched after creation
    assert card["company"] == "Fabrikam"  # overwrite on for the company


async def test_sync_off_leaves_the_field_empty_at_creation(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(
        stack_api, tenant, fields={"job_title": {"sync": False}, "phone": {"sync": False}}
    )
    await team.sync()
    members = await team.by_directory()
    assert len(members) == 20
    for uid, member in members.items():
        user = tenant.users[uid]
        assert member["card"]["job_title"] is None and member["card"]["phone"] is None
        assert member["card"]["name"] == user["displayName"]
        assert member["card"]["company"] == "Contoso"
        assert "phone" not in link_values(member)
        assert link_values(member)["email"] == [f"mailto:{user['mail']}"]


async def test_template_links_take_the_synced_email_and_phone(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    template = await team.call(
        "POST",
        "/templates",
        expect=201,
        json={
            "name": "Sales card",
            "links": [
                {"type": "email", "label": "Work email", "value": ""},
                {"type": "phone", "label": "Work phone", "value": ""},
                {"type": "url", "label": "Website", "value": "https://contoso.example"},
            ],
        },
    )
    template_links = {link["type"]: link["id"] for link in template["links"]}
    uid = user_ids(tenant)[4]
    member = (await team.by_directory())[uid]
    assert set(link_values(member)) == {"email", "phone"}

    def check(m: dict, email: str, phone_digits: str) -> None:
        assert m["template_id"] == template["id"]
        links = {link["type"]: link for link in m["links"]}
        assert len(links) == len(m["links"]) == 3, m["links"]
        assert links["email"]["template_link_id"] == template_links["email"]
        assert links["email"]["value"] == f"mailto:{email}"
        assert links["phone"]["template_link_id"] == template_links["phone"]
        assert links["phone"]["value"].startswith("tel:")
        assert "".join(c for c in links["phone"]["value"] if c.isdigit()) == phone_digits
        assert links["url"]["value"] == "https://contoso.example"

    applied = await team.call(
        "PUT", f"/members/{member['id']}/template", json={"template_id": template["id"]}
    )
    user = tenant.users[uid]
    check(applied, user["mail"], "".join(c for c in user["mobilePhone"] if c.isdigit()))

    new_mail = f"renamed.user@{tenant.domain}"
    tenant.update_user(uid, mail=new_mail, mobilePhone="+1 555 999 0004")
    await team.sync()
    check(await team.member(member["id"]), new_mail, "15559990004")
    await team.sync()  # a later run with no change adds nothing
    check(await team.member(member["id"]), new_mail, "15559990004")


async def test_custom_mappings_fill_a_field_and_a_link(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    ids = user_ids(tenant)
    calendar = "https://calendar.contoso.example/user000"
    tenant.update_user(ids[0], onPremisesExtensionAttributes={"extensionAttribute1": calendar})
    team = await connect_team(
        stack_api,
        tenant,
        custom_mappings=[
            {
                "source": "department",
                "fallbacks": [],
                "target": {"kind": "field", "name": "Department"},
                "sync": True,
                "overwrite": True,
            },
            {
                "source": "onPremisesExtensionAttributes.extensionAttribute1",
                "fallbacks": [],
                "target": {"kind": "link", "type": "url", "label": "Calendar"},
                "sync": True,
                "overwrite": True,
            },
        ],
    )
    await team.sync()
    members = await team.by_directory()
    for uid, member in members.items():
        assert member["card"]["fields"] == {"Department": tenant.users[uid]["department"]}
    assert link_values(members[ids[0]])["url"] == [calendar]
    assert next(k for k in members[ids[0]]["links"] if k["type"] == "url")["label"] == "Calendar"
    assert "url" not in link_values(members[ids[1]])

    tenant.update_user(ids[1], department="Research")
    await team.sync()
    assert (await team.member(members[ids[1]]["id"]))["card"]["fields"] == {"Department": "Research"}


async def test_an_invalid_mapping_is_refused_naming_the_bad_part(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    saved = await team.call("GET", "/sync/config")
    config = {k: v for k, v in saved.items() if k != "next_run_at"}
    bad = [
        ({"source": "departmnet", "target": {"kind": "field", "name": "Department"}}, "departmnet"),
        (
            {
                "source": "department",
                "fallbacks": ["officeLocaton"],
                "target": {"kind": "field", "name": "D"},
            },
            "officeLocaton",
        ),
        (
            {
                "source": "onPremisesExtensionAttributes.extensionAttribute16",
                "target": {"kind": "field", "name": "D"},
            },
            "extensionAttribute16",
        ),
        ({"source": "department", "target": {"kind": "link", "type": "fax", "label": "Fax"}}, "fax"),
    ]
    for mapping, culprit in bad:
        async with stack_api.put(
            f"{team.path}/sync/config", json={**config, "custom_mappings": [mapping]}
        ) as resp:
            assert resp.status == 422, await resp.text()
            assert resp.content_type == "application/problem+json"
            problem = await resp.json()
        named = [e for e in problem["errors"] if culprit in e["msg"]]
        assert named and all("custom_mappings" in map(str, e["loc"]) for e in named), problem
    assert (await team.call("GET", "/sync/config"))["custom_mappings"] == []
    run = await team.sync()
    assert run["counts"]["created"] == 20
