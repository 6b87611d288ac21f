"""Configuration over HTTP: services, teams and members, maintenance windows, and the
caller's API tokens. Every change is audited with the API as its door."""

import datetime as dt

import pytest

from alertum.core.models import ApiToken, AuditEntry, MaintenanceWindow, Membership, Service, Team

pytestmark = pytest.mark.django_db


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


# --- services ----------------------------------------------------------------------------


def test_any_member_reads_the_service_catalog(as_user, services):
    client = as_user("victor")
    body = client.get("/api/v1/services/").json()
    assert [s["slug"] for s in body["results"]] == ["checkout", "search"]
    detail = client.get("/api/v1/services/checkout/").json()
    assert detail["owner_team"] == "payments" and detail["tier"] == 1
    assert client.get("/api/v1/services/nope/").status_code == 404


def test_team_admin_creates_a_service_for_their_team_and_it_is_audited(as_user, adam, services):
    response = as_user("adam").post("/api/v1/services/", {
        "name": "Card vault", "slug": "card-vault", "owner_team": "payments", "tier": 1,
        "depends_on": ["checkout"], "tags": ["pci"], "runbook_url": "https://wiki.example.test/vault",
    }, format="json")
    assert response.status_code == 201
    assert response.json()["depends_on"] == ["checkout"] and response.json()["tags"] == ["pci"]
    entry = AuditEntry.objects.get(action="service.created")
    assert (entry.source, entry.actor.username, entry.ip_address) == ("api", "adam", "127.0.0.1")
    assert entry.changes["depends_on"] == [[], [services["checkout"].pk]]


@pytest.mark.parametrize("who, team", [("alice", "payments"), ("adam", "platform")])
def test_non_admins_of_the_owner_team_cannot_create_services(as_user, adam, services, who, team):
    response = as_user(who).post("/api/v1/services/", {"name": "X", "slug": "x", "owner_team": team},
                                 format="json")
    assert response.status_code == 403
    assert not Service.objects.filter(slug="x").exists() and audit_actions() == []


@pytest.mark.parametrize("body, field", [
    ({"name": "Y", "slug": "checkout", "owner_team": "payments"}, "slug"),
    ({"name": "Y", "slug": "y", "owner_team": "nope"}, "owner_team"),
    ({"name": "Y", "slug": "y", "owner_team": "payments", "tier": 7}, "tier"),
    ({"name": "Y", "slug": "y", "owner_team": "payments", "depends_on": ["nope"]}, "depends_on"),
    ({"name": "Y", "slug": "not a slug", "owner_team": "payments"}, "slug"),
])
def test_bad_service_input_is_400_and_saves_nothing(as_user, services, body, field):
    response = as_user("root").post("/api/v1/services/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Service.objects.count() == 2 and audit_actions() == []


def test_team_admin_updates_and_deletes_their_service(as_user, adam, services):
    client = as_user("adam")
    response = client.patch("/api/v1/services/checkout/", {"tier": 2, "description": "Pay"}, format="json")
    assert response.status_code == 200 and response.json()["tier"] == 2
    assert AuditEntry.objects.get(action="service.updated").changes == {"tier": [1, 2], "description": ["", "Pay"]}
    response = client.patch("/api/v1/services/checkout/", {"depends_on": ["checkout"]}, format="json")
    assert response.status_code == 400 and response.json() == {"depends_on": ["a service cannot depend on itself"]}
    assert client.delete("/api/v1/services/checkout/").status_code == 204
    assert not Service.objects.filter(slug="checkout").exists()
    assert audit_actions() == ["service.updated", "service.deleted"]


def test_service_cannot_be_given_to_a_team_you_do_not_administer(as_user, adam, services):
    response = as_user("adam").patch("/api/v1/services/checkout/", {"owner_team": "platform"}, format="json")
    assert response.status_code == 403 and response.json()["field"] == "owner_team"
    assert Service.objects.get(slug="checkout").owner_team.slug == "payments"


def test_responder_cannot_change_or_delete_a_service(as_user, services):
    client = as_user("alice")
    assert client.patch("/api/v1/services/checkout/", {"tier": 4}, format="json").status_code == 403
    assert client.delete("/api/v1/services/checkout/").status_code == 403
    assert Service.objects.get(slug="checkout").tier == 1 and audit_actions() == []


# --- teams -------------------------------------------------------------------------------


def test_teams_list_their_members_and_roles(as_user, cast):
    body = as_user("oscar").get("/api/v1/teams/payments/").json()
    assert body["members"] == [
        {"username": "alice", "name": "Alice", "role": "responder"},
        {"username": "bob", "name": "Bob", "role": "responder"},
        {"username": "carol", "name": "Carol", "role": "commander"},
        {"username": "victor", "name": "Victor", "role": "viewer"},
    ]


def test_global_admin_creates_a_team_and_manages_members(as_user, cast):
    client = as_user("root")
    response = client.post("/api/v1/teams/", {"name": "Data", "slug": "data"}, format="json")
    assert response.status_code == 201 and response.json()["members"] == []
    response = client.post("/api/v1/teams/data/members/", {"user": "alice", "role": "responder"}, format="json")
    assert response.status_code == 200
    assert response.json()["members"] == [{"username": "alice", "name": "Alice", "role": "responder"}]
    response = client.post("/api/v1/teams/data/members/", {"user": cast["alice"].pk, "role": "admin"},
                           format="json")
    assert response.json()["members"][0]["role"] == "admin"
    assert client.delete("/api/v1/teams/data/members/alice/").status_code == 204
    assert client.delete("/api/v1/teams/data/members/alice/").status_code == 404
    assert audit_actions() == ["team.created", "membership.created", "membership.updated", "membership.deleted"]


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/v1/teams/", {"name": "Data", "slug": "data"}),
    ("patch", "/api/v1/teams/payments/", {"description": "ours"}),
    ("delete", "/api/v1/teams/platform/", None),
    ("post", "/api/v1/teams/payments/members/", {"user": "nobody", "role": "admin"}),
    ("delete", "/api/v1/teams/payments/members/bob/", None),
])
def test_team_admins_are_not_global_admins(as_user, adam, method, path, body):
    response = getattr(as_user("adam"), method)(path, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "only a global admin may change teams and memberships"}
    assert Team.objects.count() == 2 and Membership.objects.count() == 6 and audit_actions() == []


