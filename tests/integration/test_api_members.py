"""Members, subteams and templates as the API shows them."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.api import make_team

MEMBER_KEYS = {
    "id",
    "account_id",
    "login_email",
    "directory_id",
    "managed",
    "status",
    "role",
    "subscription_active",
    "invite",
    "card",
    "links",
    "subteams",
    "template_id",
}


async def seed_members(pool, team_id: str, count: int, status: str = "invited") -> list[uuid.UUID]:
    """Members made in one statement, so they share one created_at, as a sync's bulk insert makes them."""
    rows = await pool.fetch(
        "WITH a AS (INSERT INTO accounts (email, name)"
        "  SELECT 'u' || g || '-' || $2 || '@contoso.com', 'User ' || g"
        "  FROM generate_series(1, $3) g RETURNING id, name)"
        " INSERT INTO members (team_id, account_id, directory_id, managed, status, card_name)"
        " SELECT $1, a.id, gen_random_uuid()::text, true, $4, a.name FROM a RETURNING id",
        uuid.UUID(team_id),
        uuid.uuid4().hex[:6],
        count,
        status,
    )
    return [r["id"] for r in rows]


@pytest.fixture
async def team(api, operator):
    return await make_team(api, operator, admins=[{"email": "boss@contoso.com", "name": "Boss"}])


async def test_member_json(api, team, pool):
    (member_id,) = await seed_members(pool, team["id"], 1)
    await pool.execute(
        "UPDATE members SET card_email = 'john@contoso.com', card_job_title = 'VP', card_fields = $2"
        " WHERE id = $1",
        member_id,
        {"Department": "Sales"},
    )
    await pool.execute(
        "INSERT INTO links (member_id, type, label, value, source) VALUES"
        " ($1, 'email', 'Email', 'mailto:john@contoso.com', 'email')",
        member_id,
    )
    sub = await pool.fetchval(
        "INSERT INTO subteams (team_id, name, directory_group_id) VALUES ($1, 'popl', 'g1') RETURNING id",
        uuid.UUID(team["id"]),
    )
    await pool.execute("INSERT INTO subteam_members (subteam_id, member_id) VALUES ($1, $2)", sub, member_id)
    await pool.execute(
        "INSERT INTO invites (member_id, status, sent_at) VALUES ($1, 'sent', now())", member_id
    )
    await pool.execute(
        "INSERT INTO member_photos (member_id, content_type, data) VALUES ($1, 'image/jpeg', $2)",
        member_id,
        b"\xff\xd8\xffjpeg",
    )

    resp = await api.get(f"/api/v1/teams/{team['id']}/members/{member_id}", headers=team["headers"])
    assert resp.status == 200
    m = await resp.json()
    assert set(m) == MEMBER_KEYS
    assert m["status"] == "invited" and m["role"] == "member" and m["managed"] is True
    assert m["invite"]["status"] == "sent" and m["invite"]["sent_at"].endswith("Z")
    assert m["card"] == {
        "name": "User 1",
        "email": "john@contoso.com",
        "job_title": "VP",
        "company": None,
        "phone": None,
        "location": None,
        "has_photo": True,
        "fields": {"Department": "Sales"},
    }
    assert m["links"] == [
        {
            "id": m["links"][0]["id"],
            "type": "email",
            "label": "Email",
            "value": "mailto:john@contoso.com",
            "template_link_id": None,
        }
    ]
    assert m["subteams"] == [{"id": str(sub), "name": "popl", "role": "member"}]

    photo = await api.get(f"/api/v1/teams/{team['id']}/members/{member_id}/photo", headers=team["headers"])
    assert (
        photo.status == 200
        and photo.content_type == "image/jpeg"
        and await photo.read() == b"\xff\xd8\xffjpeg"
    )
    subteams = await (await api.get(f"/api/v1/teams/{team['id']}/subteams", headers=team["headers"])).json()
    assert subteams == {
        "subteams": [{"id": str(sub), "name": "popl", "directory_group_id": "g1", "member_count": 1}]
    }
    await pool.execute("UPDATE members SET status = 'removed' WHERE id = $1", member_id)
    subteams = await (await api.get(f"/api/v1/teams/{team['id']}/subteams", headers=team["headers"])).json()
    assert subteams["subteams"][0]["member_count"] == 0


