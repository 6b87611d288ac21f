"""The admin door renders for a global admin, keeps others out, and shows incidents,
timelines and the audit trail read only."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from alertum.core.models import AuditEntry, Membership
from incidents.models import ChecklistTemplate, Incident, SeverityRule, TimelineEntry

pytestmark = pytest.mark.django_db

CONFIGURATION = ["core_user", "core_team", "core_membership", "core_service", "core_maintenancewindow",
                 "core_apitoken", "auth_group", "incidents_checklisttemplate", "incidents_severityrule"]
READ_ONLY = ["incidents_incident", "incidents_timelineentry", "core_auditentry"]


def some_pk(name, rows, cast):
    """A row to open for each admin page."""
    return {
        "core_user": cast["alice"].pk,
        "core_team": rows["spare_team"].pk,
        "core_membership": Membership.objects.first().pk,
        "core_service": rows["incident"].services.first().pk,
        "core_maintenancewindow": rows["window"].pk,
        "core_apitoken": rows["token"].pk,
        "auth_group": rows["group"].pk,
        "incidents_checklisttemplate": ChecklistTemplate.objects.first().pk,
        "incidents_severityrule": SeverityRule.objects.first().pk,
        "incidents_incident": rows["incident"].pk,
        "incidents_timelineentry": TimelineEntry.objects.filter(incident=rows["incident"]).last().pk,
        "core_auditentry": AuditEntry.objects.order_by("seq").first().pk,
    }[name]


@pytest.mark.parametrize("name", CONFIGURATION + READ_ONLY)
def test_admin_list_and_change_pages_render_for_global_admin(root_client, rows, cast, name):
    listing = root_client.get(reverse(f"admin:{name}_changelist"))
    assert listing.status_code == 200
    page = root_client.get(reverse(f"admin:{name}_change", args=[some_pk(name, rows, cast)]))
    assert page.status_code == 200


@pytest.mark.parametrize("name", CONFIGURATION)
def test_configuration_can_be_added_in_admin(root_client, rows, name):
    assert root_client.get(reverse(f"admin:{name}_add")).status_code == 200


@pytest.mark.parametrize("name", READ_ONLY)
def test_records_cannot_be_added_in_admin(root_client, rows, name):
    assert root_client.get(reverse(f"admin:{name}_add")).status_code == 403


@pytest.mark.parametrize("query, shown", [
    ("status=triggered", True), ("status=resolved", False), ("severity=P2", True), ("severity=P4", False),
    ("sensitivity=normal", True), ("sensitivity=restricted", False), ("q=checkout", True), ("q=INC-1", True),
    ("q=INC-2", False),
])
def test_incident_list_filters_and_search(root_client, rows, query, shown):
    assert rows["incident"].severity == "P2"  # degraded on a tier-1 service, by the matrix
    page = root_client.get(reverse("admin:incidents_incident_changelist") + "?" + query)
    assert page.status_code == 200
    assert ("Checkout errors" in page.content.decode()) is shown


def test_incident_search_by_number_respects_list_filters(root_client, rows):
    page = root_client.get(reverse("admin:incidents_incident_changelist") + "?q=INC-1&status=resolved")
    assert page.status_code == 200
    assert "Checkout errors" not in page.content.decode()


def test_incident_change_page_shows_incident_and_timeline_but_cannot_be_edited(root_client, rows):
    incident = rows["incident"]
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    page = root_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Checkout errors" in html and "Looking at the load balancer" in html
    assert 'name="_save"' not in html

    refused = root_client.post(url, {"title": "Edited in the admin", "status": "resolved"})
    assert refused.status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Checkout errors" and incident.status == "triggered"


def test_incident_cannot_be_deleted_in_admin(root_client, rows):
    incident = rows["incident"]
    url = reverse("admin:incidents_incident_delete", args=[incident.pk])
    assert root_client.get(url).status_code == 403
    assert root_client.post(url, {"post": "yes"}).status_code == 403
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_timeline_entry_cannot_be_changed_or_deleted_in_admin(root_client, rows):
    entry = TimelineEntry.objects.filter(incident=rows["incident"]).last()
    delete_url = reverse("admin:incidents_timelineentry_delete", args=[entry.pk])
    assert root_client.get(delete_url).status_code == 403
    assert root_client.post(delete_url, {"post": "yes"}).status_code == 403
    change_url = reverse("admin:incidents_timelineentry_change", args=[entry.pk])
    assert root_client.post(change_url, {"kind": "note"}).status_code == 403
    listing = root_client.get(reverse("admin:incidents_timelineentry_changelist"))
    assert "delete_selected" not in listing.content.decode()
    bulk = root_client.post(reverse("admin:incidents_timelineentry_changelist"),
                            {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert TimelineEntry.objects.filter(pk=entry.pk).exists()


def test_audit_entry_is_shown_but_cannot_be_changed_or_deleted(root_client, rows):
    entry = AuditEntry.objects.order_by("seq").first()
    page = root_client.get(reverse("admin:core_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert root_client.post(reverse("admin:core_auditentry_change", args=[entry.pk]),
                            {"action": "x"}).status_code == 403
    assert root_client.get(reverse("admin:core_auditentry_delete", args=[entry.pk])).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, action=entry.action).exists()


@pytest.mark.parametrize("query, shown, hidden", [
    ("source=admin", [], ["laptop"]),
    ("source=web", ["laptop"], ["Database upgrade"]),
    ("action=maintenancewindow.created", ["Database upgrade"], ["laptop"]),
    ("q=laptop", ["laptop"], ["Database upgrade"]),
    ("q=alice", ["laptop"], ["Database upgrade"]),
])
def test_audit_trail_list_filters_by_source_and_action_and_searches(root_client, rows, query, shown, hidden):
    page = root_client.get(reverse("admin:core_auditentry_changelist") + "?" + query)
    html = page.content.decode()
    assert page.status_code == 200
    assert all(text in html for text in shown)
    assert not any(text in html for text in hidden)


def test_signed_in_non_staff_user_is_sent_to_admin_login(client, cast):
    client.force_login(cast["alice"])
    response = client.get(reverse("admin:core_service_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_outside_the_team_does_not_see_restricted_incident_in_admin(client, cast, make_incident):
    restricted = make_incident(title="Card data exposure", sensitivity="restricted")
    staff = cast["oscar"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_incident"))
    client.force_login(staff)

    listing = client.get(reverse("admin:incidents_incident_changelist"))
    assert listing.status_code == 200 and "Card data exposure" not in listing.content.decode()
    page = client.get(reverse("admin:incidents_incident_change", args=[restricted.pk]), follow=True)
    assert "Card data exposure" not in page.content.decode()
    assert "doesn’t exist" in page.content.decode()
