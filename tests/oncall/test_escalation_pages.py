"""The escalation pages (policy list and editor with its preview, my notification rules,
team channels, the ownership matrix, an incident's escalation) and the Django admin."""

import pytest

from alertum.core.models import Membership
from oncall.engine import start_escalation
from oncall.models import ContactMethod, EscalationLevel, EscalationPolicy, NotificationRule, ServicePolicy
from tests.conftest import login
from tests.oncall import escalation_factories as factories
from tests.oncall.escalation_factories import run_engine

pytestmark = pytest.mark.django_db
receiver, contact, make_policy, slack_channel, _no_kicks = (factories.receiver, factories.contact,
                                                            factories.make_policy, factories.slack_channel,
                                                            factories._no_kicks)


@pytest.fixture
def carol_admin(cast):
    Membership.objects.filter(user=cast["carol"]).update(role="admin")
    return cast["carol"]


def test_team_admin_creates_a_policy_and_builds_it_in_the_editor(client, carol_admin, cast, slack_channel):
    login(client, carol_admin)
    r = client.post("/oncall/policies/", {"team": cast["carol"].teams.get().pk, "name": "Payments primary",
                                          "slug": "payments-primary", "repeat_count": 0, "repeat_after_minutes": 15,
                                          "notify_on_resolve": "on", "digest_interval_minutes": 60})
    assert r.status_code == 302 and r["Location"] == "/oncall/policies/payments-primary/"
    assert client.post("/oncall/policies/payments-primary/add-level/", {"delay_minutes": 0}).status_code == 302
    level = EscalationLevel.objects.get()
    r = client.post(f"/oncall/policies/payments-primary/add-target/{level.pk}/", {"kind": "user",
                                                                                  "user": cast["alice"].pk})
    assert r.status_code == 302
    client.post(f"/oncall/policies/payments-primary/add-target/{level.pk}/", {"kind": "channel",
                                                                              "channel": slack_channel.pk})
    page = client.get("/oncall/policies/payments-primary/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Person: Alice" in text and "Team channel: Payments · #payments-oncall" in text
    assert "Who would be paged when" in text and "Alice <span class=\"muted\">(directly)</span>" in text
    listing = client.get("/oncall/policies/").content.decode()
    assert "Payments primary" in listing and "1. Alice, Payments · #payments-oncall" in listing
    channels = client.get("/oncall/channels/").content.decode()
    assert "#payments-oncall" in channels and slack_channel.address in channels


def test_preview_fragment_follows_the_severity(client, cast, make_policy, variant):
    policy = make_policy([(0, [cast["alice"]])])
    variant(policy, "P3", mode="digest")
    login(client, cast["bob"])
    r = client.get("/oncall/policies/payments-default/preview/?severity=P3", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b"collected into a digest" in r.content


variant = factories.variant


def test_a_responder_sees_the_editor_read_only_and_cannot_post(client, cast, make_policy):
    make_policy([(0, [cast["alice"]])])
    login(client, cast["alice"])
    page = client.get("/oncall/policies/payments-default/")
    assert page.status_code == 200 and b"Add level" not in page.content
    r = client.post("/oncall/policies/payments-default/add-level/", {"delay_minutes": 5})
    assert r.status_code == 403 and b"admin role" in r.content
    assert EscalationLevel.objects.count() == 1


def test_bad_editor_input_comes_back_with_the_message(client, carol_admin, cast, make_policy):
    make_policy([(0, [cast["alice"]])])
    login(client, carol_admin)
    r = client.post("/oncall/policies/payments-default/add-level/", {"delay_minutes": "soon"})
    assert r.status_code == 422 and b"delay_minutes" in r.content
    level = EscalationLevel.objects.get()
    r = client.post(f"/oncall/policies/payments-default/add-target/{level.pk}/", {"kind": "user"})
    assert r.status_code == 422 and b"name the user to page" in r.content
    assert client.get("/oncall/policies/nope/").status_code == 404


def test_my_rules_page_adds_methods_and_rules(client, cast):
    login(client, cast["bob"])
    r = client.post("/oncall/me/", {"what": "add-method", "kind": "sms", "address": "+31612345678", "label": "Work"})
    assert r.status_code == 302
    method = ContactMethod.objects.get(user=cast["bob"])
    r = client.post("/oncall/me/", {"what": "add-rule", "contact_method": method.pk, "delay_minutes": 2,
                                    "urgency": "high"})
    assert r.status_code == 302
    assert NotificationRule.objects.get().delay_minutes == 2
    page = client.get("/oncall/me/").content.decode()
    assert "SMS after 2 min" in page
    r = client.post("/oncall/me/", {"what": "add-method", "kind": "email", "address": "not-an-address"})
    assert r.status_code == 422 and b"valid email" in r.content


def test_ownership_page_flags_and_sets_defaults(client, carol_admin, cast, services, make_policy):
    make_policy([(0, [cast["alice"]])])
    login(client, carol_admin)
    page = client.get("/oncall/ownership/").content.decode()
    assert "2 services without both." in page and "no escalation policy" in page
    policy = EscalationPolicy.objects.get()
    assert client.post("/oncall/ownership/", {"service": "checkout", "policy": policy.pk}).status_code == 302
    assert ServicePolicy.objects.get(service=services["checkout"]).policy == policy
    page = client.get("/oncall/ownership/").content.decode()
    assert "no secondary responder" in page
    r = client.post("/oncall/ownership/", {"service": "search", "policy": policy.pk})
    assert r.status_code == 403  # carol is no admin of Platform


def test_incident_escalation_page_and_fragment(client, clock, cast, services, contact, make_policy, make_incident,
                                               receiver):
    contact(cast["alice"])
    make_policy([(0, [cast["alice"]]), (10, [cast["bob"]])], service=services["checkout"])
    incident = make_incident(severity="P1", severity_reason="test")
    start_escalation(incident.pk)
    run_engine()
    login(client, cast["victor"])
    page = client.get(f"/oncall/incidents/{incident.pk}/").content.decode()
    assert "Escalating" in page and "Alice — slack" in page and "Next: level 2" in page
    fragment = client.get(f"/oncall/incidents/{incident.pk}/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    login(client, cast["nobody"])
    assert client.get(f"/oncall/incidents/{incident.pk}/").status_code in (403, 404)


def test_admin_pages_for_escalation(client, cast, make_policy, slack_channel, services):
    policy = make_policy([(0, [cast["alice"]])], service=services["checkout"])
    login(client, cast["root"])
    for url in ("/admin/oncall/escalationpolicy/", f"/admin/oncall/escalationpolicy/{policy.pk}/change/",
                "/admin/oncall/escalationpolicy/add/", "/admin/oncall/escalationlevel/",
                f"/admin/oncall/escalationlevel/{policy.levels.get().pk}/change/", "/admin/oncall/teamchannel/",
                "/admin/oncall/contactmethod/add/", "/admin/oncall/servicepolicy/", "/admin/oncall/escalation/",
                "/admin/oncall/page/"):
        assert client.get(url).status_code == 200, url
    r = client.post("/admin/oncall/teamchannel/add/", {"team": slack_channel.team_id, "name": "hook", "kind": "webhook",
                                                       "address": "https://hooks.example/y", "active": "on"})
    assert r.status_code == 302
    from oncall.models import TeamChannel

    assert TeamChannel.objects.get(name="hook").secret.startswith("whsec_")


def test_the_incident_workspace_loads_the_escalation_status(client, cast, incident):
    login(client, cast["alice"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert f'hx-get="/oncall/incidents/{incident.pk}/"' in page
