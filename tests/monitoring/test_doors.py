"""Monitors through every door: REST API, pages (with "test now"), badge, admin."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from monitoring import badge, engine
from monitoring.models import Monitor

pytestmark = pytest.mark.django_db(transaction=True)


def api(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_api_crud_pause_resume(cast, services, http_server):
    client = api(cast["alice"])
    created = client.post("/api/v1/monitors/", {
        "service": "checkout", "name": "Storefront", "kind": "http", "interval_seconds": 30,
        "config": {"url": http_server.route("/"), "keyword": "ok"},
        "rules": [{"name": "slow", "severity": "P1", "for_seconds": 120,
                   "conditions": [{"metric": "latency_ms", "op": "gt", "value": 30000}]}]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "new" and body["config"]["accepted_statuses"] == "200-399"
    assert body["badge_url"].startswith("http://testserver/monitors/badge/")
    pk = body["id"]
    assert client.get("/api/v1/monitors/?state=new&service=checkout").json()["results"][0]["id"] == pk
    changed = client.patch(f"/api/v1/monitors/{pk}/", {"name": "Storefront home"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Storefront home"
    assert client.post(f"/api/v1/monitors/{pk}/pause/").json()["state"] == "paused"
    assert client.post(f"/api/v1/monitors/{pk}/resume/").json()["state"] == "new"
    tested = client.post(f"/api/v1/monitors/{pk}/test/")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert client.delete(f"/api/v1/monitors/{pk}/").status_code == 204
    assert not Monitor.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("payload, field", [
    ({"kind": "http", "config": {"url": "ftp://x"}}, "url"),
    ({"kind": "http", "config": {"url": "http://x", "accepted_statuses": "abc"}}, "accepted_statuses"),
    ({"kind": "tcp", "config": {"host": "db", "port": 70000}}, "port"),
    ({"kind": "dns", "config": {"name": "x.test", "record_type": "BOGUS"}}, "record_type"),
    ({"kind": "journey", "config": {"steps": []}}, "steps"),
    ({"kind": "http", "config": {"url": "http://x"}, "rules": [{"name": "r", "severity": "P9"}]}, "severity"),
])
def test_api_bad_config_is_422_and_saves_nothing(cast, services, payload, field):
    response = api(cast["alice"]).post("/api/v1/monitors/", {"service": "checkout", "name": "bad", **payload},
                                       format="json")
    assert response.status_code == 422, response.content
    assert field in response.content.decode()
    assert not Monitor.objects.exists()


def test_api_interval_below_ten_seconds_is_refused(cast, services):
    response = api(cast["alice"]).post("/api/v1/monitors/", {
        "service": "checkout", "name": "fast", "kind": "tcp", "interval_seconds": 5,
        "config": {"host": "127.0.0.1", "port": 80}}, format="json")
    assert response.status_code == 400 and "interval_seconds" in response.content.decode()
    assert not Monitor.objects.exists()


def test_api_permissions(cast, services, make_monitor):
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80})
    assert api(cast["oscar"]).patch(f"/api/v1/monitors/{monitor.pk}/", {"name": "x"},
                                    format="json").status_code == 403
    assert api(cast["victor"]).post(f"/api/v1/monitors/{monitor.pk}/pause/").status_code == 403
    assert api(cast["victor"]).get(f"/api/v1/monitors/{monitor.pk}/").status_code == 200
    assert api(cast["nobody"]).get(f"/api/v1/monitors/{monitor.pk}/").status_code == 404
    assert APIClient().get("/api/v1/monitors/").status_code in (401, 403)


def test_api_results_uptime_and_latency(cast, services, make_monitor, http_server, clock):
    monitor = make_monitor(config={"url": http_server.route("/", status=500)}, failure_threshold=1)
    clock.shift(60)
    engine.run_until_idle()
    clock.shift(600)  # ten minutes down
    client = api(cast["bob"])
    results = client.get(f"/api/v1/monitors/{monitor.pk}/results/?failed=true").json()["results"]
    assert len(results) == 1 and results[0]["ok"] is False and "500" in results[0]["message"]
    today = dt.date(2026, 3, 2)
    uptime = client.get(f"/api/v1/monitors/{monitor.pk}/uptime/?start=2026-02-28&end=2026-03-02").json()
    assert uptime[0] == {"day": "2026-02-28", "uptime": None}  # before it existed: no data, not 100%
    assert uptime[-1]["day"] == today.isoformat() and uptime[-1]["uptime"] == 0.0
    latency = client.get(f"/api/v1/monitors/{monitor.pk}/latency/?hours=1")
    assert latency.status_code == 200 and latency.json()[0]["failures"] == 1
    assert client.get(f"/api/v1/monitors/{monitor.pk}/uptime/?start=nope").status_code == 400
    assert client.get(f"/api/v1/monitors/{monitor.pk}/latency/?granularity=week").status_code == 400


def test_overview_and_detail_pages(client, cast, make_monitor, http_server, clock):
    monitor = make_monitor(config={"url": http_server.route("/", status=503, body="maintenance")},
                           name="Payments API", failure_threshold=1)
    clock.shift(60)
    engine.run_until_idle()
    clock.shift(300)
    client.force_login(cast["victor"])
    page = client.get("/monitors/?state=down").content.decode()
    assert "Payments API" in page and "down: 1" in page and 'ws-connect="/ws/monitors/"' in page
    assert "Payments API" not in client.get("/monitors/?state=up").content.decode()
    detail = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert "status 503" in detail and "maintenance" in detail and "Latency, last 24 hours" in detail
    assert "0.00%" in detail  # down since its first check
    client.force_login(cast["nobody"])
    assert client.get(f"/monitors/{monitor.pk}/").status_code == 404


def test_create_form_with_test_now(client, cast, services, http_server):
    client.force_login(cast["alice"])
    form = {"service": "checkout", "name": "Home", "kind": "http", "interval_seconds": 60, "timeout_seconds": 5,
            "failure_threshold": 2, "success_threshold": 1, "anomaly_sensitivity": "off", "rules": "",
            "config": f'{{"url": "{http_server.route("/", body="hello")}", "keyword": "goodbye"}}'}
    tested = client.post("/monitors/new/", {**form, "test": "1"})
    assert tested.status_code == 200 and "Test: failed" in tested.content.decode()
    assert "does not contain" in tested.content.decode() and not Monitor.objects.exists()
    bad = client.post("/monitors/new/", {**form, "config": "{not json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.content.decode()
    saved = client.post("/monitors/new/", form)
    monitor = Monitor.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/monitors/{monitor.pk}/"


def test_badge_is_public_by_signed_link_only(client, make_monitor):
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80}, name="DB")
    response = client.get(badge.url(monitor))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert "DB: new" in response.content.decode()
    assert client.get(f"/monitors/badge/{monitor.pk}.svg").status_code == 404


def test_admin_creates_through_the_action(client, cast, services, http_server):
    client.force_login(cast["root"])
    response = client.post("/admin/monitoring/monitor/add/", {
        "service": services["checkout"].pk, "name": "Admin made", "kind": "http",
        "config": f'{{"url": "{http_server.url("/")}"}}', "interval_seconds": 60, "timeout_seconds": 10,
        "failure_threshold": 2, "success_threshold": 1, "rules": "[]", "anomaly_sensitivity": "off",
        "status_changes-TOTAL_FORMS": 0, "status_changes-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()[:2000]
    monitor = Monitor.objects.get(name="Admin made")
    assert monitor.next_check_at is not None and monitor.config["method"] == "GET"
    assert client.get(f"/admin/monitoring/monitor/{monitor.pk}/change/").status_code == 200


def test_overview_availability_counts_past_days_and_today_live_and_escapes_names(client, cast, make_monitor, clock):
    from django.utils import timezone

    from monitoring.models import Rollup

    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="<b>Checkout</b> API")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for days_ago in (1, 2, 89, 90):  # the last one is outside the 90 days (today and the 89 before)
        Rollup.objects.create(monitor=monitor, granularity="day", bucket=today - dt.timedelta(days=days_ago),
                              count=100, failures=50 if days_ago == 90 else 10)
    client.force_login(cast["victor"])
    row = _row(client.get("/monitors/").content.decode(), monitor)
    assert "&lt;b&gt;Checkout&lt;/b&gt; API" in row and "<b>" not in row
    assert "90.00%" in row  # 270 passed of 300 over the three days inside the window

    live = Rollup.objects.create(monitor=monitor, granularity="day", bucket=today, count=100, failures=0)
    assert "92.50%" in _row(client.get("/monitors/").content.decode(), monitor)  # today counts at once
    live.failures = 100
    live.save()
    assert "67.50%" in _row(client.get("/monitors/").content.decode(), monitor)


def _row(page: str, monitor) -> str:
    start = page.index(f'href="/monitors/{monitor.pk}/"')
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]
