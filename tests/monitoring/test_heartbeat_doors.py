"""Heartbeats through every door: the REST API (CRUD, ping log, pause/resume, ping keys),
the pages (create/edit, the panel on the monitor's page, ping keys shown once) and the
Django admin; each checks who is asking."""

import pytest
from rest_framework.test import APIClient

from alertum.core.models import AuditEntry
from monitoring.heartbeats.models import Heartbeat, PingKey
from tests.monitoring.test_heartbeat_support import fresh, make_heartbeat, make_key


def api(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def heartbeat(services, cast):
    return make_heartbeat(services["checkout"], slug="nightly-backup")


# --- REST API ---------------------------------------------------------------------------------

def test_api_create_read_update_delete(cast, services, client):
    alice = api(cast["alice"])
    response = alice.post("/api/v1/heartbeats/", {"service": "checkout", "name": "Invoices export",
                                                  "schedule": "cron", "cron": "0 2 * * *",
                                                  "time_zone": "Europe/Amsterdam", "grace_seconds": 1800},
                          format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["schedule"], body["cron"], body["name"]) == ("new", "cron", "0 2 * * *",
                                                                           "Invoices export")
    assert body["ping_url"] == f"http://testserver/ping/{body['uuid']}"
    pk = body["id"]
    assert client.get(f"/ping/{body['uuid']}").status_code == 200
    body = alice.get(f"/api/v1/heartbeats/{pk}/").json()
    assert (body["state"], body["n_pings"]) == ("up", 1)
    assert body["next_ping"] is not None and body["next_ping"].endswith("Z")

    response = alice.patch(f"/api/v1/heartbeats/{pk}/", {"schedule": "simple", "period_seconds": 600}, format="json")
    assert response.status_code == 200 and response.json()["period_seconds"] == 600
    assert AuditEntry.objects.filter(action="heartbeat.updated").exists()
    assert alice.delete(f"/api/v1/heartbeats/{pk}/").status_code == 204
    assert not Heartbeat.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("payload, field", [
    ({"schedule": "cron", "cron": "61 * * * *"}, "cron"),
    ({"schedule": "cron", "cron": ""}, "cron"),
    ({"time_zone": "Mars/Base"}, "time_zone"),
    ({"period_seconds": 5}, "period_seconds"),
    ({"slug": "Has Capitals"}, "slug"),
    ({"body_limit": 10_000_000}, "body_limit"),
])
def test_api_refuses_bad_settings_and_saves_nothing(cast, services, payload, field):
    response = api(cast["alice"]).post("/api/v1/heartbeats/", {"service": "checkout", "name": "Job", **payload},
                                       format="json")
    assert response.status_code in (400, 422), response.content
    assert field in response.content.decode()
    assert Heartbeat.objects.count() == 0


def test_api_writes_need_a_responder_of_the_owning_team(cast, heartbeat):
    for name in ("victor", "oscar", "nobody"):
        client = api(cast[name])
        assert client.post(f"/api/v1/heartbeats/{heartbeat.pk}/pause/").status_code in (403, 404)
        assert client.patch(f"/api/v1/heartbeats/{heartbeat.pk}/", {"grace_seconds": 60},
                            format="json").status_code in (403, 404)
    assert api(cast["oscar"]).post("/api/v1/heartbeats/", {"service": "checkout", "name": "x"},
                                   format="json").status_code == 403
    assert APIClient().get("/api/v1/heartbeats/").status_code in (401, 403)
    assert fresh(heartbeat).grace_seconds == 600 and not fresh(heartbeat).monitor.is_paused


def test_api_pause_and_resume(cast, heartbeat):
    alice = api(cast["alice"])
    assert alice.post(f"/api/v1/heartbeats/{heartbeat.pk}/pause/").json()["state"] == "paused"
    assert alice.post(f"/api/v1/heartbeats/{heartbeat.pk}/resume/").json()["state"] == "new"


def test_api_ping_log_for_the_owning_team_only(cast, heartbeat, client):
    client.post(f"/ping/{heartbeat.uuid}/fail", data=b"disk full", content_type="text/plain",
                HTTP_USER_AGENT="curl/8.5.0")
    body = api(cast["victor"]).get(f"/api/v1/heartbeats/{heartbeat.pk}/pings/").json()
    [ping] = body["results"]
    assert (ping["n"], ping["kind"], ping["body"], ping["user_agent"]) == (1, "fail", "disk full", "curl/8.5.0")
    oscar = api(cast["oscar"])  # another team: sees the heartbeat, not its URL or log
    assert oscar.get(f"/api/v1/heartbeats/{heartbeat.pk}/").json()["ping_url"] is None
    assert oscar.get(f"/api/v1/heartbeats/{heartbeat.pk}/pings/").status_code == 404


def test_api_ping_keys_shown_once_and_made_by_commanders(cast, teams, heartbeat, client):
    assert api(cast["alice"]).post("/api/v1/heartbeat-keys/", {"team": "payments"}, format="json").status_code == 403
    response = api(cast["carol"]).post("/api/v1/heartbeat-keys/", {"team": "payments", "name": "cron box"},
                                       format="json")
    assert response.status_code == 201
    raw = response.json()["key"]
    assert client.get(f"/ping/{raw}/nightly-backup").status_code == 200
    listed = api(cast["victor"]).get("/api/v1/heartbeat-keys/").json()["results"]
    assert [k["key_prefix"] for k in listed] == [raw[:8]] and "key" not in listed[0]
    assert PingKey.objects.get().key_hash != raw
    key_id = listed[0]["id"]
    assert api(cast["carol"]).delete(f"/api/v1/heartbeat-keys/{key_id}/").status_code == 204
    from monitoring.heartbeats import pings

    pings.forget()
    assert client.get(f"/ping/{raw}/nightly-backup").status_code == 404


def test_openapi_schema_has_the_heartbeat_endpoints(cast):
    schema = api(cast["alice"]).get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/v1/heartbeats/", "/api/v1/heartbeats/{id}/pings/", "/api/v1/heartbeats/{id}/pause/",
                 "/api/v1/heartbeat-keys/"):
        assert path in schema["paths"], path


