"""The intake API under /api/v1/: alerts, silences, rules and integrations, with the raw
key shown once and the replay of a failed raw event. Every write is checked per role,
bad input is a 4xx with its message and leaves nothing behind."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from alertum.core import actions as core_actions
from alertum.core.models import AuditEntry, Door
from incidents import actions as incident_actions
from incidents.intake import actions
from incidents.intake.accept import find_integration
from incidents.models import (
    AlertSeverityRule,
    GroupingRule,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Silence,
)

pytestmark = pytest.mark.django_db


def later(hours=1) -> str:
    return (timezone.now() + dt.timedelta(hours=hours)).isoformat()


# --- alerts ------------------------------------------------------------------------------------


def test_alerts_are_listed_with_filters_and_read_with_their_decisions(api, fire):
    fire("web-1", severity="critical")
    fire("web-2", severity="warning")
    fire("web-2")
    fire("web-3")
    fire("web-3", action="resolve")
    client = api("victor")
    body = client.get("/api/v1/alerts/").json()
    assert {a["dedup_key"] for a in body["results"]} == {"web-1", "web-2", "web-3"}
    assert {a["dedup_key"] for a in client.get("/api/v1/alerts/?status=open").json()["results"]} == {"web-1", "web-2"}
    critical = client.get("/api/v1/alerts/?severity=critical&service=checkout").json()["results"]
    assert [a["dedup_key"] for a in critical] == ["web-1"]
    assert critical[0]["service"] == {"slug": "checkout", "name": "Checkout"}
    assert critical[0]["incident"]["reference"].startswith("INC-")
    detail = client.get(f"/api/v1/alerts/{critical[0]['id']}/").json()
    assert detail["labels"] == {"alertname": "HighLatency", "instance": "web-1"}
    assert [d["what"] for d in detail["decisions"]] == ["declared"] and detail["count"] == 1
    repeated = [a for a in body["results"] if a["dedup_key"] == "web-2"][0]
    assert repeated["count"] == 2


@pytest.mark.parametrize("query, field", [("status=burning", "status"), ("severity=P1", "severity"),
                                          ("suppressed=maybe", "suppressed"), ("service=nope", "service"),
                                          ("integration=abc", "integration")])
def test_bad_alert_filters_are_400_naming_the_filter(api, fire, query, field):
    fire("web-1")
    response = api("alice").get(f"/api/v1/alerts/?{query}")
    assert response.status_code == 400 and field in response.json()


def test_alert_list_query_count_does_not_grow_with_page_size(api, fire, make_integration):
    other, _ = make_integration(kind="generic", service="search")
    for n in range(12):
        fire(f"web-{n}", via=other if n % 2 else None)
    client = api("alice")

    def count(size):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/v1/alerts/?page_size={size}")
        assert len(response.json()["results"]) == size
        return len(captured)

    count(1)
    assert count(2) == count(12)


def test_alerts_of_restricted_incidents_stay_with_their_team(api, fire, cast):
    alert = fire("web-1")
    incident_actions.edit_incident(alert.incident, sensitivity="restricted", actor=cast["carol"], source=Door.WEB)
    assert api("oscar").get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert api("oscar").get("/api/v1/alerts/").json()["results"] == []
    assert api("nobody").get("/api/v1/alerts/").json()["results"] == []
    assert api("victor").get(f"/api/v1/alerts/{alert.pk}/").status_code == 200


def test_the_api_needs_a_caller(fire):
    assert APIClient().get("/api/v1/alerts/").status_code in (401, 403)


# --- silences --------------------------------------------------------------------------------------


def silence(**extra):
    return {"matchers": [{"name": "alertname", "value": "DiskFull"},
                         {"name": "instance", "value": "web-.*", "isRegex": True}],
            "service": "checkout", "ends_at": later(), "comment": "disk swap", **extra}


def test_responder_creates_changes_and_expires_a_silence(api, services):
    client = api("alice")
    response = client.post("/api/v1/silences/", silence(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "active" and body["created_by"] == "alice" and body["service"] == "checkout"
    assert body["matchers"][1] == {"name": "instance", "value": "web-.*", "isRegex": True, "isEqual": True}
    patched = client.patch(f"/api/v1/silences/{body['id']}/", {"comment": "disk swap, 2 h"}, format="json")
    assert patched.status_code == 200 and patched.json()["comment"] == "disk swap, 2 h"
    expired = client.post(f"/api/v1/silences/{body['id']}/expire/")
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert client.patch(f"/api/v1/silences/{body['id']}/", {"comment": "x"}, format="json").status_code == 409
    assert [e for e in AuditEntry.objects.order_by("seq").values_list("action", "source")] == [
        ("silence.created", "api"), ("silence.updated", "api"), ("silence.expired", "api")]


def test_delete_expires_a_silence_and_keeps_the_record(api, services):
    client = api("bob")
    created = client.post("/api/v1/silences/", silence(), format="json").json()
    assert client.delete(f"/api/v1/silences/{created['id']}/").status_code == 204
    assert Silence.objects.get(pk=created["id"]).state() == "expired"
    assert [s["id"] for s in client.get("/api/v1/silences/?state=expired").json()["results"]] == [created["id"]]
    assert client.get("/api/v1/silences/?state=active").json()["results"] == []


@pytest.mark.parametrize("body, status, message", [
    (silence(matchers=[{"name": "instance", "value": "web-(", "isRegex": True}]), 422,
     "is not a valid regular expression"),
    (silence(matchers=[{"name": "instance", "value": ".*", "isRegex": True}]), 422, "must not match an empty"),
    (silence(matchers=[]), 422, "non-empty list"),
    (silence(starts_at=later(3), ends_at=later(2)), 422, "ends_at must be after starts_at"),
    (silence(starts_at="2001-01-01T00:00:00Z", ends_at="2001-01-02T00:00:00Z"), 422, "in the past"),
    (silence(ends_at="tomorrow"), 400, "Datetime has wrong format"),
    (silence(service="nope"), 400, "no service with slug"),
    (silence(comment=""), 400, "may not be blank"),
])
def test_bad_silences_are_refused_with_their_message_and_save_nothing(api, services, body, status, message):
    response = api("alice").post("/api/v1/silences/", body, format="json")
    assert response.status_code == status and message in response.content.decode()
    assert not Silence.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("who, service", [("victor", "checkout"), ("oscar", "checkout"), ("nobody", "checkout"),
                                          ("alice", None), ("adam", None)])
def test_who_may_not_silence(api, services, who, service):
    response = api(who).post("/api/v1/silences/", silence(service=service), format="json")
    assert response.status_code == 403 and not Silence.objects.exists()


def test_a_global_admin_silences_every_service(api, services):
    response = api("root").post("/api/v1/silences/", silence(service=None), format="json")
    assert response.status_code == 201 and response.json()["service"] is None


def test_a_responder_of_another_team_cannot_expire_a_checkout_silence(api, services):
    created = api("alice").post("/api/v1/silences/", silence(), format="json").json()
    assert api("oscar").post(f"/api/v1/silences/{created['id']}/expire/").status_code == 403
    assert Silence.objects.get().state() == "active"


def test_read_scope_tokens_cannot_write(cast, services):
    _token, raw = core_actions.create_api_token(cast["alice"], name="ro", scope="read", actor=cast["alice"],
                                                source=Door.WEB)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/silences/").status_code == 200
    assert client.post("/api/v1/silences/", silence(), format="json").status_code == 403
    assert not Silence.objects.exists()


# --- rules -------------------------------------------------------------------------------------------


def test_grouping_rule_crud_for_a_team_admin(api, services):
    client = api("adam")
    response = client.post("/api/v1/grouping-rules/", {"service": "checkout", "group_by": ["alertname", "cluster"],
                                                       "window_seconds": 1800}, format="json")
    assert response.status_code == 201
    rule = response.json()
    assert rule["group_by"] == ["alertname", "cluster"] and rule["cooldown_seconds"] == 600
    again = client.post("/api/v1/grouping-rules/", {"service": "checkout"}, format="json")
    assert again.status_code == 409 and "PATCH" in again.json()["detail"]
    patched = client.patch(f"/api/v1/grouping-rules/{rule['id']}/", {"max_alerts": 25}, format="json")
    assert patched.status_code == 200 and patched.json()["max_alerts"] == 25
    moved = client.patch(f"/api/v1/grouping-rules/{rule['id']}/", {"service": "search"}, format="json")
    assert moved.status_code == 400
    assert client.delete(f"/api/v1/grouping-rules/{rule['id']}/").status_code == 204
    assert not GroupingRule.objects.exists()


@pytest.mark.parametrize("body, message", [
    ({"group_by": ["alert name"]}, "is not a label name"),
    ({"group_by": ["job", "job"]}, "listed twice"),
    ({"dedup_key_template": "{0}"}, "is not allowed"),
    ({"window_seconds": 10}, "from 60"),
    ({"auto_resolve_after_seconds": 1}, "from 60"),
])
def test_bad_grouping_rules_are_422(api, services, body, message):
    response = api("adam").post("/api/v1/grouping-rules/", {"service": "checkout", **body}, format="json")
    assert response.status_code == 422 and message in response.json()["detail"]
    assert not GroupingRule.objects.exists()


def routing(**extra):
    return {"name": "Low at night", "service": "checkout", "severities": ["P3", "P4"], "during": "always",
            "defer_to_business_hours": True, "business_days": [1, 2, 3, 4, 5], "business_start": "08:30",
            "business_end": "17:30", "time_zone": "Europe/Amsterdam", "team": "payments", **extra}


def test_routing_rule_crud(api, services, teams):
    client = api("adam")
    response = client.post("/api/v1/routing-rules/", routing(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["business_start"] == "08:30" and body["team"] == "payments" and body["severities"] == ["P3", "P4"]
    assert client.get("/api/v1/routing-rules/").json()["results"][0]["name"] == "Low at night"
    patched = client.patch(f"/api/v1/routing-rules/{body['id']}/", {"time_zone": "America/New_York"}, format="json")
    assert patched.status_code == 200 and patched.json()["time_zone"] == "America/New_York"
    assert client.delete(f"/api/v1/routing-rules/{body['id']}/").status_code == 204
    assert not RoutingRule.objects.exists()


@pytest.mark.parametrize("body, status, message", [
    (routing(severities=["P5"]), 422, "unknown severity 'P5'"),
    (routing(time_zone="Mars/Olympus_Mons"), 422, "is not a known time zone"),
    (routing(business_start="18:00", business_end="09:00"), 422, "business_end must be after business_start"),
    (routing(business_days=[0, 8]), 422, "ISO weekdays"),
    (routing(matchers=[{"name": "team", "value": "(", "isRegex": True}]), 422, "not a valid regular expression"),
    (routing(during="weekends"), 400, "is not a valid choice"),
    (routing(team="nope"), 400, "no team with slug"),
])
def test_bad_routing_rules_are_refused_and_save_nothing(api, services, teams, body, status, message):
    response = api("adam").post("/api/v1/routing-rules/", body, format="json")
    assert response.status_code == status and message in response.content.decode()
    assert not RoutingRule.objects.exists() and not AuditEntry.objects.exists()


def test_a_bad_change_to_a_rule_leaves_it_as_it_was(api, services, teams):
    client = api("adam")
    rule = client.post("/api/v1/routing-rules/", routing(), format="json").json()
    response = client.patch(f"/api/v1/routing-rules/{rule['id']}/", {"time_zone": "Nowhere/Land"}, format="json")
    assert response.status_code == 422 and response.json()["field"] == "time_zone"
    assert RoutingRule.objects.get().time_zone == "Europe/Amsterdam"


def test_inhibition_and_alert_severity_rules(api, services):
    client = api("adam")
    inhibition = client.post("/api/v1/inhibition-rules/", {
        "name": "Critical mutes warning", "service": "checkout",
        "source_matchers": [{"name": "severity", "value": "critical"}],
        "target_matchers": [{"name": "severity", "value": "warning"}], "equal": ["alertname"]}, format="json")
    assert inhibition.status_code == 201 and inhibition.json()["equal"] == ["alertname"]
    assert client.post("/api/v1/inhibition-rules/", {
        "name": "x", "service": "checkout", "source_matchers": [],
        "target_matchers": [{"name": "a", "value": "b"}]}, format="json").status_code == 422
    severity = client.post("/api/v1/alert-severity-rules/", {
        "position": 1, "service": "checkout", "alert_severity": "warning", "impact": "outage",
        "matchers": [{"name": "team", "value": "payments"}]}, format="json")
    assert severity.status_code == 201 and severity.json()["impact"] == "outage"
    assert client.post("/api/v1/alert-severity-rules/", {"alert_severity": "fatal", "impact": "outage",
                                                         "service": "checkout"}, format="json").status_code == 400
    assert InhibitionRule.objects.count() == 1 and AlertSeverityRule.objects.count() == 1


@pytest.mark.parametrize("who, service, status", [
    ("alice", "checkout", 403), ("victor", "checkout", 403), ("oscar", "checkout", 403), ("nobody", "checkout", 403),
    ("adam", "search", 403), ("adam", None, 403), ("adam", "checkout", 201), ("root", None, 201),
])
def test_who_may_write_rules(api, services, who, service, status):
    response = api(who).post("/api/v1/alert-severity-rules/", {"service": service, "impact": "degraded"},
                             format="json")
    assert response.status_code == status
    assert AlertSeverityRule.objects.count() == (1 if status == 201 else 0)


def test_moving_a_rule_needs_the_right_on_both_services(api, services):
    rule = api("adam").post("/api/v1/inhibition-rules/", {
        "name": "r", "service": "checkout", "source_matchers": [{"name": "a", "value": "1"}],
        "target_matchers": [{"name": "b", "value": "2"}]}, format="json").json()
    response = api("adam").patch(f"/api/v1/inhibition-rules/{rule['id']}/", {"service": "search"}, format="json")
    assert response.status_code == 403
    assert InhibitionRule.objects.get().service.slug == "checkout"


def test_every_member_reads_rules_and_outsiders_see_none(api, services):
    api("root").post("/api/v1/alert-severity-rules/", {"service": None, "impact": "degraded"}, format="json")
    assert len(api("oscar").get("/api/v1/alert-severity-rules/").json()["results"]) == 1
    assert api("nobody").get("/api/v1/alert-severity-rules/").json()["results"] == []


# --- integrations ------------------------------------------------------------------------------------


def test_create_answers_the_raw_key_and_set_up_text_once(api, services):
    client = api("adam")
    response = client.post("/api/v1/integrations/", {"service": "checkout", "name": "grafana-prod",
                                                     "kind": "grafana", "verify_grafana_signature": True},
                           format="json")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    raw = body["key"]
    integration = Integration.objects.get(pk=body["id"])
    assert len(raw) == 32 and integration.key_hash == Integration.hash_key(raw) and body["key_prefix"] == raw[:8]
    assert body["setup"]["url"] == f"http://testserver/integrations/grafana/{raw}/" and body["setup"]["complete"]
    assert any(integration.hmac_secret() in s["text"] for s in body["setup"]["snippets"])
    later_view = client.get(f"/api/v1/integrations/{body['id']}/").json()
    assert "key" not in later_view and raw not in str(later_view)
    assert later_view["intake_url"] == f"http://testserver/integrations/grafana/{raw[:8]}…/"
    assert later_view["setup"]["complete"] is False
    assert raw not in str(client.get("/api/v1/integrations/").json())


def test_rotate_key_answers_the_new_key_and_the_old_stops_working(api, make_integration):
    integration, old = make_integration(kind="pagerduty")
    response = api("adam").post(f"/api/v1/integrations/{integration.pk}/rotate-key/")
    assert response.status_code == 200
    new = response.json()["key"]
    assert find_integration(old) is None and find_integration(new).pk == integration.pk
    assert response.json()["setup"]["url"] == "http://testserver/integrations/pagerduty"
    assert any(f'"{new}"' in s["text"] for s in response.json()["setup"]["snippets"])


def test_integration_settings_change_but_not_its_kind(api, make_integration):
    integration, _ = make_integration()
    client = api("adam")
    response = client.patch(f"/api/v1/integrations/{integration.pk}/", {"rate_limit_per_minute": 120,
                                                                        "active": False}, format="json")
    assert response.status_code == 200 and response.json()["rate_limit_per_minute"] == 120
    assert client.patch(f"/api/v1/integrations/{integration.pk}/", {"kind": "grafana"},
                        format="json").status_code == 400
    assert client.patch(f"/api/v1/integrations/{integration.pk}/", {"rate_limit_per_minute": 0},
                        format="json").status_code == 422
    integration.refresh_from_db()
    assert (integration.kind, integration.rate_limit_per_minute, integration.active) == ("alertmanager", 120, False)


@pytest.mark.parametrize("who", ["alice", "victor", "oscar", "nobody"])
def test_only_team_admins_manage_integrations(api, make_integration, who):
    integration, raw = make_integration()
    client = api(who)
    assert client.post("/api/v1/integrations/", {"service": "checkout", "name": "x", "kind": "generic"},
                       format="json").status_code == 403
    if who == "nobody":
        assert client.post(f"/api/v1/integrations/{integration.pk}/rotate-key/").status_code == 404
    else:
        assert client.post(f"/api/v1/integrations/{integration.pk}/rotate-key/").status_code == 403
        assert client.delete(f"/api/v1/integrations/{integration.pk}/").status_code == 403
    assert Integration.objects.count() == 1 and find_integration(raw) == integration


@pytest.mark.parametrize("body, status, message", [
    ({"service": "checkout", "name": "x", "kind": "nagios"}, 400, "is not a valid choice"),
    ({"service": "nope", "name": "x", "kind": "generic"}, 400, "no service with slug"),
    ({"service": "checkout", "name": "", "kind": "generic"}, 400, "may not be blank"),
    ({"service": "checkout", "name": "x", "kind": "generic", "rate_limit_per_minute": 0}, 422, "from 1"),
])
def test_bad_integration_input_is_refused_and_saves_nothing(api, services, body, status, message):
    response = api("adam").post("/api/v1/integrations/", body, format="json")
    assert response.status_code == status and message in response.content.decode()
    assert not Integration.objects.exists()


def test_deleting_an_integration_with_events_is_409(api, integration, raw_event):
    raw_event()
    response = api("adam").delete(f"/api/v1/integrations/{integration.pk}/")
    assert response.status_code == 409 and "deactivate it instead" in response.json()["detail"]


def test_raw_events_are_listed_and_a_dead_one_replayed(api, integration, raw_event):
    dead = raw_event(state=RawEvent.State.DEAD, error="FormatError: body: must be a JSON object", attempts=1)
    failed = raw_event(state=RawEvent.State.FAILED, error="OperationalError: database is locked", attempts=2)
    done = raw_event(state=RawEvent.State.PROCESSED)
    client = api("adam")
    listing = client.get(f"/api/v1/integrations/{integration.pk}/raw-events/").json()["results"]
    assert [r["id"] for r in listing] == [done.pk, failed.pk, dead.pk]
    assert listing[2]["error"] == "FormatError: body: must be a JSON object" and listing[2]["state"] == "dead"
    only_dead = client.get(f"/api/v1/integrations/{integration.pk}/raw-events/?state=dead").json()["results"]
    assert [r["id"] for r in only_dead] == [dead.pk]
    assert client.get(f"/api/v1/integrations/{integration.pk}/raw-events/?state=lost").status_code == 400
    replayed = client.post(f"/api/v1/integrations/{integration.pk}/raw-events/{dead.pk}/replay/")
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    dead.refresh_from_db()
    assert dead.state == RawEvent.State.PENDING and dead.next_attempt_at <= timezone.now()
    assert client.post(f"/api/v1/integrations/{integration.pk}/raw-events/{failed.pk}/replay/").status_code == 200
    conflict = client.post(f"/api/v1/integrations/{integration.pk}/raw-events/{done.pk}/replay/")
    assert conflict.status_code == 409 and "processed already" in conflict.json()["detail"]
    done.refresh_from_db()
    assert done.state == RawEvent.State.PROCESSED
    assert AuditEntry.objects.filter(action="rawevent.replayed", source="api").count() == 2


def test_replay_is_for_team_admins_and_the_raw_event_must_belong_to_the_integration(api, integration, raw_event,
                                                                                     make_integration):
    dead = raw_event(state=RawEvent.State.DEAD)
    assert api("alice").post(f"/api/v1/integrations/{integration.pk}/raw-events/{dead.pk}/replay/").status_code == 403
    other, _ = make_integration(kind="generic")
    assert api("adam").post(f"/api/v1/integrations/{other.pk}/raw-events/{dead.pk}/replay/").status_code == 404
    dead.refresh_from_db()
    assert dead.state == RawEvent.State.DEAD


def test_replay_kicks_the_drain_only_after_commit(api, integration, raw_event, django_capture_on_commit_callbacks):
    dead = raw_event(state=RawEvent.State.DEAD)
    with django_capture_on_commit_callbacks() as callbacks:
        api("adam").post(f"/api/v1/integrations/{integration.pk}/raw-events/{dead.pk}/replay/")
    assert len(callbacks) >= 1


def test_the_schema_documents_the_intake_endpoints(api):
    schema = api("alice").get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/alerts/", "/api/v1/silences/{id}/expire/", "/api/v1/integrations/{id}/rotate-key/",
                 "/api/v1/integrations/{id}/raw-events/{raw_id}/replay/", "/api/v1/routing-rules/",
                 "/api/v1/grouping-rules/", "/api/v1/inhibition-rules/", "/api/v1/alert-severity-rules/"):
        assert path in schema["paths"]


def test_actions_refuse_unknown_fields(cast, services):
    from alertum.core.errors import Invalid

    with pytest.raises(Invalid) as refused:
        actions.create_rule(RoutingRule, name="x", colour="red", actor=cast["root"], source=Door.CLI)
    assert refused.value.field == "colour"
