"""Working an incident over HTTP: lifecycle actions, roles, comments, updates, checklist,
evidence and the timeline. Refusals answer 4xx and leave the timeline as it was."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents.models import Evidence, Incident
from tests.api.conftest import timeline_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


def post(client, incident, path, body=None):
    return client.post(f"{URL}{incident.pk}/{path}", body or {}, format="json")


# --- acknowledge / resolve / reopen / status ------------------------------------------------


def test_acknowledge_moves_to_acknowledged_and_records_the_api_door(as_user, incident):
    response = post(as_user("bob"), incident, "acknowledge/")
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged" and response.json()["acknowledged_at"]
    entry = incident.timeline.order_by("seq").last()
    assert (entry.seq, entry.kind, entry.source, entry.actor.username) == (2, "status.changed", "api", "bob")


def test_second_acknowledge_changes_nothing(as_user, incident):
    post(as_user("bob"), incident, "acknowledge/")
    response = post(as_user("alice"), incident, "acknowledge/")
    assert response.status_code == 200
    assert timeline_of(incident) == [(1, "incident.declared"), (2, "status.changed")]


def test_viewer_cannot_acknowledge(as_user, incident):
    response = post(as_user("victor"), incident, "acknowledge/")
    assert response.status_code == 403
    assert response.json() == {"detail": "you need the responder role in the owning team"}
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_responder_of_another_team_sees_but_cannot_acknowledge(as_user, incident):
    client = as_user("oscar")
    assert client.get(f"{URL}{incident.pk}/").status_code == 200
    assert post(client, incident, "acknowledge/").status_code == 403
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_restricted_incident_actions_are_404_for_outsiders(as_user, make_incident):
    secret = make_incident(sensitivity="restricted")
    for path, body in (("acknowledge/", {}), ("comments/", {"body": "hi"}), ("timeline/", None)):
        client = as_user("oscar")
        response = client.get(f"{URL}{secret.pk}/{path}") if body is None else post(client, secret, path, body)
        assert response.status_code == 404, path
    assert timeline_of(secret) == [(1, "incident.declared")]


def test_resolve_with_a_note_then_acknowledge_is_a_conflict(as_user, incident):
    client = as_user("alice")
    response = post(client, incident, "resolve/", {"note": "rolled back"})
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert incident.timeline.order_by("seq").last().data == {"from": "triggered", "to": "resolved",
                                                             "note": "rolled back"}
    before = timeline_of(incident)
    response = post(client, incident, "acknowledge/")
    assert response.status_code == 409 and response.json() == {"detail": "INC-1 is resolved; reopen it first"}
    assert timeline_of(incident) == before


def test_reopen_needs_a_reason(as_user, incident):
    client = as_user("alice")
    post(client, incident, "resolve/")
    before = timeline_of(incident)
    response = post(client, incident, "reopen/", {})
    assert response.status_code == 400 and "reason" in response.json()
    assert timeline_of(incident) == before
    response = post(client, incident, "reopen/", {"reason": "errors are back"})
    assert response.status_code == 200 and response.json()["status"] == "triggered"
    assert incident.timeline.order_by("seq").last().data == {"reason": "errors are back"}


def test_status_follows_the_transition_table(as_user, incident):
    client = as_user("alice")
    response = post(client, incident, "status/", {"status": "identified", "note": "bad deploy"})
    assert response.status_code == 200 and response.json()["status"] == "identified"
    assert response.json()["identified_at"] is not None
    before = timeline_of(incident)
    response = post(client, incident, "status/", {"status": "triggered"})
    assert response.status_code == 409 and "reopen" in response.json()["detail"]
    response = post(client, incident, "status/", {"status": "fixed"})
    assert response.status_code == 400 and response.json() == {"status": ['"fixed" is not a valid choice.']}
    assert timeline_of(incident) == before


# --- severity / team / roles -------------------------------------------------------------------


def test_severity_change_needs_a_reason_and_records_it(as_user, incident):
    client = as_user("alice")
    response = post(client, incident, "severity/", {"severity": "P1"})
    assert response.status_code == 400 and "reason" in response.json()
    response = post(client, incident, "severity/", {"severity": "P9", "reason": "x"})
    assert response.status_code == 400 and "severity" in response.json()
    assert timeline_of(incident) == [(1, "incident.declared")]
    response = post(client, incident, "severity/", {"severity": "P1", "reason": "all payments fail"})
    assert response.status_code == 200 and response.json()["severity"] == "P1"
    assert incident.timeline.order_by("seq").last().data == {"from": "P2", "to": "P1", "reason": "all payments fail"}


def test_only_the_commander_may_hand_the_incident_to_another_team(as_user, incident):
    response = post(as_user("alice"), incident, "team/", {"team": "platform"})
    assert response.status_code == 403 and "commander" in response.json()["detail"]
    response = post(as_user("carol"), incident, "team/", {"team": "nope"})
    assert response.status_code == 400 and response.json() == {"team": ["no team with slug 'nope'"]}
    assert timeline_of(incident) == [(1, "incident.declared")]
    response = post(as_user("carol"), incident, "team/", {"team": "platform"})
    assert response.status_code == 200 and response.json()["team"]["slug"] == "platform"


def test_commander_who_moves_a_restricted_incident_away_sees_the_outcome_once(as_user, make_incident):
    secret = make_incident(sensitivity="restricted")
    response = post(as_user("carol"), secret, "team/", {"team": "platform"})
    assert response.status_code == 200 and response.json()["team"]["slug"] == "platform"
    assert as_user("carol").get(f"{URL}{secret.pk}/").status_code == 404


def test_assign_role_by_username_or_id(as_user, incident, cast):
    response = post(as_user("carol"), incident, "assign-role/", {"role": "commander", "user": "carol"})
    assert response.status_code == 200 and response.json()["roles"]["commander"]["username"] == "carol"
    response = post(as_user("alice"), incident, "assign-role/", {"role": "comms_lead", "user": cast["bob"].pk})
    assert response.status_code == 200 and response.json()["roles"]["comms_lead"]["username"] == "bob"
    response = post(as_user("alice"), incident, "assign-role/", {"role": "responder", "user": "alice"})
    assert [r["username"] for r in response.json()["roles"]["responders"]] == ["alice"]
    response = post(as_user("alice"), incident, "assign-role/", {"role": "responder", "user": "alice",
                                                                 "remove": True})
    assert response.json()["roles"]["responders"] == []
    assert [kind for _, kind in timeline_of(incident)].count("role.changed") == 4


def test_only_the_commander_may_reassign_the_commander(as_user, incident):
    post(as_user("carol"), incident, "assign-role/", {"role": "commander", "user": "carol"})
    before = timeline_of(incident)
    response = post(as_user("alice"), incident, "assign-role/", {"role": "commander", "user": "alice"})
    assert response.status_code == 403
    assert response.json() == {"detail": "only the incident commander or an admin may reassign the commander"}
    assert timeline_of(incident) == before


@pytest.mark.parametrize("body, code, field", [
    ({"role": "commander", "user": "ghost"}, 400, "user"),
    ({"role": "boss", "user": "bob"}, 400, "role"),
    ({"role": "comms_lead"}, 400, "user"),
    ({"role": "comms_lead", "user": "oscar"}, 422, "field"),
    ({"role": "responder", "user": None}, 422, "field"),
])
def test_assign_role_with_bad_input_changes_nothing(as_user, incident, body, code, field):
    response = post(as_user("alice"), incident, "assign-role/", body)
    assert response.status_code == code and field in response.json()
    assert timeline_of(incident) == [(1, "incident.declared")]


# --- merge and relate ------------------------------------------------------------------------


def test_merge_points_the_duplicate_at_the_survivor(as_user, make_incident):
    survivor, duplicate = make_incident(title="Checkout down"), make_incident(title="Checkout 500s")
    response = post(as_user("alice"), duplicate, "merge/", {"into": survivor.pk})
    assert response.status_code == 200 and response.json()["id"] == survivor.pk
    body = as_user("alice").get(f"{URL}{duplicate.pk}/").json()
    assert body["status"] == "resolved" and body["merged_into"]["reference"] == survivor.reference
    assert timeline_of(duplicate)[-1][1] == "incident.merged_into"
    assert timeline_of(survivor)[-1][1] == "incident.merged"


@pytest.mark.parametrize("into, code", [("self", 422), (999, 400), ("x", 400)])
def test_merge_with_bad_target_changes_nothing(as_user, incident, into, code):
    response = post(as_user("alice"), incident, "merge/", {"into": incident.pk if into == "self" else into})
    assert response.status_code == code
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_merge_into_a_restricted_incident_you_cannot_see_reads_as_unknown(as_user, make_incident):
    mine = make_incident()
    secret = make_incident(team="platform", actor="oscar", sensitivity="restricted")
    response = post(as_user("alice"), mine, "merge/", {"into": secret.pk})
    assert response.status_code == 400 and response.json() == {"into": [f"incident {secret.pk} does not exist"]}
    assert timeline_of(mine) == [(1, "incident.declared")] and timeline_of(secret) == [(1, "incident.declared")]


def test_merge_needs_the_responder_role_in_both_teams(as_user, make_incident):
    mine, theirs = make_incident(), make_incident(team="platform", actor="oscar")
    response = post(as_user("alice"), mine, "merge/", {"into": theirs.pk})
    assert response.status_code == 403
    assert Incident.objects.get(pk=mine.pk).merged_into is None


def test_relate_links_both_incidents(as_user, make_incident):
    first, second = make_incident(), make_incident(title="Card declines")
    response = post(as_user("alice"), first, "relate/", {"other": second.pk})
    assert response.status_code == 200
    assert [r["reference"] for r in response.json()["related"]] == [second.reference]
    assert timeline_of(second)[-1][1] == "incident.related"
    response = post(as_user("alice"), first, "relate/", {"other": first.pk})
    assert response.status_code == 422 and response.json()["field"] == "other"


def test_related_restricted_incident_is_not_shown_to_outsiders(as_user, make_incident):
    normal, secret = make_incident(), make_incident(title="Fraud", sensitivity="restricted")
    post(as_user("alice"), normal, "relate/", {"other": secret.pk})
    assert as_user("oscar").get(f"{URL}{normal.pk}/").json()["related"] == []
    assert len(as_user("alice").get(f"{URL}{normal.pk}/").json()["related"]) == 1


# --- comments and updates ----------------------------------------------------------------------


def test_comment_is_appended_to_the_timeline(as_user, incident):
    response = post(as_user("bob"), incident, "comments/", {"body": "Looking at the <b>logs</b>", "public": True})
    assert response.status_code == 201
    body = response.json()
    assert (body["seq"], body["kind"], body["visibility"], body["source"]) == (2, "comment", "public", "api")
    assert body["data"] == {"body": "Looking at the <b>logs</b>"} and body["actor"]["username"] == "bob"
    assert post(as_user("bob"), incident, "comments/", {"body": "internal"}).json()["visibility"] == "internal"


@pytest.mark.parametrize("who, body, code", [
    ("alice", {"body": ""}, 400),
    ("alice", {"body": "   "}, 400),
    ("alice", {}, 400),
    ("alice", {"body": "x" * 10_001}, 400),
    ("victor", {"body": "can I?"}, 403),
])
def test_refused_comment_changes_nothing(as_user, incident, who, body, code):
    response = post(as_user(who), incident, "comments/", body)
    assert response.status_code == code
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_structured_update_records_impact_action_and_next_step(as_user, incident):
    response = post(as_user("alice"), incident, "updates/", {
        "impact": "EU card payments fail", "action_taken": "rolled back", "next_step": "watch error rate"})
    assert response.status_code == 201
    assert response.json()["kind"] == "update"
    assert response.json()["data"] == {"impact": "EU card payments fail", "action_taken": "rolled back",
                                       "next_step": "watch error rate"}


def test_update_without_impact_is_400(as_user, incident):
    response = post(as_user("alice"), incident, "updates/", {"action_taken": "rolled back"})
    assert response.status_code == 400 and "impact" in response.json()
    assert timeline_of(incident) == [(1, "incident.declared")]


# --- checklist ----------------------------------------------------------------------------------


def test_tick_and_untick_a_checklist_item(as_user, incident):
    item = incident.checklist.order_by("position").first()
    client = as_user("alice")
    response = post(client, incident, f"checklist/{item.pk}/", {"done": True})
    assert response.status_code == 200
    assert response.json()["done"] is True and response.json()["done_by"] == "alice"
    response = post(client, incident, f"checklist/{item.pk}/", {"done": False})
    assert response.json()["done"] is False
    assert [kind for _, kind in timeline_of(incident)] == ["incident.declared", "checklist.ticked",
                                                           "checklist.ticked"]


def test_checklist_item_of_another_incident_is_404(as_user, make_incident):
    first, second = make_incident(), make_incident()
    item = second.checklist.first()
    response = post(as_user("alice"), first, f"checklist/{item.pk}/", {"done": True})
    assert response.status_code == 404 and response.json() == {"detail": f"INC-1 has no checklist item {item.pk}"}
    assert timeline_of(first) == timeline_of(second) == [(1, "incident.declared")]


def test_checklist_tick_needs_done(as_user, incident):
    item = incident.checklist.first()
    response = post(as_user("alice"), incident, f"checklist/{item.pk}/", {})
    assert response.status_code == 400 and "done" in response.json()
    assert post(as_user("victor"), incident, f"checklist/{item.pk}/", {"done": True}).status_code == 403
    assert timeline_of(incident) == [(1, "incident.declared")]


# --- evidence -----------------------------------------------------------------------------------


def upload(client, incident, name, content, content_type, **extra):
    return client.post(f"{URL}{incident.pk}/evidence/",
                       {"file": SimpleUploadedFile(name, content, content_type=content_type), **extra},
                       format="multipart")


def test_evidence_upload_is_stored_and_on_the_timeline(as_user, incident, media):
    response = upload(as_user("alice"), incident, "app.log", b"ERROR payment declined\n", "text/plain",
                      description="gateway log")
    assert response.status_code == 201
    body = response.json()
    assert (body["filename"], body["content_type"], body["kind"], body["size"]) == ("app.log", "text/plain", "log", 23)
    assert body["uploaded_by"] == "alice" and body["description"] == "gateway log"
    assert timeline_of(incident)[-1] == (2, "evidence.added")
    detail = as_user("victor").get(f"{URL}{incident.pk}/").json()
    assert [e["filename"] for e in detail["evidence"]] == ["app.log"]


def test_evidence_over_the_size_limit_is_413_and_stores_nothing(as_user, incident, media, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    response = upload(as_user("alice"), incident, "big.log", b"x" * 101, "text/plain")
    assert response.status_code == 413
    assert response.json() == {"detail": "the file is 101 bytes; the limit is 100 bytes"}
    assert not Evidence.objects.exists() and timeline_of(incident) == [(1, "incident.declared")]


def test_upload_far_over_the_limit_is_refused_before_it_is_read(as_user, incident, media, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    response = upload(as_user("alice"), incident, "huge.log", b"x" * 200_000, "text/plain")
    assert response.status_code == 413 and "the limit is 100 bytes" in response.json()["detail"]
    assert response.json()["detail"].startswith("the upload is ")
    assert not Evidence.objects.exists() and timeline_of(incident) == [(1, "incident.declared")]


def test_evidence_of_a_refused_type_is_422_and_stores_nothing(as_user, incident, media):
    response = upload(as_user("alice"), incident, "tool.exe", b"MZ\x90\x00", "application/x-msdownload")
    assert response.status_code == 422
    assert response.json()["field"] == "file" and "not accepted" in response.json()["detail"]
    assert not Evidence.objects.exists() and timeline_of(incident) == [(1, "incident.declared")]


def test_evidence_needs_a_file_and_the_responder_role(as_user, incident, media):
    response = as_user("alice").post(f"{URL}{incident.pk}/evidence/", {"description": "no file"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    response = upload(as_user("victor"), incident, "app.log", b"x", "text/plain")
    assert response.status_code == 403
    response = as_user("alice").post(f"{URL}{incident.pk}/evidence/", {"file": "x"}, format="json")
    assert response.status_code == 415
    assert not Evidence.objects.exists() and timeline_of(incident) == [(1, "incident.declared")]


# --- timeline -----------------------------------------------------------------------------------


def test_timeline_lists_entries_after_a_seq(as_user, incident):
    client = as_user("alice")
    post(client, incident, "acknowledge/")
    post(client, incident, "comments/", {"body": "on it"})
    body = as_user("victor").get(f"{URL}{incident.pk}/timeline/").json()
    assert body["last_seq"] == 3 and body["has_more"] is False
    assert [(e["seq"], e["kind"]) for e in body["results"]] == [
        (1, "incident.declared"), (2, "status.changed"), (3, "comment")]
    first, second = body["results"][0], body["results"][1]
    assert set(first) == {"seq", "kind", "actor", "source", "occurred_at", "visibility", "data", "prev_hash", "hash"}
    assert second["prev_hash"] == first["hash"]

    after = client.get(f"{URL}{incident.pk}/timeline/", {"after": 2}).json()
    assert [e["seq"] for e in after["results"]] == [3]
    page = client.get(f"{URL}{incident.pk}/timeline/", {"limit": 2}).json()
    assert [e["seq"] for e in page["results"]] == [1, 2] and page["has_more"] is True


@pytest.mark.parametrize("params", [{"after": "-1"}, {"after": "two"}, {"limit": "0"}, {"limit": "5000"}])
def test_timeline_rejects_bad_parameters(as_user, incident, params):
    response = as_user("alice").get(f"{URL}{incident.pk}/timeline/", params)
    assert response.status_code == 400 and "whole number" in response.json()[next(iter(params))][0]


def test_timeline_is_read_only(as_user, incident):
    response = as_user("alice").post(f"{URL}{incident.pk}/timeline/", {}, format="json")
    assert response.status_code == 405
    assert timeline_of(incident) == [(1, "incident.declared")]