# --- pages ------------------------------------------------------------------------------------

def test_create_page_makes_a_heartbeat_and_the_monitor_page_shows_its_panel(client, cast, services):
    client.force_login(cast["alice"])
    response = client.post("/monitors/heartbeats/new/", {
        "service": services["checkout"].pk, "name": "Nightly backup", "slug": "nightly-backup", "schedule": "cron",
        "period_seconds": 86400, "cron": "0 2 * * *", "time_zone": "Europe/Amsterdam", "grace_seconds": 1800,
        "body_limit": 10000})
    assert response.status_code == 302
    heartbeat = Heartbeat.objects.get()
    client.post(f"/ping/{heartbeat.uuid}/start")
    client.post(f"/ping/{heartbeat.uuid}", data=b"backup done: 12 GB", content_type="text/plain")
    page = client.get(response["Location"]).content.decode()
    assert f"http://testserver/ping/{heartbeat.uuid}" in page
    assert "curl -fsS -m 10 --retry 5" in page
    assert "/ping/&lt;ping-key&gt;/nightly-backup" in page
    assert "cron <code>0 2 * * *</code> in Europe/Amsterdam" in page
    assert "backup done: 12 GB" in page and "Start" in page


def test_create_page_refuses_a_bad_cron_with_the_reason(client, cast, services):
    client.force_login(cast["alice"])
    response = client.post("/monitors/heartbeats/new/", {
        "service": services["checkout"].pk, "name": "Job", "schedule": "cron", "period_seconds": 86400,
        "cron": "0 25 * * *", "time_zone": "UTC", "grace_seconds": 600, "body_limit": 100})
    assert response.status_code == 422
    assert "not a valid cron expression" in response.content.decode()
    assert Heartbeat.objects.count() == 0


