"""The incidents collection over HTTP: list (filters, pagination, constant queries),
declare, read, partial update."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Incident
from tests.api.conftest import timeline_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


def refs(response) -> list[str]:
    return [row["reference"] for row in response.json()["results"]]


# --- list ---------------------------------------------------------------------------------


def test_list_shows_visible_incidents_newest_first(as_user, make_incident):
    make_incident(title="First")
    make_incident(title="Second")
    make_incident(title="Platform secret", team="platform", actor="oscar", sensitivity="restricted")

    assert refs(as_user("alice").get(URL)) == ["INC-2", "INC-1"]
    assert refs(as_user("oscar").get(URL)) == ["INC-3", "INC-2", "INC-1"]
    assert refs(as_user("root").get(URL)) == ["INC-3", "INC-2", "INC-1"]


def test_user_in_no_team_sees_an_empty_list(as_user, make_incident):
    make_incident()
    response = as_user("nobody").get(URL)
    assert response.status_code == 200 and response.json()["count"] == 0


def test_list_filters_by_status_severity_service_team_mine_and_q(as_user, make_incident, cast):
    checkout = make_incident(title="Checkout down", impact="outage")  # P1
    slow = make_incident(title="Search slow", team="platform", actor="oscar")  # P3
    mine = make_incident(title="Card declines", assignee=cast["alice"])
    client = as_user("alice")
    as_user("oscar").post(f"{URL}{slow.pk}/resolve/", {}, format="json")

    assert refs(client.get(URL, {"status": "open"})) == [mine.reference, checkout.reference]
    assert refs(client.get(URL, {"status": "resolved"})) == [slow.reference]
    assert refs(client.get(URL, {"status": "triggered, resolved"})) == ["INC-3", "INC-2", "INC-1"]
    assert refs(client.get(URL, {"severity": "P1"})) == [checkout.reference]
    assert refs(client.get(URL, {"service": "search"})) == [slow.reference]
    assert refs(client.get(URL, {"team": "payments"})) == [mine.reference, checkout.reference]
    assert refs(client.get(URL, {"mine": "1"})) == [mine.reference]
    assert refs(client.get(URL, {"q": "declines"})) == [mine.reference]
    assert refs(client.get(URL, {"q": "INC-1"})) == [checkout.reference]


@pytest.mark.parametrize("params, field, text", [
    ({"status": "bogus"}, "status", "unknown status 'bogus'"),
    ({"status": "open,resolved"}, "status", "unknown status 'open'"),
    ({"severity": "P9"}, "severity", "unknown severity 'P9'"),
    ({"service": "nope"}, "service", "no service with slug 'nope'"),
    ({"team": "nope"}, "team", "no team with slug 'nope'"),
    ({"mine": "maybe"}, "mine", "must be 1 or 0"),
    ({"page_size": "0"}, "page_size", "from 1 to 200"),
    ({"page_size": "²"}, "page_size", "from 1 to 200"),
])
def test_list_rejects_unknown_filter_values_with_a_message(as_user, incident, params, field, text):
    response = as_user("alice").get(URL, params)
    assert response.status_code == 400
    assert text in response.json()[field][0]


@pytest.mark.parametrize("q", ["²", "INC-99999999999999999999999"])
def test_list_search_for_odd_numbers_finds_nothing_rather_than_failing(as_user, incident, q):
    response = as_user("alice").get(URL, {"q": q})
    assert response.status_code == 200 and response.json()["count"] == 0


def test_list_paginates_by_page_number(as_user, make_incident):
    for n in range(5):
        make_incident(title=f"Incident {n}")
    client = as_user("alice")
    first = client.get(URL, {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and "page=2" in first["next"]
    last = client.get(URL, {"page_size": 2, "page": 3}).json()
    assert [row["reference"] for row in last["results"]] == ["INC-1"] and last["next"] is None
    assert client.get(URL, {"page": 9}).status_code == 404


def test_list_query_count_does_not_grow_with_page_size(as_user, make_incident, cast, services):
    people = ["alice", "bob", "carol", "victor"]
    for n in range(12):
        make_incident(title=f"Incident {n}", assignee=cast[people[n % 4]], commander=cast[people[(n + 1) % 4]],
                      services=[services["checkout"], services["search"]])
    client = as_user("alice")

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"page_size": page_size})
        assert response.status_code == 200 and len(response.json()["results"]) == page_size
        return len(queries)

    count(1)  # warm up anything cached per process
    assert count(2) == count(12)


# --- declare ------------------------------------------------------------------------------


def test_declare_returns_201_with_the_incident(as_user, services):
    response = as_user("alice").post(URL, {
        "title": "Payments failing", "team": "payments", "services": ["checkout"], "impact": "outage",
        "tags": ["cards"], "assignee": "bob",
    }, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["reference"] == "INC-1" and body["severity"] == "P1" and body["status"] == "triggered"
    assert body["team"]["slug"] == "payments" and [s["slug"] for s in body["services"]] == ["checkout"]
    assert body["assignee"]["username"] == "bob" and body["source"] == "api" and body["tags"] == ["cards"]
    assert response["Location"].endswith(f"/api/v1/incidents/{body['id']}/")
    incident = Incident.objects.get(pk=body["id"])
    assert timeline_of(incident) == [(1, "incident.declared")]
    assert incident.timeline.get().source == "api"


@pytest.mark.parametrize("body, field", [
    ({"title": "X", "team": "nope"}, "team"),
    ({"title": "X", "team": "payments", "services": ["nope"]}, "services"),
    ({"title": "X", "team": "payments", "services": "checkout"}, "services"),
    ({"title": "", "team": "payments"}, "title"),
    ({"team": "payments"}, "title"),
    ({"title": "X", "team": "payments", "impact": "apocalypse"}, "impact"),
    ({"title": "X", "team": "payments", "assignee": "ghost"}, "assignee"),
    ({"title": "X", "team": "payments", "started_at": "yesterday"}, "started_at"),
])
def test_declare_with_bad_input_is_400_and_creates_nothing(as_user, services, body, field):
    response = as_user("alice").post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Incident.objects.exists()


def test_declare_with_a_severity_other_than_the_matrix_needs_a_reason(as_user, services):
    client = as_user("alice")
    body = {"title": "X", "team": "payments", "services": ["checkout"], "impact": "outage", "severity": "P3"}
    response = client.post(URL, body, format="json")
    assert response.status_code == 422
    assert response.json() == {"detail": "the matrix gives P1; a reason is required to set P3",
                               "field": "severity_reason"}
    assert not Incident.objects.exists()
    response = client.post(URL, {**body, "severity_reason": "internal tool only"}, format="json")
    assert response.status_code == 201 and response.json()["severity"] == "P3"


def test_viewer_cannot_declare(as_user, cast):
    response = as_user("victor").post(URL, {"title": "X", "team": "payments"}, format="json")
    assert response.status_code == 403 and "responder role" in response.json()["detail"]
    assert not Incident.objects.exists()


def test_member_of_another_team_cannot_declare_for_it(as_user, cast):
    response = as_user("oscar").post(URL, {"title": "X", "team": "payments"}, format="json")
    assert response.status_code == 403
    assert not Incident.objects.exists()


# --- retrieve -------------------------------------------------------------------------------


def test_retrieve_shows_roles_services_checklist_timestamps_reference_and_channel_slug(clock, as_user, make_incident,
                                                                                      cast):
    incident = make_incident(title="Checkout errors", commander=cast["carol"], impact="outage")
    as_user("alice").post(f"{URL}{incident.pk}/assign-role/", {"role": "responder", "user": "bob"}, format="json")
    as_user("alice").post(f"{URL}{incident.pk}/acknowledge/")

    body = as_user("victor").get(f"{URL}{incident.pk}/").json()
    assert body["reference"] == "INC-1" and body["channel_slug"] == "inc-20260302-checkout-errors"
    assert body["roles"]["commander"]["username"] == "carol"
    assert [r["username"] for r in body["roles"]["responders"]] == ["bob"]
    assert body["roles"]["comms_lead"] is None
    assert [s["slug"] for s in body["services"]] == ["checkout"]
    assert body["checklist"][0] == {"id": body["checklist"][0]["id"], "position": 1, "text": "Confirm impact scope",
                                    "done": False, "done_at": None, "done_by": None}
    assert body["started_at"] == body["detected_at"] == body["acknowledged_at"] == "2026-03-02T09:00:00Z"
    assert body["resolved_at"] is None and body["status"] == "acknowledged" and body["last_seq"] == 3
    assert body["your_access"] == {"respond": False, "command": False}


def test_times_are_utc_whatever_the_callers_time_zone(clock, as_user, incident):
    # alice's pages show Europe/Amsterdam; the API always answers in UTC.
    body = as_user("alice").get(f"{URL}{incident.pk}/").json()
    assert body["created_at"] == "2026-03-02T09:00:00Z"


def test_restricted_incident_is_404_for_outsiders_and_visible_to_its_team(as_user, make_incident):
    secret = make_incident(title="Fraud ring", sensitivity="restricted")
    url = f"{URL}{secret.pk}/"
    response = as_user("oscar").get(url)
    assert response.status_code == 404 and response.json() == {"detail": f"incident {secret.pk} does not exist"}
    assert as_user("nobody").get(url).status_code == 404
    assert as_user("victor").get(url).status_code == 200
    assert as_user("root").get(url).status_code == 200


def test_malformed_json_is_400_and_changes_nothing(as_user, incident):
    response = as_user("alice").generic("PATCH", f"{URL}{incident.pk}/", '{"title": ', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.title == "Checkout errors"


@pytest.mark.parametrize("path", ["999/", "abc/", "99999999999999999999999/", "999/timeline/", "999/acknowledge/"])
def test_unknown_incident_is_404(as_user, incident, path):
    client = as_user("alice")
    response = client.post(URL + path) if path.endswith("acknowledge/") else client.get(URL + path)
    assert response.status_code == 404


# --- partial update ---------------------------------------------------------------------------


def test_patch_applies_one_action_per_changed_concern(as_user, incident, services):
    response = as_user("alice").patch(f"{URL}{incident.pk}/", {
        "title": "Checkout errors in EU", "services": ["checkout", "search"], "urgency": "low",
        "severity": "P1", "severity_reason": "all card payments fail", "assignee": "bob",
    }, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Checkout errors in EU" and body["urgency"] == "low"
    assert body["severity"] == "P1" and body["severity_reason"] == "all card payments fail"
    assert body["assignee"]["username"] == "bob"
    assert [s["slug"] for s in body["services"]] == ["checkout", "search"]
    assert [kind for _, kind in timeline_of(incident)] == [
        "incident.declared", "incident.edited", "severity.changed", "assignee.changed"]


def test_patch_severity_without_a_reason_is_400_and_changes_nothing(as_user, incident):
    response = as_user("alice").patch(f"{URL}{incident.pk}/", {"title": "New", "severity": "P1"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"severity_reason": ["a reason is required to change the severity"]}
    incident.refresh_from_db()
    assert incident.title == "Checkout errors" and timeline_of(incident) == [(1, "incident.declared")]


def test_patch_points_to_the_action_for_fields_it_does_not_change(as_user, incident):
    response = as_user("alice").patch(f"{URL}{incident.pk}/", {"status": "resolved"}, format="json")
    assert response.status_code == 400
    assert "POST /incidents/{id}/status/" in response.json()["status"][0]
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_empty_patch_is_400(as_user, incident):
    response = as_user("alice").patch(f"{URL}{incident.pk}/", {}, format="json")
    assert response.status_code == 400 and "at least one field" in response.json()["non_field_errors"][0]


def test_patch_refused_by_a_later_action_undoes_the_earlier_ones(as_user, incident):
    # The title edit succeeds, then oscar (not in Payments) cannot be the assignee: nothing sticks.
    response = as_user("alice").patch(f"{URL}{incident.pk}/", {"title": "Renamed", "assignee": "oscar"},
                                      format="json")
    assert response.status_code == 422
    assert response.json() == {"detail": "Oscar is not a member of the owning team", "field": "assignee"}
    incident.refresh_from_db()
    assert incident.title == "Checkout errors" and incident.assignee is None
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_responder_cannot_restrict_an_incident_but_the_commander_can(as_user, incident):
    url = f"{URL}{incident.pk}/"
    response = as_user("alice").patch(url, {"sensitivity": "restricted"}, format="json")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.sensitivity == "normal" and timeline_of(incident) == [(1, "incident.declared")]
    response = as_user("carol").patch(url, {"sensitivity": "restricted"}, format="json")
    assert response.status_code == 200 and response.json()["sensitivity"] == "restricted"
    assert as_user("oscar").get(url).status_code == 404


def test_viewer_cannot_patch(as_user, incident):
    response = as_user("victor").patch(f"{URL}{incident.pk}/", {"title": "Mine now"}, format="json")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Checkout errors"


def test_put_is_not_offered(as_user, incident):
    response = as_user("alice").put(f"{URL}{incident.pk}/", {"title": "X"}, format="json")
    assert response.status_code == 405
