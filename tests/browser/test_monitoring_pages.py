"""The monitor pages in a real browser: a responder creates an HTTP monitor through the
form (with "test now") against a local server, sees it on the overview, and when the
server starts failing and the engine checks it, the overview row turns down without a
reload (over the WebSocket). The detail page shows uptime and the latency chart.
Screenshots go to var/artifacts/."""

import json
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from monitoring import actions, checks, engine, rollups
from monitoring.models import Monitor
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.helpers import sign_in
from tests.monitoring.conftest import Handler, Server, _start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000  # upper bound for a change to show; the test never measures time
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"
PORTS = range(18700, 18750)  # this test's own range on the shared machine


@pytest.fixture
def target():
    """The monitored service: a local HTTP server on 127.0.0.1 whose answers the test sets."""
    for port in PORTS:
        try:
            httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    else:
        pytest.fail(f"no free port in {PORTS.start}–{PORTS.stop - 1}")
    httpd.daemon_threads = True
    server = Server(httpd, "http")
    _start(httpd)
    yield server
    httpd.shutdown()
    httpd.server_close()


def backfill_history(name: str, minutes=(40, 30, 20, 10)):
    """Half an hour of real checks of the monitor, recorded at past minutes through the
    action, and rolled up: what the engine would have written had it been running."""
    monitor = Monitor.objects.get(name=name)
    now = timezone.now()
    # As if it had been made before its history: uptime counts no time before a monitor existed.
    Monitor.objects.filter(pk=monitor.pk).update(created_at=now - timedelta(minutes=max(minutes) + 5))
    for ago in minutes:
        outcome = checks.run(monitor.kind, monitor.config, 5)
        assert outcome.ok, outcome.message
        actions.record_result(monitor, outcome, at=now - timedelta(minutes=ago))
    rollups.roll_up("minute")
    return monitor.pk


def check_now(pk: int) -> int:
    """Let the engine check the monitor now (as the beat tick would once it is due)."""
    Monitor.objects.filter(pk=pk).update(next_check_at=timezone.now())
    return engine.run_until_idle()


def test_create_test_now_overview_live_and_detail(asgi_server, chromium_path, target, cast, services,
                                                  off_the_loop):
    base = asgi_server.url
    url = target.route("/", body="storefront ok")
    errors = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = sign_in(browser.new_context(viewport={"width": 1440, "height": 900}), base, "alice")
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Create through the form, trying it first.
            page.goto(f"{base}/monitors/new/")
            page.select_option("#id_service", "checkout")
            page.fill("#id_name", "Storefront")
            page.select_option("#id_kind", "http")
            page.fill("#id_config", json.dumps({"url": url, "keyword": "storefront"}))
            page.fill("#id_interval_seconds", "60")
            page.fill("#id_timeout_seconds", "5")
            page.fill("#id_failure_threshold", "1")
            page.click("button[name=test]")
            outcome = page.locator(".test-outcome")
            expect(outcome).to_contain_text("Test: passed", timeout=WAIT_MS)
            expect(outcome).to_contain_text("200 OK")
            assert target.requests and target.requests[-1]["path"] == "/"
            page.click("button[name=save]")
            page.wait_for_url(f"{base}/monitors/*/")
            expect(page.locator("h1")).to_contain_text("Storefront")

            pk = off_the_loop(backfill_history, "Storefront")

            # The overview shows it, and follows it live.
            page.goto(f"{base}/monitors/")
            expect(page.locator("[data-live-status]")).to_have_text("live", timeout=WAIT_MS)
            row = page.locator("#monitor-rows tbody tr", has_text="Storefront")
            expect(row).to_have_class("monitor-up")
            expect(row.locator(".state")).to_have_text("Up")
            expect(page.locator(".state-counts")).to_contain_text("up: 1")
            expect(page.locator("#monitor-rows")).to_have_count(1)
            page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

            target.route("/", status=500, body="storefront is broken")
            assert off_the_loop(check_now, pk) == 1

            expect(row).to_have_class("monitor-down", timeout=WAIT_MS)
            expect(row.locator(".state")).to_have_text("Down")
            expect(page.locator(".state-counts")).to_contain_text("down: 1")
            expect(page.locator(".state-counts")).to_contain_text("up: 0")
            assert page.evaluate("window.stillTheSamePage") is True

            # Back up: live again, same page.
            target.route("/", body="storefront ok")
            assert off_the_loop(check_now, pk) == 1
            expect(row).to_have_class("monitor-up", timeout=WAIT_MS)
            assert page.evaluate("window.stillTheSamePage") is True
            expect(page.locator("#monitor-rows")).to_have_count(1)
            expect(page.locator("#monitors-live")).not_to_contain_text("{")  # nothing but the rows was swapped in
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "monitors-overview.png"), full_page=True, animations="disabled")

            # The detail page: uptime over each window, the latency chart, the failure's evidence.
            row.locator("a", has_text="Storefront").click()
            page.wait_for_url(f"{base}/monitors/{pk}/")
            uptime = page.locator("dl.uptime")
            for label in ("24 h", "7 d", "30 d", "90 d"):
                expect(uptime).to_contain_text(label)
            expect(uptime.locator("dd").first).to_contain_text("%")
            expect(uptime.locator("dd").first).not_to_contain_text("no data")
            chart = page.locator("svg.latency-chart")
            expect(chart).to_be_visible()
            assert chart.locator("polyline").count() == 2
            expect(page.locator("section", has_text="Recent failures")).to_contain_text("status 500")
            expect(page.locator("section", has_text="State changes")).to_contain_text("up → down")
            page.screenshot(path=str(ARTIFACTS / "monitor-detail.png"), full_page=True, animations="disabled")
        finally:
            browser.close()
    assert errors == []
    assert (ARTIFACTS / "monitors-overview.png").stat().st_size > 10_000
    assert (ARTIFACTS / "monitor-detail.png").stat().st_size > 10_000
