"""The public page in a real browser (Debian's chromium through Playwright): readable on
a desktop and on a phone, without JavaScript, keyboard-reachable, no request to anyone
but us, under 100 KB; screenshots saved under var/artifacts/."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect, sync_playwright

from alertum.core.models import Door
from statuspages import actions
from tests.browser.conftest import CHROMIUM_ARGS, asgi_server, chromium_path  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"
WAIT_MS = 15_000


@pytest.fixture
def story(page, components, cast, incident):
    alice = cast["alice"]
    actions.create_public_incident(page, name="Checkout errors for card payments",
                                   body="Some card payments fail. We are investigating.", incident=incident,
                                   component_statuses={components["checkout"].code: "partial_outage"},
                                   actor=alice, source=Door.WEB)
    actions.set_component_status(components["web"], "degraded_performance", actor=alice, source=Door.WEB)
    return page


def test_public_page_on_desktop_and_phone(asgi_server, chromium_path, story):  # noqa: F811
    base = asgi_server.url
    url = f"{base}/status/acme/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            desktop = browser.new_context(viewport={"width": 1280, "height": 900})
            page = desktop.new_page()
            requested, errors, weight = [], [], []
            page.on("request", lambda r: requested.append(r.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: weight.append(len(r.body())) if r.url.startswith(base) else None)
            page.goto(url)
            expect(page.get_by_role("heading", level=1)).to_contain_text("Acme status")
            expect(page.locator(".banner")).to_have_text("Partial System Outage")
            expect(page.get_by_role("heading", name="Active incidents")).to_be_visible()
            expect(page.get_by_text("Some card payments fail. We are investigating.")).to_be_visible()
            expect(page.get_by_role("img", name="API: 100.00% uptime over the last 90 days")).to_be_visible()
            page.keyboard.press("Tab")
            expect(page.locator(":focus")).to_have_text("Skip to content")
            assert all(u.startswith(base) or u.startswith("data:") for u in requested), requested
            assert sum(weight) <= 100 * 1024, f"{sum(weight)} bytes"
            assert errors == []
            page.screenshot(path=str(ARTIFACTS / "statuspage-desktop.png"), full_page=True)

            page.fill("#sub-email", "reader@example.com")
            page.click("form.sub button[type=submit]")
            expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible(timeout=WAIT_MS)

            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                        device_scale_factor=2)
            mobile = phone.new_page()
            mobile.goto(url)
            expect(mobile.locator(".banner")).to_be_visible()
            overflow = mobile.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than the phone"
            mobile.screenshot(path=str(ARTIFACTS / "statuspage-phone.png"), full_page=True)

            no_js = browser.new_context(java_script_enabled=False, viewport={"width": 800, "height": 900})
            plain = no_js.new_page()
            plain.goto(url)
            expect(plain.get_by_text("Degraded performance").first).to_be_visible()
            expect(plain.get_by_text("Checkout errors for card payments")).to_be_visible()
        finally:
            browser.close()
    assert (ARTIFACTS / "statuspage-desktop.png").stat().st_size > 10_000
    assert (ARTIFACTS / "statuspage-phone.png").stat().st_size > 10_000