async def test_pages_cover_every_member_once(api, team, pool):
    seeded = await seed_members(pool, team["id"], 230) + await seed_members(pool, team["id"], 20, "removed")
    seen, cursor, pages = [], None, 0
    while True:
        url = f"/api/v1/teams/{team['id']}/members?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api.get(url, headers=team["headers"])).json()
        seen += [m["id"] for m in page["members"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 251  # the admin, 230 invited, 20 removed
    assert set(map(str, seeded)) <= set(seen)
    removed = await (
        await api.get(f"/api/v1/teams/{team['id']}/members?status=removed", headers=team["headers"])
    ).json()
    assert len(removed["members"]) == 20 and removed["next_cursor"] is None


async def test_empty_query_values_are_no_values(api, team):
    base, h = f"/api/v1/teams/{team['id']}", team["headers"]
    for path in ("/members?status=&limit=&cursor=", "/sync/runs?limit="):
        resp = await api.get(base + path, headers=h)
        assert resp.status == 200, (path, await resp.text())


@pytest.mark.parametrize(
    "query, status",
    [
        ("cursor=garbage!!", 400),
        ("cursor=WzEsMl0", 400),
        ("cursor=" + "A" * 4000, 400),
        # a time that leaves the calendar once read in UTC
        (
            "cursor=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTE0OjAwIiwiZDZkNGJkYWEtYzUyMi00MTY0LWE5ZmQtZDViYmE5YjlhYmI4Il0",
            400,
        ),
        ("limit=abc", 400),
        ("limit=2.5", 400),
        ("limit=abc&status=gone", 400),
        ("limit=0", 422),
        ("limit=1001", 422),
        ("status=gone", 422),
    ],
)
async def test_member_list_query_errors(api, team, query, status):
    resp = await api.get(f"/api/v1/teams/{team['id']}/members?{query}", headers=team["headers"])
    assert resp.status == status
    assert resp.content_type == "application/problem+json"


async def test_patch_card(api, team, pool):
    (member_id,) = await seed_members(pool, team["id"], 1)
    await pool.execute(
        'UPDATE members SET card_fields = \'{"Team": "A", "Old": "x"}\' WHERE id = $1', member_id
    )
    path = f"/api/v1/teams/{team['id']}/members/{member_id}"
    resp = await api.patch(
        path,
        json={"card": {"job_title": "CTO", "phone": None, "fields": {"Team": "B", "Old": None}}},
        headers=team["headers"],
    )
    assert resp.status == 200
    card = (await resp.json())["card"]
    assert card["job_title"] == "CTO" and card["name"] == "User 1" and card["fields"] == {"Team": "B"}
    bad = await api.patch(path, json={"card": {"shoe_size": 44, "name": 3}}, headers=team["headers"])
    assert bad.status == 422
    assert {tuple(e["loc"]) for e in (await bad.json())["errors"]} == {
        ("card", "shoe_size"),
        ("card", "name"),
    }
    wrong_types = await api.patch(
        path, json={"card": {"job_title": 5, "fields": {"Team": 1}}}, headers=team["headers"]
    )
    assert wrong_types.status == 422
    assert {tuple(e["loc"]) for e in (await wrong_types.json())["errors"]} == {
        ("card", "job_title"),
        ("card", "fields", "Team"),
    }
    missing = await api.patch(
        f"/api/v1/teams/{team['id']}/members/{uuid.uuid4()}", json={"card": {}}, headers=team["headers"]
    )
    assert missing.status == 404
    nophoto = await api.get(path + "/photo", headers=team["headers"])
    assert nophoto.status == 404


async def test_templates(api, team, pool):
    path = f"/api/v1/teams/{team['id']}/templates"
    resp = await api.post(
        path,
        json={
            "name": "Sales",
            "links": [
                {"type": "email", "label": "Email", "value": ""},
                {"type": "url", "label": "Site", "value": "https://c.com"},
            ],
        },
        headers=team["headers"],
    )
    assert resp.status == 201
    made = await resp.json()
    assert [link["label"] for link in made["links"]] == ["Email", "Site"] and all(
        k["id"] for k in made["links"]
    )
    listed = await (await api.get(path, headers=team["headers"])).json()
    assert listed == {"templates": [made]}
    bad = await api.post(
        path, json={"name": "", "links": [{"type": "fax", "label": ""}]}, headers=team["headers"]
    )
    assert bad.status == 422
    assert {tuple(e["loc"]) for e in (await bad.json())["errors"]} == {
        ("name",),
        ("links", 0, "type"),
        ("links", 0, "label"),
    }


async def test_template_links_may_only_be_https_http_mailto_or_tel_links(api, team, pool):
    path = f"/api/v1/teams/{team['id']}/templates"
    good = ["https://c.example", "mailto:sales@c.example", "tel:+14255550100", "www.c.example", ""]
    bad = [
        "javascript:alert(1)",
        " JAVASCRIPT:alert(1)",
        "\x01javascript:x",
        "java\tscript:x",
        "javascript%3Aalert(1)",
        "data:text/html,<b>",
        "vbscript:x",
        "file:///etc/passwd",
    ]
    links = [{"type": "url", "label": f"L{i}", "value": v} for i, v in enumerate(good + bad)]
    resp = await api.post(path, json={"name": "Sales", "links": links}, headers=team["headers"])
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    errors = (await resp.json())["errors"]
    assert [tuple(e["loc"]) for e in errors] == [("links", len(good) + i, "value") for i in range(len(bad))]
    assert "the link is a javascript: link, and a card link may only be an https:" in errors[0]["msg"]
    assert await pool.fetchval("SELECT count(*) FROM templates") == 0
    made = await api.post(path, json={"name": "Sales", "links": links[: len(good)]}, headers=team["headers"])
    assert made.status == 201
    assert [k["value"] for k in (await made.json())["links"]] == good


async def test_a_template_holding_an_unsafe_link_from_before_is_not_applied(api, team, pool):
    (member_id,) = await seed_members(pool, team["id"], 1)
    template = await pool.fetchval(
        "INSERT INTO templates (team_id, name) VALUES ($1, 'Old') RETURNING id", uuid.UUID(team["id"])
    )
    await pool.execute(
        "INSERT INTO template_links (template_id, position, type, label, value)"
        " VALUES ($1, 0, 'url', 'Site', 'javascript:alert(1)')",
        template,
    )
    resp = await api.put(
        f"/api/v1/teams/{team['id']}/members/{member_id}/template",
        json={"template_id": str(template)},
        headers=team["headers"],
    )
    assert resp.status == 422
    [error] = (await resp.json())["errors"]
    assert error["loc"] == ["template_id"] and "javascript: link" in error["msg"]
    assert await pool.fetchval("SELECT count(*) FROM links WHERE member_id = $1", member_id) == 0


async def test_template_of_another_team_is_refused(api, operator, team, pool):
    other = await make_team(api, operator, "Other")
    theirs = await (
        await api.post(f"/api/v1/teams/{other['id']}/templates", json={"name": "T"}, headers=operator)
    ).json()
    (member_id,) = await seed_members(pool, team["id"], 1)
    resp = await api.put(
        f"/api/v1/teams/{team['id']}/members/{member_id}/template",
        json={"template_id": theirs["id"]},
        headers=team["headers"],
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["loc"] == ["template_id"]


async def test_a_card_read_can_be_sent_back_and_emails_are_checked(api, team, pool):
    (member_id,) = await seed_members(pool, team["id"], 1)
    path = f"/api/v1/teams/{team['id']}/members/{member_id}"
    card = (await (await api.get(path, headers=team["headers"])).json())["card"]
    assert card["has_photo"] is False
    sent = {**card, "job_title": "CTO", "has_photo": True, "email": " ann.lee@contoso.com "}
    resp = await api.patch(path, json={"card": sent}, headers=team["headers"])
    assert resp.status == 200, await resp.text()
    saved = (await resp.json())["card"]
    assert saved["has_photo"] is False  # read-only: the photo comes from the directory
    assert saved["job_title"] == "CTO" and saved["email"] == "ann.lee@contoso.com"

    for email in ("not an email", "ann@", "", "a@b"):
        bad = await api.patch(path, json={"card": {"email": email}}, headers=team["headers"])
        assert bad.status == 422 and bad.content_type == "application/problem+json", email
        assert [e["loc"] for e in (await bad.json())["errors"]] == [["card", "email"]]
    cleared = await api.patch(path, json={"card": {"email": None}}, headers=team["headers"])
    assert (await cleared.json())["card"]["email"] is None


@pytest.mark.parametrize(
    "stored, etag",
    [('W/"5f2a"', '"5f2a"'), ('"5f2a"', '"5f2a"'), ("5f2a", '"5f2a"'), (None, None)],
)
async def test_photo_etag_is_quoted_once(api, team, pool, stored, etag):
    (member_id,) = await seed_members(pool, team["id"], 1)
    await pool.execute(
        "INSERT INTO member_photos (member_id, content_type, data, etag) VALUES ($1, 'image/png', $2, $3)",
        member_id,
        b"\x89PNG\r\n\x1a\n",
        stored,
    )
    photo = await api.get(f"/api/v1/teams/{team['id']}/members/{member_id}/photo", headers=team["headers"])
    assert photo.status == 200 and await photo.read() == b"\x89PNG\r\n\x1a\n"
    assert photo.headers.get("ETag") == etag


@pytest.mark.parametrize(
    "data, stored_type, status, served_type",
    [
        (b"GIF89a\x01\x00", "image/jpeg", 200, "image/gif"),  # the type the bytes are
        (b"\xff\xd8\xff\xe0", "text/html", 200, "image/jpeg"),
        (b"<html><script>alert(1)</script>", "image/jpeg", 404, "application/problem+json"),
    ],
)
async def test_a_photo_is_served_as_the_image_it_is_and_nothing_else(
    api, team, pool, data, stored_type, status, served_type
):
    """Rows stored before photos were checked carry Graph's type, and may hold anything."""
    (member_id,) = await seed_members(pool, team["id"], 1)
    await pool.execute(
        "INSERT INTO member_photos (member_id, content_type, data) VALUES ($1, $2, $3)",
        member_id,
        stored_type,
        data,
    )
    photo = await api.get(f"/api/v1/teams/{team['id']}/members/{member_id}/photo", headers=team["headers"])
    assert (photo.status, photo.content_type) == (status, served_type)
    if status == 200:
        assert await photo.read() == data
        assert photo.headers["X-Content-Type-Options"] == "nosniff"
        assert photo.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


async def test_members_are_found_by_name_email_or_subteam(api, team, pool):
    ids = await seed_members(pool, team["id"], 30)
    await pool.execute(
        "UPDATE members SET card_email = 'zoe_100%@contoso.com', card_name = 'Zoë Ng' WHERE id = $1", ids[4]
    )
    subteam = await pool.fetchval(
        "INSERT INTO subteams (team_id, name, directory_group_id) VALUES ($1, 'Sales', 'g1') RETURNING id",
        uuid.UUID(team["id"]),
    )
    await pool.executemany(
        "INSERT INTO subteam_members (subteam_id, member_id) VALUES ($1, $2)", [(subteam, i) for i in ids[:3]]
    )
    path, h = f"/api/v1/teams/{team['id']}/members", team["headers"]

    async def found(**params) -> list:
        resp = await api.get(path, params=params, headers=h)
        assert resp.status == 200, await resp.text()
        return [m["id"] for m in (await resp.json())["members"]]

    assert await found(q="zoë") == [str(ids[4])]
    assert await found(q="_100%") == [str(ids[4])]  # wildcards are literal
    assert await found(q="r_1") == []  # "User 1" would match a wildcard
    assert len(await found(q="USER 1")) == 11  # "User 1", "User 10" … "User 19", in any case
    assert sorted(await found(subteam=str(subteam))) == sorted(str(i) for i in ids[:3])
    second = await pool.fetchval(
        "SELECT a.email FROM members m JOIN accounts a ON a.id = m.account_id WHERE m.id = $1", ids[1]
    )
    assert await found(subteam=str(subteam), q=second) == [str(ids[1])]
    assert await found(subteam=str(uuid.uuid4())) == []
    first = await api.get(path, params={"q": "user", "limit": 10}, headers=h)
    cursor = (await first.json())["next_cursor"]
    rest = await found(q="user", cursor=cursor, limit=100)
    assert len(rest) == 19 and str(ids[4]) not in rest  # 29 match, a page of 10 read: the rest
    assert (await api.get(path, params={"subteam": "nope"}, headers=h)).status == 400


async def test_a_template_is_edited_and_its_members_follow(api, team, pool):
    path = f"/api/v1/teams/{team['id']}/templates"
    links = [
        {"type": "email", "label": "Email", "value": ""},
        {"type": "url", "label": "Site", "value": "https://c.com"},
        {"type": "text", "label": "Room", "value": "4.01"},
    ]
    made = await (
        await api.post(path, json={"name": "Sales", "links": links}, headers=team["headers"])
    ).json()
    (member,) = await seed_members(pool, team["id"], 1)
    await pool.execute("UPDATE members SET card_email = 'u@contoso.com' WHERE id = $1", member)
    await pool.execute(
        "INSERT INTO links (member_id, type, label, value, source) VALUES ($1, 'email', 'Email',"
        " 'mailto:u@contoso.com', 'email')",
        member,
    )
    member_path = f"/api/v1/teams/{team['id']}/members/{member}"
    put = await api.put(member_path + "/template", json={"template_id": made["id"]}, headers=team["headers"])
    assert put.status == 200

    edited = [
        {"type": "email", "label": "Work email", "value": ""},
        {"type": "url", "label": "Website", "value": "https://contoso.com"},
    ]
    resp = await api.put(
        f"{path}/{made['id']}", json={"name": "Sales team", "links": edited}, headers=team["headers"]
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["name"] == "Sales team" and [k["label"] for k in body["links"]] == ["Work email", "Website"]
    assert [k["id"] for k in body["links"]] == [k["id"] for k in made["links"][:2]]  # kept in place
    card = await (await api.get(member_path, headers=team["headers"])).json()
    assert sorted((k["label"], k["value"]) for k in card["links"]) == [
        ("Website", "https://contoso.com"),
        ("Work email", "mailto:u@contoso.com"),
    ]
    bad = await api.put(
        f"{path}/{made['id']}", json={"name": "", "links": [{"type": "fax"}]}, headers=team["headers"]
    )
    assert bad.status == 422
    gone = await api.put(f"{path}/{uuid.uuid4()}", json={"name": "X"}, headers=team["headers"])
    assert gone.status == 404
