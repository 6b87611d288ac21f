"""Schedules through the REST API: CRUD for schedules, layers and overrides, on call
now / at, final shifts, coverage, permissions, bad input, and the OpenAPI schema."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from tests.oncall.conftest import local

pytestmark = pytest.mark.django_db

TZ = "Europe/Amsterdam"


@pytest.fixture
def api(cast):
    def make(name):
        client = APIClient()
        client.force_login(cast[name])
        return client

    return make


@pytest.fixture
def primary(make_schedule):
    return make_schedule(tz=TZ, layers=[dict(level=1, rotation_unit="days", rotation_length=1,
                                             starts_at=local(TZ, 2026, 3, 2, 9), participants=["alice", "bob"])])


def test_commander_builds_a_schedule_with_a_layer_and_reads_who_is_on_call(api, clock):
    carol = api("carol")
    created = carol.post("/api/v1/schedules/", {"name": "Primary", "team": "payments", "time_zone": TZ},
                         format="json")
    assert created.status_code == 201, created.json()
    slug = created.json()["slug"]
    assert slug == "payments-primary"
    layer = carol.post("/api/v1/schedule-layers/", {
        "schedule": slug, "name": "Weekdays", "rotation_unit": "days", "rotation_length": 1,
        "starts_at": "2026-03-02T08:00:00Z", "participants": ["alice", "bob"],
        "restrictions": [{"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00", "end_time": "17:00"}]}, format="json")
    assert layer.status_code == 201, layer.json()
    assert layer.json()["participants"] == ["alice", "bob"]
    assert layer.json()["restrictions"] == [{"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00:00",
                                             "end_time": "17:00:00"}]

    now = carol.get(f"/api/v1/schedules/{slug}/on-call/", {"at": "2026-03-02T10:00:00Z"}).json()
    assert [u["username"] for u in now["on_call"]] == ["alice"]
    assert now["until"] == "2026-03-02T16:00:00Z"  # 17:00 in Amsterdam
    assert [u["username"] for u in now["next"]] == ["bob"] and now["next_at"] == "2026-03-03T08:00:00Z"

    evening = carol.get(f"/api/v1/schedules/{slug}/on-call/", {"at": "2026-03-02T20:00:00Z"}).json()
    assert evening["on_call"] == []

    shifts = carol.get(f"/api/v1/schedules/{slug}/shifts/", {"start": "2026-03-02T00:00:00Z",
                                                             "end": "2026-03-04T00:00:00Z"}).json()
    assert [(s["user"]["username"], s["start"], s["end"]) for s in shifts] == [
        ("alice", "2026-03-02T08:00:00Z", "2026-03-02T16:00:00Z"),
        ("bob", "2026-03-03T08:00:00Z", "2026-03-03T16:00:00Z")]

    coverage = carol.get(f"/api/v1/schedules/{slug}/coverage/", {"start": "2026-03-02T08:00:00Z",
                                                                 "end": "2026-03-03T08:00:00Z"}).json()
    assert coverage["gaps"] == [{"start": "2026-03-02T16:00:00Z", "end": "2026-03-03T08:00:00Z"}]
    assert coverage["covered_percent"] == pytest.approx(33.33, abs=0.01)


def test_override_through_the_api_puts_someone_on_call_and_can_be_removed(api, primary, clock):
    carol = api("carol")
    made = carol.post("/api/v1/schedule-overrides/", {
        "schedule": primary.slug, "user": "carol", "starts_at": "2026-03-02T10:00:00Z",
        "ends_at": "2026-03-02T12:00:00Z", "reason": "alice at the dentist"}, format="json")
    assert made.status_code == 201, made.json()
    at = {"at": "2026-03-02T11:00:00Z"}
    assert [u["username"] for u in carol.get(f"/api/v1/schedules/{primary.slug}/on-call/", at).json()["on_call"]] \
        == ["carol"]
    assert carol.delete(f"/api/v1/schedule-overrides/{made.json()['id']}/").status_code == 204
    assert [u["username"] for u in carol.get(f"/api/v1/schedules/{primary.slug}/on-call/", at).json()["on_call"]] \
        == ["alice"]


def test_responder_may_take_a_shift_but_not_put_others_on_call(api, primary):
    bob = api("bob")
    body = {"schedule": primary.slug, "starts_at": "2026-03-05T10:00:00Z", "ends_at": "2026-03-05T12:00:00Z"}
    assert bob.post("/api/v1/schedule-overrides/", {**body, "user": "bob"}, format="json").status_code == 201
    refused = bob.post("/api/v1/schedule-overrides/", {**body, "user": "alice"}, format="json")
    assert refused.status_code == 403


def test_viewers_read_but_only_commanders_and_admins_edit(api, primary):
    victor = api("victor")
    assert victor.get(f"/api/v1/schedules/{primary.slug}/").status_code == 200
    assert victor.patch(f"/api/v1/schedules/{primary.slug}/", {"name": "Mine"}, format="json").status_code == 403
    bob = api("bob")
    assert bob.post("/api/v1/schedules/", {"name": "X", "team": "payments"}, format="json").status_code == 403
    carol = api("carol")
    renamed = carol.patch(f"/api/v1/schedules/{primary.slug}/", {"name": "Payments primary"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Payments primary"


def test_other_teams_schedules_are_invisible(api, primary):
    oscar = api("oscar")
    assert oscar.get(f"/api/v1/schedules/{primary.slug}/").status_code == 404
    assert oscar.get(f"/api/v1/schedules/{primary.slug}/on-call/").status_code == 404
    assert oscar.get("/api/v1/schedules/").json()["results"] == []
    assert api("nobody").get("/api/v1/schedule-layers/").json()["results"] == []
    assert APIClient().get("/api/v1/schedules/").status_code in (401, 403)


def test_bad_input_is_refused_with_a_message_and_changes_nothing(api, primary):
    carol = api("carol")
    layer = {"schedule": primary.slug, "name": "Nights", "rotation_unit": "days", "rotation_length": 1,
             "starts_at": "2026-03-02T08:00:00Z", "participants": ["alice"]}
    cases = [
        ({**layer, "participants": ["victor"]}, 422),  # a viewer cannot be on call
        ({**layer, "participants": ["ghost"]}, 400),
        ({**layer, "rotation_unit": "fortnights"}, 400),
        ({**layer, "restrictions": [{"weekdays": [7], "start_time": "09:00", "end_time": "17:00"}]}, 400),
        ({**layer, "restrictions": [{"weekdays": [1], "start_time": "09:00", "end_time": "09:00"}]}, 422),
        ({**layer, "level": 1}, 409),  # taken by the existing layer
        ({**layer, "ends_at": "2026-03-01T00:00:00Z"}, 422),
    ]
    for body, code in cases:
        response = carol.post("/api/v1/schedule-layers/", body, format="json")
        assert response.status_code == code, (body, response.json())
        assert response.json()
    assert primary.layers.count() == 1
    assert carol.get(f"/api/v1/schedules/{primary.slug}/shifts/", {"start": "nonsense"}).status_code == 400
    assert carol.get(f"/api/v1/schedules/{primary.slug}/shifts/", {
        "start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}).status_code == 400
    override = {"schedule": primary.slug, "user": "bob", "starts_at": "2026-03-05T12:00:00Z",
                "ends_at": "2026-03-05T10:00:00Z"}
    assert carol.post("/api/v1/schedule-overrides/", override, format="json").status_code == 422
    dup = carol.post("/api/v1/schedules/", {"name": primary.name, "team": "payments"}, format="json")
    assert dup.status_code == 409


def test_layer_update_replaces_participants_and_moves_the_next_handoff(api, primary, clock):
    carol = api("carol")
    layer = primary.layers.get()
    body = {"schedule": primary.slug, "name": "Daily", "level": 1, "rotation_unit": "weeks", "rotation_length": 1,
            "starts_at": "2026-03-02T08:00:00Z", "participants": ["bob"]}
    response = carol.put(f"/api/v1/schedule-layers/{layer.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["participants"] == ["bob"]
    primary.refresh_from_db()
    assert primary.next_handoff_at is None  # bob alone: nobody ever takes over
    assert carol.delete(f"/api/v1/schedule-layers/{layer.pk}/").status_code == 204
    assert carol.get(f"/api/v1/schedules/{primary.slug}/on-call/").json()["on_call"] == []


def test_my_shifts_and_on_call_across_schedules(api, primary, clock):
    alice = api("alice")
    mine = alice.get("/api/v1/schedules/my-shifts/", {"start": "2026-03-02T00:00:00Z",
                                                      "end": "2026-03-06T00:00:00Z"}).json()
    assert [m["start"] for m in mine] == ["2026-03-02T08:00:00Z", "2026-03-04T08:00:00Z"]
    everyone = alice.get("/api/v1/schedules/on-call/").json()
    assert [(r["schedule"], [u["username"] for u in r["on_call"]]) for r in everyone] == [(primary.slug, ["alice"])]


def test_fatigue_limits_read_by_members_written_by_team_admins(api, cast, teams):
    from alertum.core.models import Membership, Role

    Membership.objects.filter(user=cast["carol"]).update(role=Role.ADMIN)
    assert api("bob").put("/api/v1/fatigue-limits/payments/", {"max_consecutive_shifts": 3},
                          format="json").status_code == 403
    saved = api("carol").put("/api/v1/fatigue-limits/payments/", {"max_consecutive_shifts": 3,
                                                                  "max_pages_per_night": 2}, format="json")
    assert saved.status_code == 200 and saved.json()["max_consecutive_shifts"] == 3
    assert api("victor").get("/api/v1/fatigue-limits/payments/").json()["max_pages_per_night"] == 2
    assert api("oscar").get("/api/v1/fatigue-limits/payments/").status_code == 404


def test_schedule_endpoints_are_in_the_openapi_schema(api):
    schema = api("alice").get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in ("/api/v1/schedules/", "/api/v1/schedules/{slug}/on-call/", "/api/v1/schedules/{slug}/shifts/",
                 "/api/v1/schedules/{slug}/coverage/", "/api/v1/schedule-layers/", "/api/v1/schedule-overrides/",
                 "/api/v1/calendar-feeds/", "/api/v1/fatigue-limits/{slug}/"):
        assert path in paths, path
    assert dt  # times in this module are UTC strings
