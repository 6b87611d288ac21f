"""Two people work one incident in two browsers: what one does appears in the other's
page without a reload (over the WebSocket), and the workspace is saved as a screenshot."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect, sync_playwright

from alertum.core.models import Door
from incidents import actions
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000  # upper bound for a change to show; the test never measures time
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def test_comment_and_acknowledge_appear_in_the_other_browser_without_reload(
        asgi_server, chromium_path, make_incident, cast):
    base = asgi_server.url
    incident = make_incident(title="Checkout failing for card payments", impact="outage",
                             description="Card authorisations time out since the 14:02 deploy.",
                             business_functions="card checkout")
    actions.assign_role(incident, "commander", cast["carol"], actor=cast["carol"], source=Door.WEB)
    actions.post_update(incident, impact="About 40% of card payments fail", action_taken="Paused the deploy",
                        next_step="Roll back payments-api", actor=cast["carol"], source=Door.WEB)
    workspace = f"{base}/incidents/{incident.pk}/"
    comment = "Rolling back payments-api to v2.31.4"
    errors = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            alice_page = sign_in(browser.new_context(viewport={"width": 1440, "height": 900}), base, "alice")
            bob_page = sign_in(browser.new_context(viewport={"width": 1440, "height": 900}), base, "bob")
            for page in (alice_page, bob_page):
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(workspace)
                expect(page.locator("#workspace [data-live-status]")).to_have_text("live", timeout=WAIT_MS)
            bob_page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

            alice_page.fill("#comment-form textarea[name=body]", comment)
            alice_page.click("#comment-form button[type=submit]")
            expect(alice_page.locator("#comment-form textarea[name=body]")).to_have_value("", timeout=WAIT_MS)
            alice_page.click("button[data-action=acknowledge]")

            expect(bob_page.locator("#timeline")).to_contain_text(comment, timeout=WAIT_MS)
            expect(bob_page.locator("#incident-header [data-status]")).to_have_text("Acknowledged", timeout=WAIT_MS)
            expect(bob_page.locator("#timeline li.kind-statuschanged")).to_contain_text("Acknowledged",
                                                                                         timeout=WAIT_MS)
            expect(bob_page.locator("#incident-actions [data-action=acknowledge]")).to_have_count(0)
            assert bob_page.evaluate("window.stillTheSamePage") is True
            # Each entry once, in both pages (the poster also got it over the socket).
            for page in (alice_page, bob_page):
                expect(page.locator("#timeline li", has_text=comment)).to_have_count(1)
                expect(page.locator("#timeline li.kind-statuschanged")).to_have_count(1)

            ARTIFACTS.mkdir(exist_ok=True)
            bob_page.locator("#timeline li.kind-statuschanged").scroll_into_view_if_needed()
            bob_page.screenshot(path=str(ARTIFACTS / "workspace.png"), full_page=True, animations="disabled")
        finally:
            browser.close()
    assert errors == []
    assert (ARTIFACTS / "workspace.png").stat().st_size > 10_000


def test_page_catches_up_after_the_server_restarts(asgi_server, chromium_path, incident, cast, off_the_loop):
    """The socket drops (a deploy restarts daphne); what happened meanwhile reaches the
    page when it reconnects and sends the newest seq it holds."""
    base = asgi_server.url
    incident.refresh_from_db()
    settled = incident.last_seq  # the declaration, and any note on-call adds after it commits
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = sign_in(browser.new_context(), base, "bob")
            page.goto(f"{base}/incidents/{incident.pk}/")
            status = page.locator("#workspace [data-live-status]")
            expect(status).to_have_text("live", timeout=WAIT_MS)
            page.evaluate("window.stillTheSamePage = true")

            asgi_server.stop()
            expect(status).to_have_text("reconnecting…", timeout=WAIT_MS)
            off_the_loop(actions.add_comment, incident.pk, "Written while the page was away",
                         actor=cast["alice"], source=Door.WEB)
            off_the_loop(actions.acknowledge_incident, incident.pk, actor=cast["alice"], source=Door.WEB)
            asgi_server.start()

            expect(status).to_have_text("live", timeout=WAIT_MS)
            expect(page.locator("#timeline")).to_contain_text("Written while the page was away", timeout=WAIT_MS)
            expect(page.locator("#incident-header [data-status]")).to_have_text("Acknowledged", timeout=WAIT_MS)
            expect(page.locator("#timeline li")).to_have_count(settled + 2)
            assert page.evaluate("window.stillTheSamePage") is True
        finally:
            browser.close()
