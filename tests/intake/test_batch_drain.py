"""The drain applies a claimed batch of raw events with the same outcome as one event at a
time: repeats are summed per alert, every other event keeps its order and its savepoint,
and one event failing loses none of the others. Events go in through the real door."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.intake import pipeline
from incidents.models import Alert, GroupingRule, Incident, RawEvent, TimelineEntry

pytestmark = pytest.mark.django_db

V2 = "/integrations/pagerduty/v2/enqueue"


@pytest.fixture
def pd(make_integration, services):
    GroupingRule.objects.create(service=services["checkout"], group_by=["group"], window_seconds=86400)
    return make_integration("pagerduty")


@pytest.fixture
def send(client, pd):
    _, key = pd

    def send(action="trigger", dedup_key="disk-web-1", group="disks", summary=None, **payload):
        body = {"routing_key": key, "event_action": action, "dedup_key": dedup_key}
        if action == "trigger":
            body["payload"] = {"summary": summary or f"Disk full on {dedup_key}", "source": dedup_key,
                               "severity": "error", "group": group, **payload}
        response = client.post(V2, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 202, response.content

    return send


def entries(kind):
    return list(TimelineEntry.objects.filter(kind=kind).order_by("id").values_list("data", flat=True))


def test_repeats_in_one_batch_count_each_and_attach_once(send):
    for _ in range(7):
        send(dedup_key="disk-web-1")
    for _ in range(3):
        send(dedup_key="disk-web-2")
    assert pipeline.drain() == 10
    alerts = dict(Alert.objects.values_list("dedup_key", "count"))
    assert alerts == {"disk-web-1": 7, "disk-web-2": 3}
    incident = Incident.objects.get()
    # One timeline entry per decision: the declaring alert and the one grouped into it.
    assert [(e["dedup_key"], e["decision"]) for e in entries("alert.attached")] == [
        ("disk-web-1", "declared"), ("disk-web-2", "grouped")]
    assert incident.alerts.count() == 2
    assert set(RawEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_repeats_of_an_alert_already_open_are_summed_in_later_batches(send):
    send(dedup_key="disk-web-1")
    pipeline.drain()
    for index in range(5):
        send(dedup_key="disk-web-1", summary=f"Disk full on web-1 ({index})")
    assert pipeline.drain() == 5
    alert = Alert.objects.get()
    last = RawEvent.objects.order_by("id").last()
    assert (alert.count, alert.summary, alert.last_raw_event_id) == (6, "Disk full on web-1 (4)", last.pk)
    assert len(entries("alert.attached")) == 1


def test_order_within_a_batch_is_kept_across_acknowledge_and_resolve(send, clock):
    for _ in range(3):
        send(dedup_key="disk-web-1")
    send(action="acknowledge", dedup_key="disk-web-1")
    send(dedup_key="disk-web-1")  # a repeat of an acknowledged alert still counts
    send(action="resolve", dedup_key="disk-web-1")
    send(dedup_key="disk-web-1")  # after resolve the key opens anew (within the cooldown: same incident)
    send(dedup_key="disk-web-1")
    assert pipeline.drain() == 8
    first, second = Alert.objects.order_by("id")
    assert (first.status, first.count) == ("resolved", 4)
    assert (second.status, second.count) == ("firing", 2)
    incident = Incident.objects.get()
    assert second.incident == incident and incident.is_open
    assert [d["what"] for d in second.decisions] == ["reopened"]
    assert [e["decision"] for e in entries("alert.attached")] == ["declared", "reopened"]
    assert len(entries("alert.resolved")) == 1


def test_the_same_delivery_twice_in_a_batch_counts_once(send):
    stamp = "2026-03-02T08:59:00Z"
    send(dedup_key="disk-web-1", timestamp=stamp)
    send(dedup_key="disk-web-1", timestamp="2026-03-02T08:59:30Z")
    send(dedup_key="disk-web-1", timestamp="2026-03-02T08:59:30Z")  # Alertmanager-style redelivery
    pipeline.drain()
    assert Alert.objects.get().count == 2


def test_a_failing_event_loses_none_of_the_others_and_is_retried(send, pd, monkeypatch, clock):
    integration, _ = pd
    declare = pipeline._declare_for

    def flaky(alert, ev, now):
        if alert.dedup_key == "disk-web-2":
            raise RuntimeError("database hiccup")
        return declare(alert, ev, now)

    monkeypatch.setattr(pipeline, "_declare_for", flaky)
    send(dedup_key="disk-web-1", group="a")
    send(dedup_key="disk-web-1", group="a")
    send(dedup_key="disk-web-2", group="b")  # fails
    send(dedup_key="disk-web-1", group="a")
    send(dedup_key="disk-web-3", group="c")
    RawEvent.objects.create(integration=integration, endpoint="pagerduty.v2", body="{not json")  # unreadable
    send(dedup_key="disk-web-3", group="c")
    pipeline.drain()

    failed = RawEvent.objects.get(state="failed")
    assert json.loads(failed.body)["dedup_key"] == "disk-web-2" and "database hiccup" in failed.error
    dead = RawEvent.objects.get(state="dead")
    assert "malformed JSON" in dead.error
    assert RawEvent.objects.filter(state="processed").count() == 5
    assert dict(Alert.objects.values_list("dedup_key", "count")) == {"disk-web-1": 3, "disk-web-3": 2}
    assert Incident.objects.count() == 2

    monkeypatch.setattr(pipeline, "_declare_for", declare)
    clock.shift(dt.timedelta(minutes=5))  # past the retry's backoff
    assert pipeline.drain() == 1
    assert dict(Alert.objects.values_list("dedup_key", "count")) == {"disk-web-1": 3, "disk-web-2": 1,
                                                                      "disk-web-3": 2}
    assert Incident.objects.count() == 3 and RawEvent.objects.filter(state="processed").count() == 6


def test_a_suppressed_alert_still_counts_its_repeats(send, services, cast):
    from incidents.models import Silence

    Silence.objects.create(service=services["checkout"], matchers=[{"name": "group", "value": "disks"}],
                           starts_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                           ends_at=dt.datetime(2100, 1, 1, tzinfo=dt.UTC), created_by=cast["alice"],
                           comment="known noise")
    for _ in range(4):
        send(dedup_key="disk-web-1")
    pipeline.drain()
    alert = Alert.objects.get()
    assert (alert.count, alert.suppressed, alert.incident) == (4, "silenced", None)
    assert Incident.objects.count() == 0


def test_a_batch_of_repeats_costs_the_same_few_statements_however_many_there_are(send):
    def statements_for(repeats):
        for _ in range(repeats):
            send(dedup_key="disk-web-1")
            send(dedup_key="disk-web-2")
        with CaptureQueriesContext(connection) as queries:
            pipeline.drain()
        return len(queries)

    statements_for(1)  # opens the alerts and the incident
    assert statements_for(5) == statements_for(50)
    assert Alert.objects.get(dedup_key="disk-web-1").count == 56


def test_rate_limit_counted_in_leases_admits_exactly_the_limit(client, make_integration, clock):
    # 300 a minute: each process leases 3 at a time from the shared counter.
    _, key = make_integration("pagerduty", rate_limit_per_minute=300)
    body = json.dumps({"routing_key": key, "event_action": "trigger", "dedup_key": "k",
                       "payload": {"summary": "s", "source": "h", "severity": "info"}})
    statuses = [client.post(V2, data=body, content_type="application/json").status_code for _ in range(302)]
    assert statuses.count(202) == 300 and statuses[-2:] == [429, 429]
    assert RawEvent.objects.count() == 300
    clock.shift(60)  # the next minute counts afresh
    assert client.post(V2, data=body, content_type="application/json").status_code == 202


def test_doors_answer_with_a_length_and_no_session_machinery(client, pd):
    _, key = pd
    client.cookies["sessionid"] = "not-a-session"  # a sender behind a shared cookie jar
    body = json.dumps({"routing_key": key, "event_action": "trigger", "dedup_key": "k",
                       "payload": {"summary": "s", "source": "h", "severity": "info"}})
    response = client.post(V2, data=body, content_type="application/json")
    assert response.status_code == 202 and int(response["Content-Length"]) == len(response.content)
    assert "Cookie" not in response.get("Vary", "") and not response.cookies
    assert client.post("/integrations/no-such-door", data=body, content_type="application/json").status_code == 404


@pytest.mark.parametrize("path", [
    "/integrations/pagerduty/v2/enqueue", "/integrations/pagerduty/v2/enqueue/", "/integrations/alertmanager/k1",
    "/integrations/pagerduty/generic/2010-04-15/create_event.json", "/integrations/webhook",
    "/ping/0f6e9a0e-5f52-4d7b-9d3c-2b7f8f6f1a10/start", "/ping/key-1/nightly/3", "/ping/not-a-uuid"])
def test_the_doors_own_urlconf_resolves_as_the_site_does(path):
    from django.conf import settings
    from django.urls import resolve

    site, door = resolve(path), resolve(path, settings.MACHINE_DOOR_URLCONF)
    assert (door.func, door.args, door.kwargs, door.url_name) == (site.func, site.args, site.kwargs, site.url_name)
    assert getattr(door.func, "machine_door", False)
