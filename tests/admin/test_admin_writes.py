"""Every configuration change made in the admin goes through the actions and lands in the
audit trail with source "admin", the acting user and the request's address."""

import hashlib
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from alertum.core.models import ApiToken, AuditEntry, MaintenanceWindow, Membership, Service, Team, User
from incidents.models import ChecklistTemplate, SeverityRule
from tests.admin.conftest import changeform_data

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
RAW_TOKEN = re.compile(r"alt_[0-9a-f]{8}_[A-Za-z0-9_\-]{20,}")


def latest(action):
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


def test_saving_service_in_admin_audits_field_and_dependency_changes(root_client, cast, services):
    checkout, search = services["checkout"], services["search"]
    url = reverse("admin:core_service_change", args=[checkout.pk])
    data = changeform_data(root_client.get(url))
    data.update({"tier": "2", "tags": '["payments", "edge"]', "depends_on": [str(search.pk)], "_save": "Save"})

    response = root_client.post(url, data, REMOTE_ADDR=ADDRESS)

    assert response.status_code == 302
    checkout.refresh_from_db()
    assert checkout.tier == 2 and checkout.tags == ["payments", "edge"]
    assert list(checkout.depends_on.all()) == [search]
    entry = latest("service.updated")
    assert (entry.source, entry.actor, entry.ip_address) == ("admin", cast["root"], ADDRESS)
    assert (entry.object_type, entry.object_id) == ("core.service", str(checkout.pk))
    assert entry.changes == {"tier": [1, 2], "tags": [[], ["payments", "edge"]], "depends_on": [[], [search.pk]]}


def test_resaving_unchanged_service_writes_no_audit_entry(root_client, services):
    url = reverse("admin:core_service_change", args=[services["checkout"].pk])
    data = changeform_data(root_client.get(url))
    before = AuditEntry.objects.count()
    assert root_client.post(url, {**data, "_save": "Save"}).status_code == 302
    assert AuditEntry.objects.count() == before


