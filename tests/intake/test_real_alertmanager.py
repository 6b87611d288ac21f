"""The real Prometheus Alertmanager (Debian's package) notifies a live server: firing,
partly resolved and resolved groups through its webhook, and its own PagerDuty v2
sender through our Events API door. Loopback only; the process is stopped at the end."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from incidents.intake.pipeline import drain
from incidents.models import Alert, Incident, RawEvent

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def alert(instance: str, *, resolved: bool = False, started: datetime) -> dict:
    now = datetime.now(UTC)
    return {"labels": {"alertname": "HighLatency", "job": "api", "instance": instance, "severity": "warning"},
            "annotations": {"summary": f"p99 latency above 2s on {instance}"},
            "generatorURL": f"http://prometheus.local/graph?instance={instance}",
            "startsAt": started.isoformat(),
            "endsAt": (now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)).isoformat()}


def notification(integration, group_status: str, alerts: dict[str, str]):
    """The first webhook body whose group status and per-instance statuses are these."""
    for raw in RawEvent.objects.filter(integration=integration).order_by("id"):
        body = json.loads(raw.body)
        seen = {a["labels"]["instance"]: a["status"] for a in body["alerts"]}
        if body["status"] == group_status and seen == alerts:
            return body
    return None


def alert_statuses(integration) -> dict[str, str]:
    return {a.labels["instance"]: a.status for a in Alert.objects.filter(integration=integration)}


def test_alertmanager_firing_partly_resolved_and_resolved_groups(live_server, make_integration, real_alertmanager):
    integration, key = make_integration("alertmanager")
    am = real_alertmanager(
        "  - name: portal\n"
        "    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{live_server.thread.port}/integrations/alertmanager/{key}/\n"
        "        send_resolved: true\n"
    )
    started = datetime.now(UTC) - timedelta(seconds=30)
    am.push(alert("web-1", started=started), alert("web-2", started=started))

    firing = wait_for(lambda: notification(integration, "firing", {"web-1": "firing", "web-2": "firing"}),
                      "the firing group")
    assert firing["version"] == "4" and firing["receiver"] == "portal"
    assert {a["endsAt"] for a in firing["alerts"]} == {"0001-01-01T00:00:00Z"}  # Go's zero time: still firing
    drain()
    assert alert_statuses(integration) == {"web-1": "firing", "web-2": "firing"}
    incident = Incident.objects.get()
    assert set(incident.alerts.values_list("labels__instance", flat=True)) == {"web-1", "web-2"}

    am.push(alert("web-2", resolved=True, started=started))
    wait_for(lambda: notification(integration, "firing", {"web-1": "firing", "web-2": "resolved"}),
             "the partly resolved group")
    drain()
    assert alert_statuses(integration) == {"web-1": "firing", "web-2": "resolved"}
    assert Alert.objects.get(labels__instance="web-1").count == 1  # the resend of web-1 changed nothing

    am.push(alert("web-1", resolved=True, started=started))
    wait_for(lambda: notification(integration, "resolved", {"web-1": "resolved"}), "the resolved group")
    drain()
    assert alert_statuses(integration) == {"web-1": "resolved", "web-2": "resolved"}
    incident.refresh_from_db()
    assert incident.status == "resolved"  # all its alerts resolved
    assert not RawEvent.objects.exclude(state="processed").exists()


def test_alertmanagers_own_pagerduty_sender_is_accepted_by_the_events_door(live_server, make_integration,
                                                                           real_alertmanager):
    integration, key = make_integration("pagerduty")
    am = real_alertmanager(
        "  - name: portal\n"
        "    pagerduty_configs:\n"
        f"      - routing_key: {key}\n"
        f"        url: http://127.0.0.1:{live_server.thread.port}/integrations/pagerduty/v2/enqueue\n"
        "        severity: critical\n"
        "        send_resolved: true\n"
    )
    started = datetime.now(UTC) - timedelta(seconds=30)
    am.push(alert("web-1", started=started))

    def events(action):
        return [json.loads(raw.body) for raw in RawEvent.objects.filter(integration=integration)
                if json.loads(raw.body)["event_action"] == action]

    (trigger, *_) = wait_for(lambda: events("trigger"), "Alertmanager's PagerDuty trigger")
    group_key = '{}:{alertname="HighLatency", job="api"}'
    assert trigger["dedup_key"] == hashlib.sha256(group_key.encode()).hexdigest()
    assert trigger["client"] == "Alertmanager"
    am.push(alert("web-1", resolved=True, started=started))
    wait_for(lambda: events("resolve"), "Alertmanager's PagerDuty resolve")
    drain()
    pd_alert = Alert.objects.get(integration=integration)
    assert (pd_alert.dedup_key, pd_alert.status, pd_alert.severity) == (trigger["dedup_key"], "resolved", "critical")
    assert pd_alert.summary.startswith("[FIRING:1] HighLatency")
