"""A real headless Chromium (Debian's package) driving the dashboard, with an axe-core scan of each page, and
a screenshot of it when CARDSYNC_SCREENSHOTS names a folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from services.scheduler.api import create_app
from tests.fixtures.signin import CONSENT_CALLBACK, SIGNIN_CALLBACK
from tests.fixtures.sim import SIM_CLIENT_ID, SIM_CLIENT_SECRET

CHROMIUM = os.environ.get("CARDSYNC_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = os.environ.get("CARDSYNC_SCREENSHOTS")  # a folder (docs/screenshots) to draw each checked page into
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT = 20_000  # ms: a page, or a run through the real services, may take this long on a busy machine


class Dashboard:
    """One person's browser on the dashboard at ``base``."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[Any] = []  # uncaught script errors: a page's script must never throw

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def check(self, shot: str | None = None) -> None:
        """No serious or critical axe-core violation on the page as it is; a screenshot when named."""
        await self.page.add_script_tag(path=str(AXE))
        found = await self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{self.page.url}:\n" + "\n".join(bad)
        assert not self.errors, f"{self.page.url}: script errors {self.errors}"
        if shot and SHOTS:
            await self.page.screenshot(path=str(Path(SHOTS) / f"{shot}.png"))


@pytest.fixture
async def chromium():
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: run scripts/browser-deps (Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


@pytest.fixture
def new_dashboard(chromium):
    """``await new_dashboard(base)``: a fresh browser profile (its own cookies) on the dashboard at ``base``.
    The simulated cloud's certificate is its own CA's, which this profile is told to accept; the axe script is
    injected past the pages' Content-Security-Policy."""

    async def new(base: str, viewport: dict[str, int] = DESKTOP) -> Dashboard:
        context = await chromium.new_context(viewport=viewport, ignore_https_errors=True, bypass_csp=True)
        context.set_default_timeout(WAIT)
        dashboard = Dashboard(await context.new_page(), base)
        dashboard.page.on("pageerror", lambda error: dashboard.errors.append(error))
        return dashboard

    return new


@pytest.fixture
async def served(pool, cloud_settings):
    """The scheduler's web app (API and dashboard) in this process, at the settings' public address."""
    runner = web.AppRunner(create_app(pool, cloud_settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", cloud_settings.api_port).start()
    yield cloud_settings.public_url
    await runner.cleanup()


@pytest.fixture
def stack_env(stack_env):
    """The real services with the simulator's home-tenant app as the platform app, for sign-in and consent."""
    return {
        **stack_env,
        "CARDSYNC_APP_CLIENT_ID": SIM_CLIENT_ID,
        "CARDSYNC_APP_CLIENT_SECRET": SIM_CLIENT_SECRET,
    }


@pytest.fixture
def stack_url(stack, sim_tenant) -> str:
    """The running stack's dashboard, its address registered as the platform app's reply URLs."""
    base = stack.env["CARDSYNC_PUBLIC_URL"]
    for path in (SIGNIN_CALLBACK, CONSENT_CALLBACK):
        sim_tenant.add_redirect_uri(SIM_CLIENT_ID, base + path)
    return base
