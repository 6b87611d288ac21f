"""From normalised alert events to alerts and incidents: every decision, through the
pipeline's own entry point, with a controlled clock."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from alertum.core import actions as core_actions
from alertum.core.models import Door
from incidents.intake import pipeline
from incidents.intake.events import AlertEvent
from incidents.models import (
    Alert,
    GroupingRule,
    Incident,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Silence,
    Status,
    TimelineEntry,
)

pytestmark = pytest.mark.django_db
_keys = itertools.count()


@pytest.fixture
def integration(services, cast):
    return Integration.objects.create(name="prom", service=services["checkout"], kind="alertmanager",
                                      key_prefix="abcd", key_hash=f"{next(_keys):064d}")


@pytest.fixture
def send(integration):
    def send(action="trigger", key="k1", **fields):
        raw = RawEvent.objects.create(integration=integration, endpoint="alertmanager", body="{}")
        raw = RawEvent.objects.select_related("integration__service").get(pk=raw.pk)
        fields.setdefault("summary", f"alert {key}")
        fields.setdefault("labels", {"alertname": "HighLatency", "instance": key})
        return pipeline.apply_alert_event(raw, AlertEvent(action=action, dedup_key=key, **fields))
    return send


def alert_entries(incident):
    return list(TimelineEntry.objects.filter(incident=incident, kind="alert.attached").values_list("data", flat=True))


def test_repeat_counts_and_one_incident_holds_the_group(send, clock):
    first = send(key="web-1", severity="critical")
    again = send(key="web-1", severity="critical")
    other = send(key="web-2", severity="critical")
    assert first.pk == again.pk and Alert.objects.get(pk=first.pk).count == 2
    assert Incident.objects.count() == 1
    incident = Incident.objects.get()
    assert other.incident == incident and incident.severity == "P1" and incident.source == "intake"
    assert [d["dedup_key"] for d in alert_entries(incident)] == ["web-1", "web-2"]
    assert [d["what"] for d in Alert.objects.get(pk=first.pk).decisions] == ["declared"]
    assert [(d["what"], d["detail"]) for d in other.decisions] == [("grouped", f"into {incident.reference}")]


def test_duplicate_delivery_with_same_sender_time_changes_nothing(send):
    at = timezone.now() - dt.timedelta(minutes=1)
    send(key="web-1", occurred_at=at)
    send(key="web-1", occurred_at=at)
    alert = Alert.objects.get()
    assert alert.count == 1 and len(alert_entries(alert.incident)) == 1


def test_different_alertnames_open_different_incidents(send):
    send(key="a", labels={"alertname": "HighLatency"})
    send(key="b", labels={"alertname": "DiskFull"})
    assert Incident.objects.count() == 2


def test_resolve_then_fire_again_within_cooldown_reopens_the_same_incident(send, clock):
    send(key="web-1")
    send("resolve", key="web-1")
    incident = Incident.objects.get()
    assert incident.status == Status.RESOLVED  # auto-resolve: all its alerts resolved
    clock.shift(dt.timedelta(minutes=5))
    again = send(key="web-1")
    incident.refresh_from_db()
    assert Alert.objects.count() == 2 and again.incident == incident and incident.status == Status.TRIGGERED
    assert again.decisions[0]["what"] == "reopened"


def test_after_cooldown_a_new_incident_opens(send, clock):
    send(key="web-1")
    send("resolve", key="web-1")
    clock.shift(dt.timedelta(minutes=11))
    send(key="web-1")
    assert Incident.objects.count() == 2


def test_ack_and_resolve_for_unknown_keys_are_dropped(send):
    assert send("acknowledge", key="nope") is None and send("resolve", key="nope") is None
    assert not Alert.objects.exists() and not Incident.objects.exists()


def test_acknowledge_from_the_sender_acknowledges_the_incident(send):
    send(key="web-1")
    send("acknowledge", key="web-1")
    assert Incident.objects.get().status == Status.ACKNOWLEDGED


def test_stale_event_is_ignored(send, integration):
    alert = send(key="web-1")
    stale = RawEvent.objects.create(integration=integration, endpoint="alertmanager", body="{}")
    Alert.objects.filter(pk=alert.pk).update(last_raw_event_id=stale.pk + 10)
    stale = RawEvent.objects.select_related("integration__service").get(pk=stale.pk)
    pipeline.apply_alert_event(stale, AlertEvent(action="resolve", dedup_key="web-1"))
    assert Alert.objects.get(pk=alert.pk).status == "firing"


def test_silence_records_the_alert_without_an_incident(send, cast, clock):
    silence = Silence.objects.create(matchers=[{"name": "instance", "value": "web-.*", "isRegex": True}],
                                     ends_at=timezone.now() + dt.timedelta(hours=1), comment="known noise",
                                     created_by=cast["alice"])
    alert = send(key="web-1")
    assert alert.suppressed == "silenced" and alert.incident is None and not Incident.objects.exists()
    assert f"silence #{silence.pk}" in alert.decisions[-1]["detail"]
    clock.shift(dt.timedelta(hours=2))
    assert pipeline.housekeeping()["unsuppressed"] == 1
    alert.refresh_from_db()
    assert alert.suppressed == "" and alert.incident is not None


def test_maintenance_suppresses_incident_creation_but_records_the_alert(send, services, cast):
    now = timezone.now()
    window = core_actions.schedule_maintenance(title="DB upgrade", starts_at=now - dt.timedelta(minutes=1),
                                               ends_at=now + dt.timedelta(hours=1), services=[services["checkout"]],
                                               actor=cast["alice"], source=Door.WEB)
    alert = send(key="web-1")
    assert alert.suppressed == "maintenance" and "DB upgrade" in alert.decisions[-1]["detail"]
    assert not Incident.objects.exists() and window.pk


def test_inhibition_mutes_targets_with_equal_labels(send):
    InhibitionRule.objects.create(name="critical mutes warning",
                                  source_matchers=[{"name": "severity", "value": "critical"}],
                                  target_matchers=[{"name": "severity", "value": "warning"}], equal=["instance"])
    send(key="crit-n1", labels={"alertname": "DiskFull", "instance": "n1", "severity": "critical"})
    muted = send(key="warn-n1", labels={"alertname": "DiskFull", "instance": "n1", "severity": "warning"})
    free = send(key="warn-n2", labels={"alertname": "DiskFull", "instance": "n2", "severity": "warning"})
    assert muted.suppressed == "inhibited" and "critical mutes warning" in muted.decisions[-1]["detail"]
    assert free.suppressed == "" and free.incident is not None


def test_group_cap_opens_a_new_incident(send, services):
    GroupingRule.objects.create(service=services["checkout"], group_by=["alertname"], max_alerts=2)
    for i in range(3):
        send(key=f"web-{i}")
    assert Incident.objects.count() == 2


def test_low_severity_outside_business_hours_is_held_until_they_start(send, teams, clock):
    rule = RoutingRule.objects.create(name="night P3/P4 waits", severities=["P3", "P4"], team=teams["platform"],
                                      escalation_policy_slug="platform-default", defer_to_business_hours=True,
                                      time_zone="Europe/Amsterdam")
    clock.move_to(dt.datetime(2026, 3, 6, 22, 0, tzinfo=dt.UTC))  # Friday 23:00 in Amsterdam
    send(key="web-1", severity="info")
    incident = Incident.objects.get()
    assert incident.routing_rule == rule and incident.team == teams["platform"]
    # Monday 09:00 Amsterdam (UTC+1 in early March)
    assert incident.notify_after == dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
    declared = TimelineEntry.objects.get(incident=incident, kind="incident.declared").data
    assert declared["routed_by"] == "night P3/P4 waits"
    assert Alert.objects.get().decisions[-1]["detail"].startswith("by rule “night P3/P4 waits”, paging held until")


def test_business_hours_start_honours_daylight_saving(teams):
    rule = RoutingRule(name="r", time_zone="Europe/Amsterdam", business_start=dt.time(9), business_end=dt.time(17))
    # Friday 27 March 2026 evening -> Monday 30 March, after the switch to CEST (UTC+2)
    start = pipeline.next_business_start(rule, dt.datetime(2026, 3, 27, 20, 0, tzinfo=dt.UTC))
    assert start == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)


def test_inactive_incident_is_auto_resolved_by_housekeeping(send, services, clock):
    GroupingRule.objects.create(service=services["checkout"], auto_resolve_after_seconds=1800)
    send(key="web-1")
    clock.shift(dt.timedelta(minutes=20))
    assert pipeline.housekeeping()["resolved"] == 0
    clock.shift(dt.timedelta(minutes=11))
    assert pipeline.housekeeping()["resolved"] == 1
    assert Incident.objects.get().status == Status.RESOLVED


def test_more_severe_alert_raises_intake_incident_severity(send):
    send(key="w", severity="warning")
    incident = Incident.objects.get()
    assert incident.severity == "P2"  # degraded of a tier-1 service
    send(key="c", severity="critical")
    incident.refresh_from_db()
    assert incident.severity == "P1"


def test_repeats_count_even_when_applied_out_of_order(send, integration):
    alert = send(key="web-1")
    older = RawEvent.objects.create(integration=integration, endpoint="alertmanager", body="{}")
    Alert.objects.filter(pk=alert.pk).update(last_raw_event_id=older.pk + 10)  # a newer event was applied first
    older = RawEvent.objects.select_related("integration__service").get(pk=older.pk)
    pipeline.apply_alert_event(older, AlertEvent(action="trigger", dedup_key="web-1", summary="alert web-1",
                                                 labels={"alertname": "HighLatency"}))
    assert Alert.objects.get(pk=alert.pk).count == 2
