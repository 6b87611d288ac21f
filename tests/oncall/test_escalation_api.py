"""The escalation REST API: policies, levels, targets and variants CRUD with per-team
permissions, the preview, services' defaults, channels, my contact methods and rules, an
incident's escalation status, the ownership matrix, and the OpenAPI schema."""

import pytest
from rest_framework.test import APIClient

from alertum.core.models import AuditEntry
from oncall.engine import start_escalation
from oncall.models import ContactMethod, EscalationPolicy, TeamChannel
from tests.oncall import escalation_factories as factories
from tests.oncall.escalation_factories import run_engine

pytestmark = pytest.mark.django_db
receiver, contact, make_policy, slack_channel, _no_kicks = (factories.receiver, factories.contact,
                                                            factories.make_policy, factories.slack_channel,
                                                            factories._no_kicks)


@pytest.fixture
def api(cast):
    def make(name):
        client = APIClient()
        client.force_login(cast[name])
        return client

    return make


@pytest.fixture
def carol_admin(cast, teams):
    from alertum.core.models import Membership

    Membership.objects.filter(user=cast["carol"]).update(role="admin")
    return cast["carol"]


def test_team_admin_builds_a_policy_level_by_level(api, carol_admin, cast, slack_channel, services):
    client = api("carol")
    created = client.post("/api/v1/escalation-policies/", {"team": "payments", "name": "Payments primary",
                                                           "slug": "payments-primary", "repeat_count": 1},
                          format="json")
    assert created.status_code == 201, created.json()
    assert client.post("/api/v1/escalation-policies/payments-primary/levels/", {"delay_minutes": 0},
                       format="json").status_code == 200
    body = client.post("/api/v1/escalation-policies/payments-primary/levels/", {"delay_minutes": 10},
                       format="json").json()
    first, second = body["levels"]
    assert (first["position"], second["position"], second["delay_minutes"]) == (1, 2, 10)
    r = client.post(f"/api/v1/escalation-policies/payments-primary/levels/{first['id']}/targets/",
                    {"kind": "user", "user": "alice"}, format="json")
    assert r.status_code == 200, r.json()
    r = client.post(f"/api/v1/escalation-policies/payments-primary/levels/{second['id']}/targets/",
                    {"kind": "channel", "channel": slack_channel.pk}, format="json")
    assert [t["name"] for t in r.json()["levels"][1]["targets"]] == ["Payments · #payments-oncall"]
    r = client.put("/api/v1/escalation-policies/payments-primary/variants/P3/", {"mode": "digest"}, format="json")
    assert r.json()["variants"] == [{"severity": "P3", "mode": "digest", "escalate_after_minutes": None,
                                     "repeat_count": None, "urgency": "high"}]
    r = client.put("/api/v1/service-escalation-policies/checkout/", {"policy": "payments-primary"}, format="json")
    assert r.json() == {"service": "checkout", "policy": "payments-primary"}
    assert AuditEntry.objects.filter(action="escalationpolicy.created", actor=cast["carol"]).exists()

    preview = client.get("/api/v1/escalation-policies/payments-primary/preview/?severity=P1&at=2026-03-02T09:00:00Z")
    levels = preview.json()["levels"]
    assert [(lv["number"], lv["repeat"], lv["at"]) for lv in levels] == [
        (1, 0, "2026-03-02T09:00:00Z"), (2, 0, "2026-03-02T09:10:00Z"),
        (1, 1, "2026-03-02T09:25:00Z"), (2, 1, "2026-03-02T09:35:00Z")]
    assert levels[0]["people"][0]["username"] == "alice"
    assert levels[1]["channels"] == ["Payments · #payments-oncall"]


def test_responders_read_but_may_not_change_policies(api, make_policy, cast):
    make_policy([(0, [cast["alice"]])])
    client = api("alice")
    assert client.get("/api/v1/escalation-policies/").json()["count"] == 1
    r = client.patch("/api/v1/escalation-policies/payments-default/", {"repeat_count": 3}, format="json")
    assert r.status_code == 403
    assert "admin role" in r.json()["detail"]
    assert EscalationPolicy.objects.get().repeat_count == 0
    assert api("nobody").get("/api/v1/escalation-policies/").status_code == 403


def test_bad_input_is_a_clear_4xx_and_changes_nothing(api, carol_admin, make_policy, cast):
    make_policy([(0, [cast["alice"]])])
    client = api("carol")
    r = client.post("/api/v1/escalation-policies/", {"team": "payments", "name": "Dup", "slug": "payments-default"},
                    format="json")
    assert r.status_code == 409 and "exists already" in r.json()["detail"]
    r = client.post("/api/v1/escalation-policies/", {"team": "nope", "name": "X", "slug": "x"}, format="json")
    assert r.status_code == 400 and "no team with slug" in r.json()["team"][0]
    r = client.post("/api/v1/escalation-policies/payments-default/levels/", {"delay_minutes": -1}, format="json")
    assert r.status_code == 400
    level = EscalationPolicy.objects.get().levels.get()
    r = client.post(f"/api/v1/escalation-policies/payments-default/levels/{level.pk}/targets/",
                    {"kind": "user", "user": "nobody"}, format="json")
    assert r.status_code == 422 and "not an active member" in r.json()["detail"]
    r = client.post(f"/api/v1/escalation-policies/payments-default/levels/{level.pk}/targets/",
                    {"kind": "user", "user": "alice"}, format="json")
    assert r.status_code == 409
    assert client.get("/api/v1/escalation-policies/payments-default/preview/?severity=P9").status_code == 400
    assert client.get("/api/v1/escalation-policies/missing/").status_code == 404
    assert EscalationPolicy.objects.count() == 1 and level.targets.count() == 1


