"""Each sender's body becomes the right normalised events (what the pipeline is given)."""

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from incidents.intake import alertmanager, formats
from incidents.intake.events import AlertEvent, ChangeEventData, FormatError
from incidents.intake.timestamps import parse_timestamp

from .conftest import sample

UTC = dt.UTC


def normalise(endpoint: str, body, assigned: str = ""):
    text = body if isinstance(body, str) else json.dumps(body)
    return formats.normalise(SimpleNamespace(endpoint=endpoint, body=text, assigned_dedup_key=assigned))


def test_real_alertmanager_firing_group_becomes_one_trigger_per_alert():
    events = normalise("alertmanager", sample("alertmanager-firing.json"))
    assert [(e.action, e.dedup_key) for e in events] == [("trigger", "2e99dcd221d26e85"),
                                                         ("trigger", "c60cd5cd0b2b41d8")]
    first, second = events
    assert first.summary == "p99 latency above 2s"
    assert first.severity == "warning"
    assert first.source == "web-1"
    assert first.labels == {"alertname": "HighLatency", "instance": "web-1", "job": "api", "severity": "warning"}
    assert first.annotations["runbook_url"] == "https://runbooks.example/latency"
    assert first.links == [{"href": "http://prometheus.local/graph?g0.expr=latency", "text": "Source"},
                           {"href": "https://runbooks.example/latency", "text": "Runbook"}]
    # Nanoseconds truncated to microseconds; the zero endsAt of a firing alert is not kept.
    assert first.occurred_at == dt.datetime(2026, 11, 22, 12, 0, 59, 540038, tzinfo=UTC)
    assert first.details["endsAt"] is None
    assert first.details["groupKey"] == '{}:{alertname="HighLatency", job="api"}'
    assert second.summary == "p99 latency above 2s on web-2"
    assert second.annotations["description"] == "latency is 3.1s"


def test_real_alertmanager_resolved_group_resolves_at_its_end_time():
    (event,) = normalise("alertmanager", sample("alertmanager-resolved.json"))
    assert event.action == "resolve"
    assert event.dedup_key == "c60cd5cd0b2b41d8"
    assert event.occurred_at == dt.datetime(2026, 11, 22, 12, 1, 14, tzinfo=UTC)


def test_alertmanagers_own_pagerduty_sender_becomes_a_trigger_with_its_group_key_hash():
    (event,) = normalise("pagerduty.v2", sample("alertmanager-pagerduty-v2-trigger.json"))
    assert event == AlertEvent(
        action="trigger", dedup_key="29219648d8b9ac797feda2a420ca2828302c7db30e3c809a7d6a984459502cbe",
        summary="[FIRING:1] ErrorRate checkout (c1 critical)", severity="critical", source="am-test",
        labels={"component": "api", "group": "prod", "class": "latency"},
        links=[{"href": "https://runbooks.example/x", "text": "Runbook"},
               {"href": "http://127.0.0.1:19093/#/alerts?receiver=all", "text": "Alertmanager"}],
        occurred_at=None, details=sample("alertmanager-pagerduty-v2-trigger.json")["payload"]["custom_details"])


def test_fingerprint_is_alertmanagers_own():
    labels = sample("alertmanager-firing.json")["alerts"][0]["labels"]
    assert alertmanager.fingerprint(labels) == "2e99dcd221d26e85"


def test_alert_without_fingerprint_gets_the_one_alertmanager_would_give():
    body = sample("alertmanager-firing.json")
    del body["alerts"][1]["fingerprint"]
    assert normalise("alertmanager", body)[1].dedup_key == "c60cd5cd0b2b41d8"