def test_member_with_unknown_user_or_role_is_400(as_user, cast):
    client = as_user("root")
    response = client.post("/api/v1/teams/payments/members/", {"user": "ghost", "role": "admin"}, format="json")
    assert response.status_code == 400 and response.json() == {"user": ["no user 'ghost'"]}
    response = client.post("/api/v1/teams/payments/members/", {"user": "bob", "role": "king"}, format="json")
    assert response.status_code == 400 and "role" in response.json()
    assert audit_actions() == []


def test_team_that_still_owns_services_cannot_be_deleted(as_user, services):
    response = as_user("root").delete("/api/v1/teams/platform/")
    assert response.status_code == 409 and response.json() == {
        "detail": "Platform still has services; move or delete those first"}
    assert Team.objects.filter(slug="platform").exists() and audit_actions() == []


# --- maintenance windows ---------------------------------------------------------------------


def window_body(**extra):
    return {"title": "DB upgrade", "services": ["checkout"], "starts_at": "2026-03-03T22:00:00Z",
            "ends_at": "2026-03-03T23:00:00Z", **extra}


def test_responder_schedules_maintenance_for_their_services(as_user, services):
    response = as_user("alice").post("/api/v1/maintenance-windows/", window_body(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "scheduled" and body["services"] == ["checkout"] and body["created_by"] == "alice"
    assert body["starts_at"] == "2026-03-03T22:00:00Z"
    assert audit_actions() == ["maintenancewindow.created"]
    listed = as_user("oscar").get("/api/v1/maintenance-windows/", {"state": "scheduled"}).json()
    assert [w["id"] for w in listed["results"]] == [body["id"]]


@pytest.mark.parametrize("who, body, code", [
    ("oscar", window_body(), 403),
    ("victor", window_body(), 403),
    ("alice", window_body(ends_at="2026-03-03T21:00:00Z"), 422),
    ("alice", window_body(services=[]), 422),
    ("alice", window_body(services=["nope"]), 400),
    ("alice", window_body(starts_at="soon"), 400),
])
def test_refused_maintenance_is_not_scheduled(as_user, services, who, body, code):
    response = as_user(who).post("/api/v1/maintenance-windows/", body, format="json")
    assert response.status_code == code
    assert not MaintenanceWindow.objects.exists() and audit_actions() == []


def test_maintenance_moves_through_its_states(as_user, services):
    client = as_user("alice")
    window_id = client.post("/api/v1/maintenance-windows/", window_body(), format="json").json()["id"]
    url = f"/api/v1/maintenance-windows/{window_id}/state/"
    response = client.post(url, {"state": "in_progress"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "in_progress"
    assert response.json()["started_at"] is not None
    assert client.post(url, {"state": "completed"}, format="json").json()["state"] == "completed"
    response = client.post(url, {"state": "scheduled"}, format="json")
    assert response.status_code == 409 and response.json() == {
        "detail": "a completed maintenance window cannot become scheduled"}
    assert client.post(url, {"state": "paused"}, format="json").status_code == 400
    assert audit_actions() == ["maintenancewindow.created", "maintenancewindow.state", "maintenancewindow.state"]


def test_outsiders_cannot_move_a_maintenance_window(as_user, services):
    window_id = as_user("alice").post("/api/v1/maintenance-windows/", window_body(), format="json").json()["id"]
    for who in ("oscar", "victor"):
        response = as_user(who).post(f"/api/v1/maintenance-windows/{window_id}/state/", {"state": "cancelled"},
                                     format="json")
        assert response.status_code == 403
    assert MaintenanceWindow.objects.get().state == "scheduled"


def test_maintenance_list_rejects_unknown_states(as_user, services):
    response = as_user("alice").get("/api/v1/maintenance-windows/", {"state": "paused"})
    assert response.status_code == 400 and "unknown state paused" in response.json()["state"][0]


def test_maintenance_times_without_offset_are_read_as_utc(as_user, services):
    response = as_user("alice").post("/api/v1/maintenance-windows/", window_body(
        starts_at="2026-03-03T22:00:00", ends_at="2026-03-03T23:00:00"), format="json")
    assert response.status_code == 201
    assert MaintenanceWindow.objects.get().starts_at == dt.datetime(2026, 3, 3, 22, tzinfo=dt.UTC)


# --- API tokens ------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_hashed(as_user, cast, incident):
    client = as_user("alice")
    response = client.post("/api/v1/tokens/", {"name": "ci", "scope": "write"}, format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("alt_") and response.json()["prefix"] in raw
    stored = ApiToken.objects.get(name="ci")
    assert raw not in {stored.token_hash, stored.prefix} and len(stored.token_hash) == 64
    for value in ApiToken.objects.filter(pk=stored.pk).values().get().values():  # no column holds it
        assert value != raw
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert raw not in client.get("/api/v1/tokens/").content.decode()
    assert AuditEntry.objects.get(action="apitoken.created").changes == {"user": cast["alice"].pk, "scope": "write"}


def test_created_token_authenticates_and_revoking_it_locks_it_out(as_user, anonymous):
    client = as_user("alice")
    body = client.post("/api/v1/tokens/", {"name": "ci", "scope": "read"}, format="json").json()
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert anonymous.get("/api/v1/incidents/").status_code == 200
    assert client.delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert anonymous.get("/api/v1/incidents/").status_code == 401
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert listed[0]["active"] is False and listed[0]["revoked_at"] is not None


def test_users_see_and_revoke_only_their_own_tokens(as_user):
    token_id = as_user("alice").post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["id"]
    bob = as_user("bob")
    assert bob.get("/api/v1/tokens/").json()["results"] == []
    assert bob.delete(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(pk=token_id).is_active


@pytest.mark.parametrize("body, code, field", [
    ({"name": "ci"}, 409, "field"),
    ({"name": ""}, 400, "name"),
    ({"name": "other", "scope": "admin"}, 400, "scope"),
])
def test_bad_token_requests_create_nothing(as_user, body, code, field):
    client = as_user("alice")
    client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    response = client.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == code and field in response.json()
    assert ApiToken.objects.count() == 1


def test_new_token_defaults_to_read_scope(as_user):
    assert as_user("alice").post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["scope"] == "read"


def test_read_scope_token_cannot_mint_tokens(token_for):
    client, _ = token_for("alice", scope="read")
    assert client.post("/api/v1/tokens/", {"name": "more", "scope": "write"}, format="json").status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_service_that_incidents_name_cannot_be_deleted(as_user, adam, incident):
    response = as_user("adam").delete("/api/v1/services/checkout/")
    assert response.status_code == 409 and "still linked to 1 incidents" in response.json()["detail"]
    assert Service.objects.filter(slug="checkout").exists() and audit_actions() == []