def test_my_contact_methods_and_rules_are_mine_only(api, cast):
    alice = api("alice")
    r = alice.post("/api/v1/me/contact-methods/", {"kind": "sms", "address": "+31 6 1234 5678"}, format="json")
    assert r.status_code == 201 and r.json()["address"] == "+31612345678"
    method_id = r.json()["id"]
    r = alice.post("/api/v1/me/notification-rules/", {"contact_method": method_id, "delay_minutes": 2},
                   format="json")
    assert r.status_code == 201 and r.json()["urgency"] == "high"
    bad = alice.post("/api/v1/me/contact-methods/", {"kind": "sms", "address": "0612"}, format="json")
    assert bad.status_code == 422 and "E.164" in bad.json()["detail"]
    hook = alice.post("/api/v1/me/contact-methods/", {"kind": "webhook", "address": "https://hooks.example/a"},
                      format="json")
    assert hook.json()["secret"].startswith("whsec_")
    bob = api("bob")
    assert bob.get("/api/v1/me/contact-methods/").json()["count"] == 0
    r = bob.post("/api/v1/me/notification-rules/", {"contact_method": method_id}, format="json")
    assert r.status_code == 400
    assert bob.delete(f"/api/v1/me/contact-methods/{method_id}/").status_code == 404
    assert alice.delete(f"/api/v1/me/contact-methods/{method_id}/").status_code == 204
    assert not ContactMethod.objects.filter(pk=method_id).exists()


def test_channel_addresses_are_for_team_admins_only(api, carol_admin, cast):
    r = api("carol").post("/api/v1/team-channels/", {"team": "payments", "name": "pager hook", "kind": "webhook",
                                                      "address": "https://hooks.example/x"}, format="json")
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    seen_by_bob = api("bob").get("/api/v1/team-channels/").json()["results"][0]
    assert (seen_by_bob["name"], seen_by_bob["address"], seen_by_bob["secret"]) == ("pager hook", None, None)
    assert api("oscar").get("/api/v1/team-channels/").json()["count"] == 0
    r = api("bob").post("/api/v1/team-channels/", {"team": "payments", "name": "x", "kind": "slack",
                                                    "address": "https://hooks.slack.example/x"}, format="json")
    assert r.status_code == 403
    assert TeamChannel.objects.count() == 1


def test_incident_escalation_status(api, clock, cast, services, contact, make_policy, make_incident, receiver):
    contact(cast["alice"])
    make_policy([(0, [cast["alice"]]), (10, [cast["bob"]])], service=services["checkout"])
    incident = make_incident(severity="P1", severity_reason="test")
    start_escalation(incident.pk)
    run_engine()
    body = api("victor").get(f"/api/v1/incidents/{incident.pk}/escalation/").json()
    assert (body["state"], body["policy"]["slug"], body["next_level"]) == ("active", "payments-default", 1)
    assert body["next_escalation_at"] == "2026-03-02T09:10:00Z"
    assert [(p["recipient"], p["kind"], p["state"]) for p in body["pages"]] == [("alice", "slack", "sent")]
    assert api("nobody").get(f"/api/v1/incidents/{incident.pk}/escalation/").status_code in (403, 404)


def test_ownership_flags_services_without_primary_and_secondary(api, cast, services, make_policy):
    make_policy([(0, [cast["alice"]]), (5, [cast["bob"]])], service=services["checkout"])
    rows = {r["service"]: r for r in api("alice").get("/api/v1/ownership/").json()}
    assert rows["checkout"]["primary"] == ["Alice"] and rows["checkout"]["secondary"] == ["Bob"]
    assert rows["checkout"]["complete"] is True
    assert (rows["search"]["complete"], rows["search"]["problem"]) == (False, "no escalation policy")


def test_the_schema_lists_the_escalation_api(api):
    schema = api("alice").get("/api/schema/?format=json").json()
    for path in ("/api/v1/escalation-policies/", "/api/v1/escalation-policies/{slug}/preview/",
                 "/api/v1/escalation-policies/{slug}/levels/{level_id}/targets/", "/api/v1/me/contact-methods/",
                 "/api/v1/me/notification-rules/", "/api/v1/team-channels/", "/api/v1/page-links/",
                 "/api/v1/incidents/{id}/escalation/", "/api/v1/ownership/",
                 "/api/v1/service-escalation-policies/{service}/"):
        assert path in schema["paths"], path