def test_lenient_alertmanager_parsing_ignores_unknown_keys_and_missing_optional_ones():
    body = {"version": "4", "notification_reason": "first notification", "routeLabels": {"team": "db"},
            "alerts": [{"labels": {"alertname": "DiskFull"}, "startsAt": "2026-11-22T12:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "somethingNew": [1, 2]}]}
    (event,) = normalise("alertmanager", body)
    assert (event.action, event.summary, event.severity, event.links, event.annotations) == (
        "trigger", "DiskFull", "error", [], {})


@pytest.mark.parametrize(("label", "severity"), [
    ("critical", "critical"), ("page", "critical"), ("P1", "critical"), ("error", "error"), ("major", "error"),
    ("warning", "warning"), ("warn", "warning"), ("info", "info"), ("none", "info"), ("whatever", "error"),
])
def test_alertmanager_severity_labels_map_onto_ours(label, severity):
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": label}}]}
    assert normalise("alertmanager", body)[0].severity == severity


def test_grafana_payload_keeps_its_links_and_values():
    body = grafana_payload()
    (firing, resolved) = normalise("grafana", body)
    assert firing.action == "trigger" and resolved.action == "resolve"
    assert firing.dedup_key == "7a2bdc3f0e5f5a01"
    assert firing.summary == "CPU above 90% on web-1"
    assert [link["text"] for link in firing.links] == ["Source", "Dashboard", "Panel", "Silence"]
    assert firing.details["values"] == {"B": 97.5, "C": 1}
    assert resolved.summary == "HighCPU"  # no summary or description annotation: the alertname
    assert resolved.occurred_at == dt.datetime(2026, 11, 22, 12, 5, tzinfo=UTC)


def grafana_payload() -> dict:
    """Grafana's webhook v1 body, in the shape its documentation shows."""
    return {
        "receiver": "alertum", "status": "firing", "orgId": 1, "state": "alerting", "version": "1",
        "title": "[FIRING:1] HighCPU", "message": "CPU is high", "groupKey": "{}/{}:{alertname=\"HighCPU\"}",
        "truncatedAlerts": 0, "externalURL": "http://grafana.local/",
        "groupLabels": {"alertname": "HighCPU"}, "commonLabels": {"alertname": "HighCPU"}, "commonAnnotations": {},
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighCPU", "instance": "web-1", "severity": "critical"},
             "annotations": {"summary": "CPU above 90% on web-1"}, "startsAt": "2026-11-22T12:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://grafana.local/alerting/grafana/abc/view",
             "fingerprint": "7a2bdc3f0e5f5a01", "silenceURL": "http://grafana.local/alerting/silence/new",
             "dashboardURL": "http://grafana.local/d/abc", "panelURL": "http://grafana.local/d/abc?viewPanel=2",
             "values": {"B": 97.5, "C": 1}, "valueString": "[ var='B' value=97.5 ]"},
            {"status": "resolved", "labels": {"alertname": "HighCPU", "instance": "web-2"}, "annotations": {},
             "startsAt": "2026-11-22T11:50:00Z", "endsAt": "2026-11-22T12:05:00Z", "fingerprint": "5b6b2c3d4e5f6071",
             "silenceURL": "", "dashboardURL": "", "panelURL": ""},
        ],
    }


def test_pagerduty_trigger_without_dedup_key_uses_the_key_assigned_at_accept():
    body = {"routing_key": "r" * 32, "event_action": "trigger",
            "payload": {"summary": "Disk full", "source": "web-1", "severity": "error",
                        "timestamp": "2015-07-17T08:42:58.315+0000", "custom_details": "free: 0 bytes"},
            "images": [{"src": "https://img.example/graph.png", "href": "https://graphs.example/1", "alt": "Graph"}],
            "client": "Nagios", "client_url": "https://nagios.example"}
    (event,) = normalise("pagerduty.v2", body, assigned="a" * 32)
    assert event.dedup_key == "a" * 32
    assert event.occurred_at == dt.datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert event.details == {"details": "free: 0 bytes"}
    assert event.links == [{"href": "https://nagios.example", "text": "Nagios"},
                           {"href": "https://graphs.example/1", "text": "Graph"}]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve_carry_only_the_key(action):
    (event,) = normalise("pagerduty.v2", {"routing_key": "r" * 32, "event_action": action, "dedup_key": "k-1"})
    assert event == AlertEvent(action=action, dedup_key="k-1")


def test_pagerduty_change_event_becomes_change_event_data():
    body = {"routing_key": "r" * 32, "payload": {"summary": "Deployed v1.2", "source": "ci",
                                                 "timestamp": "2026-11-22T12:00:00.123456789Z",
                                                 "custom_details": {"build": 42}},
            "links": [{"href": "https://ci.example/42"}]}
    (event,) = normalise("pagerduty.change", body)
    assert event == ChangeEventData(summary="Deployed v1.2", source="ci",
                                    occurred_at=dt.datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC),
                                    custom_details={"build": 42},
                                    links=[{"href": "https://ci.example/42", "text": "https://ci.example/42"}])


def test_pagerduty_v1_trigger_with_pygerduty_nulls():
    body = {"service_key": "s" * 32, "event_type": "trigger", "description": "Queue backlog", "incident_key": None,
            "details": {"depth": 900}, "client": None, "client_url": None, "contexts": None}
    (event,) = normalise("pagerduty.v1", body, assigned="b" * 32)
    assert (event.action, event.dedup_key, event.summary, event.details, event.links) == (
        "trigger", "b" * 32, "Queue backlog", {"depth": 900}, [])


def test_generic_event_maps_every_documented_field():
    body = {"title": "Backup failed", "severity": "warning", "dedup_key": "backup-db1", "source": "db1",
            "labels": {"team": "db"}, "details": {"exit": 2},
            "links": [{"href": "https://ci.example/7", "text": "Log"}]}
    (event,) = normalise("generic", body)
    assert event == AlertEvent(action="trigger", dedup_key="backup-db1", summary="Backup failed", severity="warning",
                               source="db1", labels={"team": "db"}, details={"exit": 2},
                               links=[{"href": "https://ci.example/7", "text": "Log"}])
    (resolve,) = normalise("generic", {"title": "Backup failed", "status": "resolved", "dedup_key": "backup-db1"})
    assert resolve == AlertEvent(action="resolve", dedup_key="backup-db1")


def test_nul_characters_are_dropped_so_postgresql_can_store_them():
    text = json.dumps({"title": "bad\u0000byte", "dedup_key": "k", "details": {"x\u0000": "\ud800"}})
    (event,) = normalise("generic", text)
    assert event.summary == "badbyte" and event.details == {"x": "?"}


def test_a_stored_body_that_no_longer_validates_is_a_permanent_format_error():
    with pytest.raises(FormatError) as caught:
        normalise("pagerduty.v2", {"routing_key": "r" * 32, "event_action": "explode"})
    assert "'event_action' is invalid" in caught.value.errors[0]
    with pytest.raises(FormatError):
        normalise("pagerduty.v2", "{not json")
    with pytest.raises(FormatError):
        normalise("nagios", "{}")


@pytest.mark.parametrize(("text", "expected"), [
    ("2015-07-17T08:42:58.315+0000", dt.datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)),
    ("2026-11-22T12:00:59.54003893Z", dt.datetime(2026, 11, 22, 12, 0, 59, 540038, tzinfo=UTC)),
    ("2026-11-22T14:00:00+02:00", dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
    ("2026-11-22T12:00:00.5+00:00Z", dt.datetime(2026, 11, 22, 12, 0, 0, 500000, tzinfo=UTC)),
    ("2026-11-22T12:00:00", dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", None),
    (None, None),
])
def test_timestamps_as_senders_write_them(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59-05:00", 1700000000])
def test_timestamps_that_are_not_timestamps_are_refused(text):
    with pytest.raises(ValueError):
        parse_timestamp(text)