def test_edit_page_and_permissions(client, cast, heartbeat):
    client.force_login(cast["victor"])
    assert client.get(f"/monitors/heartbeats/{heartbeat.pk}/edit/").status_code == 200
    response = client.post(f"/monitors/heartbeats/{heartbeat.pk}/edit/", {
        "service": heartbeat.monitor.service_id, "name": "x", "schedule": "simple", "period_seconds": 120,
        "time_zone": "UTC", "grace_seconds": 60, "body_limit": 10})
    assert response.status_code in (400, 403)
    assert fresh(heartbeat).period_seconds == 3600
    client.force_login(cast["bob"])
    response = client.post(f"/monitors/heartbeats/{heartbeat.pk}/edit/", {
        "service": heartbeat.monitor.service_id, "name": "Hourly sync", "schedule": "simple", "period_seconds": 120,
        "time_zone": "UTC", "grace_seconds": 60, "body_limit": 10})
    assert response.status_code == 302
    beat = fresh(heartbeat)
    assert (beat.period_seconds, beat.monitor.name) == (120, "Hourly sync")
    assert client.post(f"/monitors/heartbeats/{heartbeat.pk}/pause/").status_code == 302
    assert fresh(heartbeat).monitor.is_paused


def test_panel_hides_the_url_and_bodies_from_other_teams(client, cast, heartbeat):
    client.post(f"/ping/{heartbeat.uuid}", data=b"secret output", content_type="text/plain")
    client.force_login(cast["oscar"])
    page = client.get(f"/monitors/{heartbeat.monitor_id}/").content.decode()
    assert "Heartbeat" in page
    assert str(heartbeat.uuid) not in page and "secret output" not in page


def test_list_page_and_ping_key_shown_once(client, cast, teams, heartbeat):
    client.force_login(cast["carol"])
    assert "Nightly backup" in client.get("/monitors/heartbeats/").content.decode()
    response = client.post("/monitors/heartbeats/keys/new/", {"team": teams["payments"].pk, "name": "cron box"})
    assert response.status_code == 200
    key = PingKey.objects.get()
    page = response.content.decode()
    assert "shown only this once" in page
    raw = page.split('aria-label="Ping key"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert PingKey.hash_key(raw) == key.key_hash
    assert raw not in client.get("/monitors/heartbeats/").content.decode()
    client.force_login(cast["alice"])  # a responder may not make keys
    assert client.post("/monitors/heartbeats/keys/new/", {"team": teams["payments"].pk,
                                                          "name": "mine"}).status_code == 400
    assert PingKey.objects.count() == 1


def test_pages_need_sign_in(client, heartbeat):
    assert client.get("/monitors/heartbeats/").status_code == 302
    assert client.post(f"/monitors/heartbeats/{heartbeat.pk}/pause/").status_code == 302
    assert not fresh(heartbeat).monitor.is_paused


# --- admin ------------------------------------------------------------------------------------

def test_admin_adds_lists_and_pauses_heartbeats(client, cast, services, teams):
    client.force_login(cast["root"])
    response = client.post("/admin/heartbeats/heartbeat/add/", {
        "service": services["checkout"].pk, "name": "Reports", "slug": "reports", "schedule": "simple",
        "period_seconds": 3600, "grace_seconds": 300, "cron": "", "time_zone": "UTC", "body_limit": 1000})
    assert response.status_code == 302, response.content.decode()[:2000]
    heartbeat = Heartbeat.objects.get()
    assert "Reports" in client.get("/admin/heartbeats/heartbeat/").content.decode()
    assert client.get(f"/admin/heartbeats/heartbeat/{heartbeat.pk}/change/").status_code == 200
    client.post("/admin/heartbeats/heartbeat/", {"action": "pause_selected", "_selected_action": [heartbeat.pk]})
    assert fresh(heartbeat).monitor.is_paused
    client.get(f"/ping/{heartbeat.uuid}/log")
    assert client.get("/admin/heartbeats/ping/").status_code == 200
    response = client.post("/admin/heartbeats/pingkey/add/", {"team": teams["payments"].pk, "name": "ops"},
                           follow=True)
    assert "shown only this once" in response.content.decode()
    assert PingKey.objects.count() == 1


def test_admin_bad_cron_is_a_message_not_a_500(client, cast, services):
    client.force_login(cast["root"])
    response = client.post("/admin/heartbeats/heartbeat/add/", {
        "service": services["checkout"].pk, "name": "Reports", "slug": "", "schedule": "cron",
        "period_seconds": 3600, "grace_seconds": 300, "cron": "nope", "time_zone": "UTC", "body_limit": 1000},
        follow=True)
    assert response.status_code == 200
    assert Heartbeat.objects.count() == 0


def test_the_make_key_helper(teams):
    assert len(make_key(teams["payments"])) == 22
