"""Pages for people: /api/docs, the OpenAPI document with the Redoc it needs served by the API itself, and
the page each problem type URI opens."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urljoin

from services.scheduler.api import docs
from services.scheduler.api.problem_types import KINDS

STATIC = Path(docs.__file__).parent / "static"


async def test_the_docs_page_renders_the_document_with_the_local_bundle_without_a_token(api):
    resp = await api.get("/api/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    sources = re.findall(r'(?:src|href|spec-url)="([^"]+)"', page)
    assert sources and not [s for s in sources if "//" in s]  # nothing from another host
    (spec_url,) = re.findall(r'<redoc spec-url="([^"]+)"', page)
    (script,) = re.findall(r'<script src="([^"]+)"', page)
    assert urljoin("/api/docs", spec_url) == "/api/v1/openapi.json"
    document = await api.get(urljoin("/api/docs", spec_url))
    assert document.status == 200 and (await document.json())["openapi"] == "3.1.0"
    bundle = await api.get(urljoin("/api/docs", script))
    assert bundle.status == 200 and "javascript" in bundle.content_type
    assert await bundle.read() == (STATIC / "redoc.standalone.js").read_bytes()
    assert "max-age" in bundle.headers["Cache-Control"]


def test_the_bundle_ships_with_its_licences():
    bundle = (STATIC / "redoc.standalone.js").read_text()
    assert bundle.startswith("/*! For license information please see redoc.standalone.js.LICENSE.txt */")
    assert (STATIC / "redoc.standalone.js.LICENSE.txt").is_file()
    assert (STATIC / "redoc.LICENSE.txt").read_text().startswith("The MIT License")
    assert "redoc.LICENSE.txt" in (STATIC / "docs.html").read_text()


async def test_a_problems_type_opens_a_page_that_explains_it_without_a_token(api, operator):
    resp = await api.get(f"/api/v1/teams/{uuid.uuid4()}", headers=operator)
    problem = await resp.json()
    assert resp.status == 404 and problem["type"] == "/api/v1/problems/not-found"
    page = await api.get(problem["type"])
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    assert "<h1>Not Found</h1>" in text and "answer 404 as if the team did not exist" in text
    unauthenticated = await (await api.get("/api/v1/teams")).json()
    assert unauthenticated["type"] == "/api/v1/problems/unauthenticated"
    assert "Authorization: Bearer" in await (await api.get(unauthenticated["type"])).text()
    for kind in KINDS.values():
        assert (await api.get(f"/api/v1/problems/{kind.name}")).status == 200
    missing = await api.get("/api/v1/problems/no-such-kind")
    assert missing.status == 404 and "lists them" in (await missing.json())["detail"]