def test_adding_service_in_admin_audits_creation(root_client, cast, teams):
    response = root_client.post(reverse("admin:core_service_add"), {
        "name": "Ledger", "slug": "ledger", "owner_team": teams["payments"].pk, "tier": "1",
        "tags": '["money"]', "description": "", "runbook_url": "https://runbooks.example.test/ledger",
        "_save": "Save"}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    ledger = Service.objects.get(slug="ledger")
    entry = latest("service.created")
    assert entry.object_id == str(ledger.pk) and entry.source == "admin" and entry.ip_address == ADDRESS
    assert entry.changes["name"] == [None, "Ledger"] and entry.changes["owner_team"] == [None, teams["payments"].pk]


def test_service_with_bad_tags_is_refused_with_a_message(root_client, teams):
    response = root_client.post(reverse("admin:core_service_add"), {
        "name": "Ledger", "slug": "ledger", "owner_team": teams["payments"].pk, "tier": "1",
        "tags": '{"not": "a list"}', "_save": "Save"})
    assert response.status_code == 200
    assert "Enter a list of non-empty strings" in response.content.decode()
    assert not Service.objects.filter(slug="ledger").exists()
    assert not AuditEntry.objects.filter(action="service.created").exists()


def test_deleting_selected_services_audits_each_one(root_client, cast, services):
    response = root_client.post(reverse("admin:core_service_changelist"), {
        "action": "delete_selected", "_selected_action": [services["checkout"].pk, services["search"].pk],
        "post": "yes"}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    assert not Service.objects.exists()
    deleted = AuditEntry.objects.filter(action="service.deleted").order_by("seq")
    assert sorted(e.object_repr for e in deleted) == ["Checkout", "Search"]
    assert all(e.object_type == "core.service" and e.source == "admin" and e.actor == cast["root"]
               and e.ip_address == ADDRESS for e in deleted)


def test_deleting_checklist_template_in_admin_is_audited_under_its_own_app(root_client):
    template = ChecklistTemplate.objects.get(name="P4 response")
    url = reverse("admin:incidents_checklisttemplate_delete", args=[template.pk])
    assert root_client.post(url, {"post": "yes"}).status_code == 302
    assert not ChecklistTemplate.objects.filter(pk=template.pk).exists()
    entry = latest("checklisttemplate.deleted")
    assert entry.object_type == "incidents.checklisttemplate" and entry.changes == {"id": template.pk}


def test_checklist_template_items_must_be_a_list_of_texts(root_client):
    response = root_client.post(reverse("admin:incidents_checklisttemplate_add"), {
        "name": "Broken", "severity": "P2", "items": '"just one string"', "active": "on", "_save": "Save"})
    assert response.status_code == 200 and "non-empty list of item texts" in response.content.decode()
    assert not ChecklistTemplate.objects.filter(name="Broken").exists()


def test_severity_edited_in_the_matrix_list_is_audited(root_client):
    rule = SeverityRule.objects.get(impact="degraded", tier=4, users_affected="")
    changelist = reverse("admin:incidents_severityrule_changelist")
    page = root_client.get(changelist + "?impact=degraded&tier=4")
    formset = page.context["cl"].formset
    data = {f"form-{k}": v for k, v in formset.management_form.initial.items()}
    for i, form in enumerate(formset.forms):
        data[f"form-{i}-id"] = str(form.instance.pk)
        data[f"form-{i}-severity"] = "P3" if form.instance.pk == rule.pk else form.instance.severity
    data["_save"] = "Save"

    assert root_client.post(changelist + "?impact=degraded&tier=4", data).status_code == 302
    rule.refresh_from_db()
    assert rule.severity == "P3"
    assert latest("severityrule.updated").changes == {"severity": ["P4", "P3"]}


def test_team_membership_added_and_removed_inline_are_audited(root_client, cast, teams):
    url = reverse("admin:core_team_change", args=[teams["payments"].pk])
    page = root_client.get(url)
    data = changeform_data(page)
    forms = page.context["inline_admin_formsets"][0].formset.forms
    victor_form = next(i for i, f in enumerate(forms) if f.instance.user == cast["victor"])
    data[f"memberships-{victor_form}-DELETE"] = "on"
    new = int(data["memberships-TOTAL_FORMS"])
    data.update({"memberships-TOTAL_FORMS": str(new + 1), f"memberships-{new}-user": str(cast["oscar"].pk),
                 f"memberships-{new}-role": "viewer", "_save": "Save"})

    assert root_client.post(url, data, REMOTE_ADDR=ADDRESS).status_code == 302

    assert not Membership.objects.filter(team=teams["payments"], user=cast["victor"]).exists()
    assert Membership.objects.get(team=teams["payments"], user=cast["oscar"]).role == "viewer"
    created, deleted = latest("membership.created"), latest("membership.deleted")
    assert created.changes["user"] == [None, cast["oscar"].pk] and created.changes["role"] == [None, "viewer"]
    assert "Victor" in deleted.object_repr and deleted.object_type == "core.membership"
    assert {created.source, deleted.source, created.ip_address} == {"admin", ADDRESS}
    assert not AuditEntry.objects.filter(action="team.updated").exists()  # the team itself did not change


def test_making_a_user_staff_is_audited_without_the_password_hash(root_client, cast):
    victor = cast["victor"]
    url = reverse("admin:core_user_change", args=[victor.pk])
    data = changeform_data(root_client.get(url))
    data.update({"is_staff": "on", "time_zone": "Europe/Berlin", "_save": "Save"})

    assert root_client.post(url, data).status_code == 302

    victor.refresh_from_db()
    assert victor.is_staff and victor.time_zone == "Europe/Berlin"
    entry = latest("user.updated")
    assert entry.changes == {"is_staff": [False, True], "time_zone": ["UTC", "Europe/Berlin"]}
    assert victor.password not in str(entry.changes)


def test_unknown_time_zone_is_refused(root_client, cast):
    url = reverse("admin:core_user_change", args=[cast["victor"].pk])
    data = changeform_data(root_client.get(url))
    data.update({"time_zone": "Mars/Olympus", "_save": "Save"})
    response = root_client.post(url, data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    cast["victor"].refresh_from_db()
    assert cast["victor"].time_zone == "UTC"


def test_password_change_in_admin_is_audited_as_changed_only(root_client, cast):
    bob = cast["bob"]
    response = root_client.post(reverse("admin:auth_user_password_change", args=[bob.pk]),
                                {"usable_password": "true", "password1": "Quiet-lantern-river-77",
                                 "password2": "Quiet-lantern-river-77"}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("Quiet-lantern-river-77")
    entry = latest("user.password_changed")
    assert entry.changes == {"password": "changed"} and entry.ip_address == ADDRESS
    assert AuditEntry.objects.filter(action="user.password_changed").count() == 1
    assert not AuditEntry.objects.filter(action="user.updated").exists()


def test_adding_api_token_shows_raw_value_once_and_stores_only_its_hash(root_client, cast):
    response = root_client.post(reverse("admin:core_apitoken_add"), {
        "user": cast["alice"].pk, "name": "deploy bot", "scope": "write", "_save": "Save"},
        REMOTE_ADDR=ADDRESS, follow=True)

    shown = RAW_TOKEN.findall(response.content.decode())
    assert response.status_code == 200 and len(shown) == 1
    raw = shown[0]
    token = ApiToken.objects.get(user=cast["alice"], name="deploy bot")
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(list(ApiToken.objects.filter(pk=token.pk).values().get().values()))
    assert ApiToken.lookup(raw) == token and token.scope == "write"
    entry = latest("apitoken.created")
    assert (entry.source, entry.actor, entry.ip_address) == ("admin", cast["root"], ADDRESS)
    assert raw not in str(entry.changes) and token.token_hash not in str(entry.changes)

    again = root_client.get(reverse("admin:core_apitoken_changelist"))
    assert raw not in again.content.decode()
    page = root_client.get(reverse("admin:core_apitoken_change", args=[token.pk])).content.decode()
    assert raw not in page and token.token_hash not in page and f"alt_{token.prefix}_" in page


def test_duplicate_token_name_is_refused_in_admin(root_client, cast):
    data = {"user": cast["alice"].pk, "name": "laptop", "scope": "read", "_save": "Save"}
    assert root_client.post(reverse("admin:core_apitoken_add"), data).status_code == 302
    again = root_client.post(reverse("admin:core_apitoken_add"), data)
    assert again.status_code == 200 and "already exists" in again.content.decode()
    assert ApiToken.objects.filter(user=cast["alice"]).count() == 1


def test_staff_may_not_create_a_token_for_someone_else(client, cast):
    staff = cast["carol"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client.force_login(staff)

    response = client.post(reverse("admin:core_apitoken_add"), {
        "user": cast["alice"].pk, "name": "sneaky", "scope": "write", "_save": "Save"}, follow=True)

    assert response.status_code == 200
    assert "Nothing was saved: you may create tokens only for yourself" in response.content.decode()
    assert not ApiToken.objects.filter(name="sneaky").exists()
    assert not AuditEntry.objects.filter(action="apitoken.created").exists()


def test_revoke_action_revokes_selected_tokens_and_audits(root_client, cast, rows):
    token = rows["token"]
    response = root_client.post(reverse("admin:core_apitoken_changelist"), {
        "action": "revoke_tokens", "_selected_action": [token.pk]}, REMOTE_ADDR=ADDRESS, follow=True)
    assert "Revoked 1 token(s)." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = latest("apitoken.revoked")
    assert (entry.object_id, entry.source, entry.ip_address) == (str(token.pk), "admin", ADDRESS)
    assert ApiToken.objects.filter(pk=token.pk).exists()  # revoked, not deleted


def test_renaming_a_token_does_not_bring_back_a_revoked_one(root_client, cast, rows):
    token = rows["token"]
    url = reverse("admin:core_apitoken_change", args=[token.pk])
    page = root_client.get(url)  # the admin has the token loaded as active ...
    root_client.post(reverse("admin:core_apitoken_changelist"),
                     {"action": "revoke_tokens", "_selected_action": [token.pk]})  # ... it is revoked meanwhile
    data = {**changeform_data(page), "name": "old laptop", "_save": "Save"}

    assert root_client.post(url, data).status_code == 302

    token.refresh_from_db()
    assert token.name == "old laptop" and token.revoked_at is not None
    assert latest("apitoken.updated").changes == {"name": ["laptop", "old laptop"]}


def test_tokens_cannot_be_deleted_in_admin(root_client, rows):
    url = reverse("admin:core_apitoken_delete", args=[rows["token"].pk])
    assert root_client.post(url, {"post": "yes"}).status_code == 403
    assert ApiToken.objects.filter(pk=rows["token"].pk).exists()


def test_maintenance_start_action_moves_window_and_audits(root_client, rows):
    window = rows["window"]
    response = root_client.post(reverse("admin:core_maintenancewindow_changelist"), {
        "action": "start_windows", "_selected_action": [window.pk]}, REMOTE_ADDR=ADDRESS, follow=True)
    assert "Started 1 maintenance window(s): Database upgrade." in response.content.decode()
    window.refresh_from_db()
    assert window.state == "in_progress" and window.started_at is not None
    entry = latest("maintenancewindow.state")
    assert entry.changes == {"state": ["scheduled", "in_progress"]} and entry.source == "admin"


def test_maintenance_action_refuses_a_transition_the_window_cannot_make(root_client, rows):
    window = rows["window"]
    response = root_client.post(reverse("admin:core_maintenancewindow_changelist"), {
        "action": "complete_windows", "_selected_action": [window.pk]}, follow=True)
    assert "Not changed — Database upgrade: a scheduled maintenance window cannot become completed" \
        in response.content.decode()
    window.refresh_from_db()
    assert window.state == "scheduled"
    assert not AuditEntry.objects.filter(action="maintenancewindow.state").exists()


def test_maintenance_cancel_action_cancels(root_client, rows):
    window = rows["window"]
    root_client.post(reverse("admin:core_maintenancewindow_changelist"),
                     {"action": "cancel_windows", "_selected_action": [window.pk]})
    window.refresh_from_db()
    assert window.state == "cancelled" and window.completed_at is not None


def test_maintenance_window_added_in_admin_records_creator_and_services(root_client, cast, services):
    response = root_client.post(reverse("admin:core_maintenancewindow_add"), {
        "title": "Network cut-over", "description": "", "services": [services["search"].pk],
        "starts_at_0": "2026-05-01", "starts_at_1": "22:00:00", "ends_at_0": "2026-05-01", "ends_at_1": "23:00:00",
        "_save": "Save"}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get(title="Network cut-over")
    assert window.created_by == cast["root"] and window.state == "scheduled"
    entry = latest("maintenancewindow.created")
    assert entry.changes["services"] == [[], [services["search"].pk]] and entry.ip_address == ADDRESS


def test_maintenance_window_ending_before_it_starts_is_refused(root_client, services):
    response = root_client.post(reverse("admin:core_maintenancewindow_add"), {
        "title": "Backwards", "services": [services["search"].pk],
        "starts_at_0": "2026-05-01", "starts_at_1": "22:00:00", "ends_at_0": "2026-05-01", "ends_at_1": "21:00:00",
        "_save": "Save"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The window must end after it starts." in html and "is violated" not in html
    assert not MaintenanceWindow.objects.filter(title="Backwards").exists()


def test_team_delete_with_services_is_refused_and_not_audited(root_client, teams, services):
    url = reverse("admin:core_team_delete", args=[teams["payments"].pk])
    response = root_client.post(url, {"post": "yes"})
    assert response.status_code == 200 and "would require deleting the following protected" in \
        response.content.decode()
    assert Team.objects.filter(pk=teams["payments"].pk).exists()
    assert not AuditEntry.objects.filter(action="team.deleted").exists()


def test_user_added_in_admin_with_membership_is_audited_without_password(root_client, teams):
    response = root_client.post(reverse("admin:core_user_add"), {
        "username": "dana", "usable_password": "true", "password1": "Quiet-lantern-river-77",
        "password2": "Quiet-lantern-river-77", "time_zone": "Asia/Tokyo",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
        "memberships-0-team": str(teams["platform"].pk), "memberships-0-role": "responder", "_save": "Save"})
    assert response.status_code == 302
    dana = User.objects.get(username="dana")
    assert dana.time_zone == "Asia/Tokyo" and dana.check_password("Quiet-lantern-river-77")
    assert Membership.objects.get(user=dana).team == teams["platform"]
    entry = latest("user.created")
    assert entry.changes["username"] == [None, "dana"] and "password" not in entry.changes
    assert dana.password not in str(entry.changes)
    assert latest("membership.created").changes["user"] == [None, dana.pk]


def test_group_permissions_changed_in_admin_are_audited(root_client, rows):
    group = rows["group"]
    url = reverse("admin:auth_group_change", args=[group.pk])
    permission = Permission.objects.get(codename="change_service")
    data = {**changeform_data(root_client.get(url)), "permissions": [str(permission.pk)], "_save": "Save"}
    assert root_client.post(url, data, REMOTE_ADDR=ADDRESS).status_code == 302
    assert list(group.permissions.all()) == [permission]
    entry = latest("group.updated")
    assert entry.changes == {"permissions": [[], [permission.pk]]} and entry.object_type == "auth.group"


def test_deleting_a_service_incidents_name_is_refused_with_a_message(root_client, incident, services):
    url = reverse("admin:core_service_delete", args=[services["checkout"].pk])
    response = root_client.post(url, {"post": "yes"}, REMOTE_ADDR=ADDRESS, follow=True)
    assert response.status_code == 200
    assert "Nothing was deleted: Checkout is still linked to 1 incidents" in response.content.decode()
    response = root_client.post(reverse("admin:core_service_changelist"), {
        "action": "delete_selected", "_selected_action": [services["checkout"].pk], "post": "yes"}, follow=True)
    assert "Nothing was deleted" in response.content.decode()
    assert Service.objects.filter(slug="checkout").exists()
    assert not AuditEntry.objects.filter(action="service.deleted").exists()
