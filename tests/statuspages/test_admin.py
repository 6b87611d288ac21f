"""The admin door: pages, components, public incidents, maintenance, subscribers,
notices — every write through the actions (audited, cache bumped)."""

import datetime as dt

import pytest

from alertum.core.models import AuditEntry, MaintenanceWindow
from statuspages import actions
from statuspages.models import Component, Notice, PublicIncident, PublicMaintenance, StatusPage, Subscriber


@pytest.fixture
def root(client, cast):
    client.force_login(cast["root"])
    return client


def test_every_admin_list_renders(root, page, components, cast):
    actions.create_public_incident(page, name="x", body="y", actor=cast["alice"], source="web")
    for model in ("statuspage", "component", "publicincident", "publicmaintenance", "subscriber", "notice",
                  "stakeholderaudience", "messagetemplate"):
        assert root.get(f"/admin/statuspages/{model}/").status_code == 200, model
        assert root.get(f"/admin/statuspages/{model}/add/").status_code in (200, 403), model
    assert root.get(f"/admin/statuspages/statuspage/{page.pk}/change/").status_code == 200
    assert root.get(f"/admin/statuspages/publicincident/{PublicIncident.objects.get().pk}/change/").status_code == 200


def test_add_page_and_component_through_the_admin(root, teams, services):
    response = root.post("/admin/statuspages/statuspage/add/", {
        "name": "Shop", "slug": "shop", "team": teams["payments"].pk, "time_zone": "UTC", "access": "password",
        "password": "hunter22 hunter", "description": "", "allowed_ips": "", "support_url": "",
        "custom_domain": "", "components-TOTAL_FORMS": 0, "components-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content[:3000]
    page = StatusPage.objects.get(slug="shop")
    assert page.check_password("hunter22 hunter")
    assert AuditEntry.objects.filter(action="statuspage.created", source="admin").exists()
    response = root.post("/admin/statuspages/component/add/", {
        "page": page.pk, "name": "Checkout", "description": "", "position": 1, "automatic": "on", "showcase": "on",
        "services": [services["checkout"].pk]})
    assert response.status_code == 302
    component = Component.objects.get(page=page)
    assert list(component.services.values_list("slug", flat=True)) == ["checkout"]
    root.post("/admin/statuspages/component/", {"action": "mark_major_outage", "_selected_action": [component.pk]})
    component.refresh_from_db()
    assert component.status == "major_outage"


def test_admin_refusal_saves_nothing(root, page):
    response = root.post(f"/admin/statuspages/statuspage/{page.pk}/change/", {
        "name": "Acme", "slug": "acme", "team": page.team_id, "time_zone": "UTC", "access": "ip",
        "allowed_ips": "", "description": "", "support_url": "", "custom_domain": "", "password": "",
        "components-TOTAL_FORMS": 0, "components-INITIAL_FORMS": 0})
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.access == "public"


def test_public_incident_and_maintenance_through_the_admin(root, page, components, services, cast):
    response = root.post("/admin/statuspages/publicincident/add/", {
        "page": page.pk, "name": "Admin incident", "status": "investigating", "body": "Looking.",
        "impact_override": "", "incident": "", "updates-TOTAL_FORMS": 0, "updates-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content[:2000]
    incident = PublicIncident.objects.get()
    assert incident.updates.get().body == "Looking."
    root.post("/admin/statuspages/publicincident/", {"action": "resolve", "_selected_action": [incident.pk]})
    incident.refresh_from_db()
    assert incident.status == "resolved"

    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    window = MaintenanceWindow.objects.create(title="Upgrade", starts_at=start, ends_at=start + dt.timedelta(hours=1))
    window.services.set([services["checkout"]])
    response = root.post("/admin/statuspages/publicmaintenance/add/", {
        "page": page.pk, "name": "Upgrade", "window": window.pk, "components": [components["checkout"].pk],
        "remind_prior": "on", "updates-TOTAL_FORMS": 0, "updates-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content[:2000]
    maintenance = PublicMaintenance.objects.get()
    root.post("/admin/statuspages/publicmaintenance/", {"action": "start", "_selected_action": [maintenance.pk]})
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress" and maintenance.window.state == "in_progress"


def test_subscribers_and_notice_retry_through_the_admin(root, page, cast, http_server):
    response = root.post("/admin/statuspages/subscriber/add/", {"page": page.pk, "kind": "webhook",
                                                                "url": http_server.url, "email": ""})
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.secret.startswith("whsec_") and subscriber.is_active
    http_server.reply(400, "bad")
    actions.create_public_incident(page, name="x", body="y", actor=cast["alice"], source="web")
    actions.deliver_due()
    notice = Notice.objects.get(state="failed")
    assert b"HTTP 400" in root.get("/admin/statuspages/notice/?state__exact=failed").content
    root.post("/admin/statuspages/notice/", {"action": "retry", "_selected_action": [notice.pk]})
    actions.deliver_due()
    notice.refresh_from_db()
    assert notice.state == "delivered"
