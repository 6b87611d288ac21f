"""The management pages: who sees and does what, forms that say what is wrong, the
preview before publishing, maintenance, subscribers with failed notices."""

import datetime as dt

import pytest

from alertum.core.models import Door
from statuspages import actions
from statuspages.models import Component, Notice, PublicIncident, PublicMaintenance, StatusPage, Subscriber

BASE = "/status-pages/"


@pytest.fixture
def as_user(client, cast):
    def make(name):
        client.force_login(cast[name])
        return client
    return make


def test_list_and_detail_by_team(as_user, page, components):
    client = as_user("victor")
    assert b"Acme" in client.get(BASE).content
    detail = client.get(f"{BASE}acme/")
    assert detail.status_code == 200 and b"Checkout" in detail.content
    assert b"New public incident" not in detail.content  # viewers only look
    client = as_user("oscar")
    assert b"Acme" not in client.get(BASE).content
    assert client.get(f"{BASE}acme/").status_code == 404


def test_create_and_edit_a_page(as_user, admin, teams):
    client = as_user("carol")
    assert client.get(f"{BASE}new/").status_code == 200
    response = client.post(f"{BASE}new/", {"name": "Shop", "slug": "shop", "team": teams["payments"].pk,
                                           "time_zone": "Europe/Paris", "access": "public"})
    assert response.status_code == 302
    page = StatusPage.objects.get(slug="shop")
    bad = client.post(f"{BASE}shop/edit/", {"name": "Shop", "slug": "shop", "team": teams["payments"].pk,
                                            "time_zone": "UTC", "access": "ip", "allowed_ips": "not-an-ip"})
    assert bad.status_code == 422 and b"not an IP address" in bad.content
    from django.core.files.uploadedfile import SimpleUploadedFile

    logo = SimpleUploadedFile("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', content_type="image/svg+xml")
    ok = client.post(f"{BASE}shop/edit/", {"name": "Shop Inc", "slug": "shop", "team": teams["payments"].pk,
                                           "time_zone": "UTC", "access": "public", "logo": logo})
    assert ok.status_code == 302
    page.refresh_from_db()
    assert page.name == "Shop Inc" and page.logo_type == "image/svg+xml"
    served = client.get("/status/shop/logo")
    assert served.status_code == 200 and served["Content-Type"] == "image/svg+xml"
    assert as_user("alice").post(f"{BASE}shop/edit/", {"name": "x", "slug": "shop", "team": teams["payments"].pk,
                                                       "time_zone": "UTC", "access": "public"}).status_code == 403


def test_components_from_the_page(as_user, page, components, services):
    client = as_user("carol")
    response = client.post(f"{BASE}acme/components/new/", {"name": "Search", "services": [services["search"].pk],
                                                           "automatic": "on", "showcase": "on"})
    assert response.status_code == 302
    assert Component.objects.get(name="Search").services.get().slug == "search"
    dup = client.post(f"{BASE}acme/components/new/", {"name": "Search"})
    assert dup.status_code == 409 and b"already has a component" in dup.content
    alice = as_user("alice")
    alice.post(f"{BASE}acme/components/{components['web'].code}/status", {"status": "degraded_performance"})
    assert Component.objects.get(pk=components["web"].pk).status == "degraded_performance"
    bad = alice.post(f"{BASE}acme/components/{components['web'].code}/status", {"status": "on fire"})
    assert bad.status_code == 422


def test_preview_then_publish(as_user, page, components, incident):
    client = as_user("alice")
    form = client.get(f"{BASE}acme/incidents/new/?incident={incident.number}")
    assert b"Message templates" in form.content and incident.title.encode() in form.content
    data = {"name": "Checkout errors", "status": "investigating", "body": "", "incident": incident.number,
            "deliver_notifications": "on", f"c_{components['checkout'].code}": "partial_outage"}
    preview = client.post(f"{BASE}acme/incidents/new/", {**data, "preview": "1"})
    assert preview.status_code == 200
    assert b"Preview" in preview.content
    assert b"We are investigating reports of problems with Checkout." in preview.content
    assert PublicIncident.objects.count() == 0
    published = client.post(f"{BASE}acme/incidents/new/", {**data, "publish": "1"})
    assert published.status_code == 302
    public = PublicIncident.objects.get()
    assert public.incident == incident and public.impact == "major"
    assert public.updates.get().body.startswith("We are investigating reports of problems with Checkout.")
    detail = client.get(published["Location"])
    assert incident.reference.encode() in detail.content  # the internal link, for staff only
    update = client.post(published["Location"], {"status": "resolved", "body": "Fixed.", "publish": "1",
                                                 "deliver_notifications": "on"})
    assert update.status_code == 302
    public.refresh_from_db()
    assert public.status == "resolved"
    conflict = client.post(published["Location"], {"status": "identified", "body": "x", "publish": "1"})
    assert conflict.status_code == 409
    unknown = client.post(f"{BASE}acme/incidents/new/", {**data, "incident": 999, "publish": "1"})
    assert unknown.status_code == 404


def test_maintenance_from_the_pages(as_user, page, components, clock):
    client = as_user("alice")
    assert client.get(f"{BASE}acme/maintenance/new/").status_code == 200
    missing = client.post(f"{BASE}acme/maintenance/new/", {"name": "x"})
    assert missing.status_code == 400 and b"Give the start and end" in missing.content
    response = client.post(f"{BASE}acme/maintenance/new/", {
        "name": "Upgrade", "starts_at": "2026-03-03T10:00", "ends_at": "2026-03-03T11:00",
        "components": [components["checkout"].pk], "remind_prior": "on"})
    assert response.status_code == 302
    maintenance = PublicMaintenance.objects.get()
    assert maintenance.window.starts_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)  # alice is in Amsterdam
    moved = client.post(response["Location"], {"status": "in_progress", "body": ""})
    assert moved.status_code == 302
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"
    client.post(f"{BASE}acme/maintenance/{maintenance.code}/cancel")
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"  # a running window cannot be cancelled (core refuses)


