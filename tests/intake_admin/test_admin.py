"""The admin door for intake: every page renders, integrations show their key once,
writes go through the intake actions (validated, audited), raw events replay."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from alertum.core.models import AuditEntry, Door
from incidents.intake import actions, pipeline
from incidents.intake.accept import find_integration
from incidents.intake.events import ChangeEventData
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


@pytest.fixture
def root_client(client, cast):
    client.force_login(cast["root"])
    return client


@pytest.fixture
def rows(cast, services, integration, raw_event, fire):
    """One row of every intake model, written through the actions and the pipeline."""
    checkout = services["checkout"]
    who = {"actor": cast["root"], "source": Door.CLI}
    raw = raw_event(state=RawEvent.State.DEAD, error="FormatError: alerts: required")
    alert = fire("web-1")
    change = pipeline.record_change(raw_event(), ChangeEventData(summary="Deployed v42", source="ci"))
    return {
        "incidents_integration": integration,
        "incidents_rawevent": raw,
        "incidents_alert": alert,
        "incidents_changeevent": change,
        "incidents_silence": actions.create_silence(matchers=[{"name": "a", "value": "1"}], service=checkout,
                                                    ends_at=timezone.now() + dt.timedelta(hours=1), comment="c",
                                                    **who),
        "incidents_groupingrule": actions.save_grouping_rule(checkout, group_by=["alertname"], **who),
        "incidents_inhibitionrule": actions.create_rule(
            InhibitionRule, name="crit mutes warn", service=checkout,
            source_matchers=[{"name": "severity", "value": "critical"}],
            target_matchers=[{"name": "severity", "value": "warning"}], **who),
        "incidents_alertseverityrule": actions.create_rule(AlertSeverityRule, service=checkout, impact="outage",
                                                           **who),
        "incidents_routingrule": actions.create_rule(RoutingRule, name="night", service=None, severities=["P4"],
                                                     **who),
    }


CONFIGURATION = ["incidents_integration", "incidents_silence", "incidents_groupingrule", "incidents_inhibitionrule",
                 "incidents_alertseverityrule", "incidents_routingrule"]
READ_ONLY = ["incidents_rawevent", "incidents_alert", "incidents_changeevent"]


def notes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("name", CONFIGURATION + READ_ONLY)
def test_intake_admin_pages_render(root_client, rows, name):
    assert root_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert root_client.get(reverse(f"admin:{name}_change", args=[rows[name].pk])).status_code == 200


@pytest.mark.parametrize("name", CONFIGURATION)
def test_intake_configuration_can_be_added(root_client, rows, name):
    assert root_client.get(reverse(f"admin:{name}_add")).status_code == 200


@pytest.mark.parametrize("name", READ_ONLY)
def test_raw_events_alerts_and_changes_cannot_be_added(root_client, rows, name):
    assert root_client.get(reverse(f"admin:{name}_add")).status_code == 403


def test_creating_an_integration_in_the_admin_shows_the_key_once(root_client, services):
    response = root_client.post(reverse("admin:incidents_integration_add"), {
        "service": services["checkout"].pk, "name": "pd", "kind": "pagerduty", "rate_limit_per_minute": 120,
    }, follow=True)
    assert response.status_code == 200
    integration = Integration.objects.get(name="pd")
    message = next(m for m in notes(response) if "Integration key for" in m)
    raw = message.split("<code>")[1].split("</code>")[0]
    assert integration.key_hash == Integration.hash_key(raw) and find_integration(raw) == integration
    page = root_client.get(reverse("admin:incidents_integration_change", args=[integration.pk]))
    assert raw not in page.content.decode() and f"{raw[:8]}…" in page.content.decode()
    entry = AuditEntry.objects.get(action="integration.created")
    assert entry.source == "admin" and "key_hash" not in entry.changes


def test_rotating_in_the_admin_shows_the_new_key(root_client, make_integration):
    integration, old = make_integration()
    response = root_client.post(reverse("admin:incidents_integration_changelist"), {
        "action": "rotate_keys", "_selected_action": [integration.pk]}, follow=True)
    message = next(m for m in notes(response) if "New key for" in m)
    new = message.split("<code>")[1].split("</code>")[0]
    assert find_integration(old) is None and find_integration(new) == integration


def test_a_bad_silence_in_the_admin_saves_nothing_and_says_why(root_client, services):
    response = root_client.post(reverse("admin:incidents_silence_add"), {
        "matchers": '[{"name": "instance", "value": "web-(", "isRegex": true}]', "service": services["checkout"].pk,
        "starts_at_0": "2030-01-01", "starts_at_1": "10:00:00", "ends_at_0": "2030-01-01", "ends_at_1": "12:00:00",
        "comment": "x"}, follow=True)
    assert any("is not a valid regular expression" in m for m in notes(response))
    assert not Silence.objects.exists() and not AuditEntry.objects.exists()


def test_a_routing_rule_with_an_unknown_zone_is_refused_in_the_admin(root_client, rows):
    rule = rows["incidents_routingrule"]
    url = reverse("admin:incidents_routingrule_change", args=[rule.pk])
    response = root_client.post(url, {
        "position": 0, "name": "night", "severities": '["P9"]', "matchers": "[]", "during": "always",
        "business_days": "[]", "business_start": "09:00", "business_end": "17:00", "time_zone": "UTC",
        "active": "on"}, follow=True)
    assert any("unknown severity 'P9'" in m for m in notes(response))
    rule.refresh_from_db()
    assert rule.severities == ["P4"]


def test_admin_edits_a_rule_through_the_action_and_audits_it(root_client, rows):
    rule = rows["incidents_inhibitionrule"]
    response = root_client.post(reverse("admin:incidents_inhibitionrule_change", args=[rule.pk]), {
        "name": "critical mutes warning", "service": rule.service_id,
        "source_matchers": '[{"name": "severity", "value": "critical"}]',
        "target_matchers": '[{"name": "severity", "value": "warning"}]', "equal": '["instance"]', "active": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "critical mutes warning" and rule.equal == ["instance"]
    entry = AuditEntry.objects.filter(action="inhibitionrule.updated").get()
    assert entry.source == "admin" and entry.changes["equal"] == [[], ["instance"]]


def test_raw_event_list_shows_the_error_and_replays_dead_events(root_client, rows):
    raw = rows["incidents_rawevent"]
    listing = root_client.get(reverse("admin:incidents_rawevent_changelist"))
    assert "FormatError: alerts: required" in listing.content.decode()
    processed = RawEvent.objects.filter(state=RawEvent.State.PROCESSED).first()
    response = root_client.post(reverse("admin:incidents_rawevent_changelist"), {
        "action": "replay", "_selected_action": [raw.pk, processed.pk]}, follow=True)
    texts = notes(response)
    assert any(f"Queued again: #{raw.pk}" in m for m in texts)
    assert any("processed already" in m for m in texts)
    raw.refresh_from_db()
    processed.refresh_from_db()
    assert raw.state == RawEvent.State.PENDING and processed.state == RawEvent.State.PROCESSED


def test_alert_change_page_shows_its_decisions_read_only(root_client, rows):
    alert = rows["incidents_alert"]
    page = root_client.get(reverse("admin:incidents_alert_change", args=[alert.pk])).content.decode()
    assert "declared" in page and alert.incident.reference in page and 'name="_save"' not in page


def test_expiring_silences_from_the_admin_list(root_client, rows):
    silence = rows["incidents_silence"]
    root_client.post(reverse("admin:incidents_silence_changelist"), {
        "action": "expire_silences", "_selected_action": [silence.pk]})
    silence.refresh_from_db()
    assert silence.state() == "expired"
    expired = root_client.get(reverse("admin:incidents_silence_changelist") + "?state=expired").content.decode()
    assert f"/admin/incidents/silence/{silence.pk}/change/" in expired


def test_grouping_rule_admin_saves_through_the_action(root_client, rows):
    rule = rows["incidents_groupingrule"]
    response = root_client.post(reverse("admin:incidents_groupingrule_change", args=[rule.pk]), {
        "group_by": '["alertname", "job"]', "dedup_key_template": "", "window_seconds": 7200, "max_alerts": 0,
        "cooldown_seconds": 600, "auto_resolve": "on", "auto_resolve_after_seconds": ""})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.group_by == ["alertname", "job"] and rule.window_seconds == 7200
    assert GroupingRule.objects.count() == 1
