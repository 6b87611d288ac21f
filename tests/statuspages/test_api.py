"""The REST door: pages, components, public incidents with updates and preview,
maintenance, subscribers (webhook secret shown once), notices, stakeholder audiences;
who may; bad input; the OpenAPI schema."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from alertum.core.models import AuditEntry
from statuspages.models import Component, Notice, PublicIncident, StatusPage

API = "/api/v1/status-pages/"


@pytest.fixture
def as_user(cast):
    def make(name):
        client = APIClient()
        client.force_login(cast[name])
        return client
    return make


def test_page_crud_for_team_admins_only(as_user, admin, teams, page):
    carol = as_user("carol")
    response = carol.post(API, {"name": "Internal", "slug": "internal", "team": "payments", "access": "password",
                                "password": "s3cret pass", "time_zone": "Europe/Berlin"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["public_url"] == "http://status.test/status/internal/"
    assert "password" not in response.json()
    assert StatusPage.objects.get(slug="internal").check_password("s3cret pass")
    assert as_user("alice").post(API, {"name": "X", "slug": "x", "team": "payments"}, format="json").status_code == 403
    assert carol.post(API, {"name": "Dup", "slug": "acme", "team": "payments"}, format="json").status_code == 400
    bad = carol.patch(f"{API}acme/", {"custom_domain": "not a domain"}, format="json")
    assert bad.status_code == 422 and bad.json()["field"] == "custom_domain"
    assert carol.patch(f"{API}acme/", {"time_zone": "Mars/Olympus"}, format="json").status_code == 400
    assert carol.patch(f"{API}acme/", {"name": "Acme Inc."}, format="json").json()["name"] == "Acme Inc."
    assert AuditEntry.objects.filter(action="statuspage.updated").exists()
    assert [p["slug"] for p in as_user("victor").get(API).json()["results"]] == ["acme", "internal"]
    assert as_user("oscar").get(API).json()["results"] == []
    assert as_user("oscar").get(f"{API}acme/").status_code == 404
    assert APIClient().get(API).status_code in (401, 403)


def test_components_through_the_api(as_user, admin, page, services):
    carol = as_user("carol")
    group = carol.post(f"{API}acme/components/", {"name": "Core", "is_group": True}, format="json").json()
    leaf = carol.post(f"{API}acme/components/", {"name": "API", "group": group["id"], "services": ["checkout"]},
                      format="json")
    assert leaf.status_code == 201, leaf.json()
    leaf = leaf.json()
    assert leaf["group"] == group["id"] and leaf["services"] == ["checkout"] and leaf["status"] == "operational"
    nested = carol.post(f"{API}acme/components/", {"name": "Nested", "is_group": True, "group": group["id"]},
                        format="json")
    assert nested.status_code == 422
    assert carol.post(f"{API}acme/components/", {"name": "API"}, format="json").status_code == 409
    alice = as_user("alice")
    changed = alice.post(f"{API}acme/components/{leaf['id']}/status/", {"status": "partial_outage"}, format="json")
    assert changed.status_code == 200 and changed.json()["status"] == "partial_outage"
    assert alice.post(f"{API}acme/components/{leaf['id']}/status/", {"status": "broken"},
                      format="json").status_code == 400
    assert alice.patch(f"{API}acme/components/{leaf['id']}/", {"name": "x"}, format="json").status_code == 403
    assert carol.delete(f"{API}acme/components/{group['id']}/").status_code == 409
    assert carol.delete(f"{API}acme/components/{leaf['id']}/").status_code == 204
    assert [c["name"] for c in carol.get(f"{API}acme/components/").json()] == ["Core"]


def test_public_incident_with_preview_updates_and_internal_link(as_user, page, components, incident):
    alice = as_user("alice")
    preview = alice.post(f"{API}acme/preview/", {"status": "investigating",
                                                 "components": [components["api"].code]}, format="json").json()
    assert preview["body"].startswith("We are investigating reports of problems with API.")
    assert PublicIncident.objects.count() == 0  # a preview changes nothing
    created = alice.post(f"{API}acme/incidents/", {
        "name": "API errors", "body": preview["body"], "components": {components["api"].code: "major_outage"},
        "incident": incident.pk}, format="json")
    assert created.status_code == 201, created.json()
    code = created.json()["id"]
    assert created.json()["impact"] == "critical" and created.json()["incident"] == incident.pk
    update = alice.post(f"{API}acme/incidents/{code}/updates/", {"status": "resolved", "body": "Fixed."},
                        format="json")
    assert update.status_code == 201
    assert update.json()["affected_components"][0]["new_status"] == "operational"
    again = alice.post(f"{API}acme/incidents/{code}/updates/", {"status": "identified", "body": "x"}, format="json")
    assert again.status_code == 409
    assert alice.post(f"{API}acme/incidents/", {"name": "x", "body": ""}, format="json").status_code == 400
    hidden = as_user("oscar").post(f"{API}acme/incidents/", {"name": "x", "body": "y"}, format="json")
    assert hidden.status_code == 404
    assert as_user("victor").post(f"{API}acme/incidents/", {"name": "x", "body": "y"}, format="json").status_code \
        == 403
    listed = alice.get(f"{API}acme/incidents/", {"status": "unresolved"}).json()
    assert listed["results"] == []


def test_maintenance_through_the_api(as_user, page, components, clock):
    alice = as_user("alice")
    starts = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    created = alice.post(f"{API}acme/maintenance/", {
        "name": "DB upgrade", "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=1)).isoformat(),
        "components": [components["checkout"].code]}, format="json")
    assert created.status_code == 201, created.json()
    code = created.json()["id"]
    assert created.json()["status"] == "scheduled"
    moved = alice.post(f"{API}acme/maintenance/{code}/updates/", {"status": "in_progress"}, format="json")
    assert moved.status_code == 201 and moved.json()["body"].startswith("Scheduled maintenance is currently")
    assert Component.objects.get(pk=components["checkout"].pk).status == "under_maintenance"
    bad = alice.post(f"{API}acme/maintenance/{code}/updates/", {"status": "scheduled"}, format="json")
    assert bad.status_code == 409
    no_services = alice.post(f"{API}acme/maintenance/", {
        "name": "x", "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=1)).isoformat(),
        "components": [components["api"].code]}, format="json")
    assert no_services.status_code == 422
    assert alice.post(f"{API}acme/maintenance/", {"name": "x"}, format="json").status_code == 400


def test_subscribers_and_notices(as_user, page, cast, http_server):
    alice = as_user("alice")
    created = alice.post(f"{API}acme/subscribers/", {"kind": "webhook", "url": http_server.url}, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    listed = alice.get(f"{API}acme/subscribers/").json()["results"]
    assert "secret" not in listed[0]
    http_server.reply(404, "no such hook")
    alice.post(f"{API}acme/incidents/", {"name": "Webhook test", "body": "x"}, format="json")
    from statuspages import actions

    actions.deliver_due()
    failed = alice.get(f"{API}acme/notices/", {"state": "failed"}).json()["results"]
    assert len(failed) == 1 and "HTTP 404" in failed[0]["last_error"]
    retried = alice.post(f"{API}acme/notices/{failed[0]['id']}/retry/")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    actions.deliver_due()
    assert Notice.objects.get().state == "delivered"
    assert alice.get(f"{API}acme/notices/", {"state": "weird"}).status_code == 400
    assert alice.delete(f"{API}acme/subscribers/{created.json()['id']}/").status_code == 204


def test_stakeholder_audiences(as_user, admin):
    root = as_user("root")
    created = root.post("/api/v1/stakeholder-audiences/", {"name": "Execs", "kind": "email",
                                                            "target": "ceo@example.com"}, format="json")
    assert created.status_code == 201 and created.json()["severities"] == ["P1", "P2"]
    assert root.post("/api/v1/stakeholder-audiences/", {"name": "Bad", "kind": "email", "target": "nope"},
                     format="json").status_code == 422
    assert as_user("alice").post("/api/v1/stakeholder-audiences/", {"name": "Mine", "kind": "slack",
                                                                     "target": "https://hooks.example/x",
                                                                     "team": "payments"},
                                 format="json").status_code == 403
    assert as_user("carol").post("/api/v1/stakeholder-audiences/", {"name": "Payments chat", "kind": "slack",
                                                                     "target": "https://hooks.example/x",
                                                                     "team": "payments"},
                                 format="json").status_code == 201


def test_schema_describes_the_status_page_api(as_user):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    for path in ("/api/v1/status-pages/", "/api/v1/status-pages/{slug}/",
                 "/api/v1/status-pages/{page_slug}/components/{code}/status/",
                 "/api/v1/status-pages/{page_slug}/incidents/{code}/updates/",
                 "/api/v1/status-pages/{page_slug}/maintenance/{code}/updates/",
                 "/api/v1/status-pages/{page_slug}/preview/", "/api/v1/status-pages/{page_slug}/subscribers/",
                 "/api/v1/status-pages/{page_slug}/notices/{id}/retry/", "/api/v1/stakeholder-audiences/"):
        assert path in schema["paths"], path