def test_subscribers_page_with_failed_notices(as_user, page, cast, http_server):
    client = as_user("alice")
    response = client.post(f"{BASE}acme/subscribers/", {"kind": "webhook", "url": http_server.url})
    assert response.status_code == 201 and b"whsec_" in response.content
    http_server.reply(404, "no such hook")
    actions.create_public_incident(page, name="x", body="y", actor=cast["alice"], source=Door.WEB)
    actions.deliver_due()
    listing = client.get(f"{BASE}acme/subscribers/")
    assert b"Failed notices" in listing.content and b"HTTP 404" in listing.content
    notice = Notice.objects.get()
    client.post(f"{BASE}acme/notices/{notice.pk}/retry")
    actions.deliver_due()
    notice.refresh_from_db()
    assert notice.state == "delivered"
    subscriber = Subscriber.objects.get()
    client.post(f"{BASE}acme/subscribers/{subscriber.code}/delete")
    assert not Subscriber.objects.exists()


def test_templates_and_audiences_pages(as_user, page, admin, teams):
    client = as_user("carol")
    response = client.post(f"{BASE}acme/templates/", {"status": "identified", "name": "DB", "body": "The database."})
    assert response.status_code == 302
    assert actions.templates_for(page, "identified") == [("DB", "The database.")]
    assert client.get(f"{BASE}audiences/").status_code == 200
    everyone = client.post(f"{BASE}audiences/", {"name": "Execs", "kind": "email", "target": "ceo@example.com",
                                                 "severities": ["P1"], "enabled": "on"})
    assert everyone.status_code == 403  # an audience for every team is a global admin's to add
    bad = client.post(f"{BASE}audiences/", {"name": "Execs", "kind": "email", "target": "nope",
                                            "team": teams["payments"].pk, "severities": ["P1"], "enabled": "on"})
    assert bad.status_code == 422 and b"not an e-mail address" in bad.content
    ok = client.post(f"{BASE}audiences/", {"name": "Execs", "kind": "email", "target": "ceo@example.com",
                                           "team": teams["payments"].pk, "severities": ["P1"], "enabled": "on"})
    assert ok.status_code == 302


def test_pages_need_sign_in(client, page):
    assert client.get(BASE).status_code == 302
