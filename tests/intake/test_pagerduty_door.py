"""The PagerDuty doors answer exactly as PagerDuty does, and refuse bad events without
storing anything."""

import json

import pytest

from incidents.intake.accept import MAX_BODY_BYTES
from incidents.models import RawEvent

pytestmark = pytest.mark.django_db

V2 = "/integrations/pagerduty/v2/enqueue"
CHANGE = "/integrations/pagerduty/v2/change/enqueue"
V1 = "/integrations/pagerduty/generic/2010-04-15/create_event.json"


@pytest.fixture
def pd(make_integration):
    return make_integration("pagerduty")


def post(client, url, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=headers)


def trigger(key, **extra):
    body = {"routing_key": key, "event_action": "trigger",
            "payload": {"summary": "Disk 95% full on web-1", "source": "web-1", "severity": "critical"}}
    body.update(extra)
    return body


def invalid(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    return body["errors"]


def test_trigger_is_accepted_with_its_dedup_key_and_stored_raw(client, pd):
    integration, key = pd
    response = post(client, V2, trigger(key, dedup_key="disk-web-1"))
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-web-1"}
    raw = RawEvent.objects.get()
    assert (raw.integration, raw.endpoint, raw.state, raw.assigned_dedup_key) == (
        integration, "pagerduty.v2", "pending", "")
    assert json.loads(raw.body)["dedup_key"] == "disk-web-1"


def test_trigger_without_dedup_key_gets_a_new_key_each_time(client, pd):
    _, key = pd
    first = post(client, V2, trigger(key)).json()["dedup_key"]
    second = post(client, V2, trigger(key)).json()["dedup_key"]
    assert len(first) == 32 and first != second
    assert sorted(RawEvent.objects.values_list("assigned_dedup_key", flat=True)) == sorted([first, second])


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_answer_with_the_dedup_key(client, pd, action):
    _, key = pd
    response = post(client, V2, {"routing_key": key, "event_action": action, "dedup_key": "disk-web-1"})
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-web-1"}


def test_trailing_slash_is_the_same_door_and_never_a_redirect(client, pd):
    _, key = pd
    response = post(client, V2 + "/", trigger(key, dedup_key="k"))
    assert response.status_code == 202 and response.json()["dedup_key"] == "k"


def test_pypd_style_accept_and_authorization_headers_are_ignored(client, pd):
    _, key = pd
    response = post(client, V2, trigger(key, dedup_key="k"), Accept="application/vnd.pagerduty+json;version=2",
                    Authorization="Token token=None")
    assert response.status_code == 202 and response.json()["dedup_key"] == "k"


def test_full_trigger_with_every_optional_field_and_nulls(client, pd):
    _, key = pd
    body = trigger(key, dedup_key="k", client="Nagios", client_url=None, links=[{"href": "https://x.example"}],
                   images=[{"src": "https://img.example/a.png", "href": None, "alt": "graph"}])
    body["payload"].update({"timestamp": "2015-07-17T08:42:58.315+0000", "component": "mysql", "group": None,
                            "class": "disk", "custom_details": {"free": 0}})
    assert post(client, V2, body).status_code == 202


def test_nanosecond_timestamps_are_accepted(client, pd):
    _, key = pd
    body = trigger(key)
    body["payload"]["timestamp"] = "2026-11-22T12:00:59.540038931Z"
    assert post(client, V2, body).status_code == 202


def test_change_event_answers_202_with_a_json_object_carrying_an_id(client, pd):
    _, key = pd
    response = post(client, CHANGE, {"routing_key": key, "payload": {"summary": "Deployed v1.2", "source": "ci"},
                                     "links": [{"href": "https://ci.example/42", "text": "Build 42"}]})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success" and body["id"] == str(RawEvent.objects.get(endpoint="pagerduty.change").pk)


def test_change_event_needs_a_summary(client, pd, nothing_stored):
    _, key = pd
    assert invalid(post(client, CHANGE, {"routing_key": key, "payload": {"source": "ci"}})) == [
        "'payload.summary' is missing or blank"]
    nothing_stored()


def test_legacy_v1_answers_200_with_the_incident_key(client, pd):
    _, key = pd
    body = {"service_key": key, "event_type": "trigger", "description": "Queue backlog", "client": None,
            "client_url": None, "contexts": None, "details": {"depth": 900}}
    response = post(client, V1, body)
    assert response.status_code == 200
    generated = response.json()["incident_key"]
    assert response.json() == {"status": "success", "message": "Event processed", "incident_key": generated}
    assert len(generated) == 32
    resolve = post(client, V1, {"service_key": key, "event_type": "resolve", "incident_key": generated})
    assert resolve.status_code == 200 and resolve.json()["incident_key"] == generated


def test_legacy_v1_refuses_a_trigger_without_description(client, pd, nothing_stored):
    _, key = pd
    assert invalid(post(client, V1, {"service_key": key, "event_type": "trigger"})) == [
        "'description' is missing or blank"]
    nothing_stored()


@pytest.mark.parametrize(("change", "error"), [
    ({"event_action": None}, "'event_action' is missing or blank"),
    ({"event_action": "explode"}, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"),
    ({"payload": None}, "'payload' is missing or blank"),
    ({"payload": "disk full"}, "'payload' must be an object"),
    ({"payload": {"source": "web-1", "severity": "critical"}}, "'payload.summary' is missing or blank"),
    ({"payload": {"summary": "x" * 1025, "source": "web-1", "severity": "critical"}},
     "'payload.summary' is too long (at most 1024 characters)"),
    ({"payload": {"summary": 42, "source": "web-1", "severity": "critical"}}, "'payload.summary' must be a string"),
    ({"payload": {"summary": "Disk", "severity": "critical"}}, "'payload.source' is missing or blank"),
    ({"payload": {"summary": "Disk", "source": "web-1", "severity": "fatal"}},
     "'payload.severity' is invalid (must be one of the following: 'critical', 'error', 'warning' or 'info')"),
    ({"payload": {"summary": "Disk", "source": "web-1", "severity": "info", "timestamp": "yesterday"}},
     "'payload.timestamp' is invalid: 'yesterday' is not an ISO 8601 timestamp"),
    ({"dedup_key": "k" * 256}, "'dedup_key' is too long (at most 255 characters)"),
    ({"dedup_key": 17}, "'dedup_key' must be a string"),
    ({"links": {"href": "x"}}, "'links' must be an array"),
    ({"links": [{"text": "no href"}]}, "'links[0].href' is missing or blank"),
    ({"images": [{"alt": "no src"}]}, "'images[0].src' is missing or blank"),
])
def test_malformed_trigger_is_refused_with_pagerdutys_error_and_nothing_stored(client, pd, nothing_stored, change,
                                                                               error):
    _, key = pd
    assert invalid(post(client, V2, trigger(key, **change))) == [error]
    nothing_stored()


def test_every_problem_is_listed(client, pd):
    _, key = pd
    errors = invalid(post(client, V2, {"routing_key": key, "event_action": "trigger", "payload": {}}))
    assert errors == ["'payload.summary' is missing or blank", "'payload.source' is missing or blank",
                      "'payload.severity' is missing or blank"]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_without_dedup_key_is_refused(client, pd, nothing_stored, action):
    _, key = pd
    assert invalid(post(client, V2, {"routing_key": key, "event_action": action})) == [
        f"'dedup_key' is missing or blank (required to {action})"]
    nothing_stored()


@pytest.mark.parametrize("body", ["{not json", "", "[1, 2]", '"trigger"', b"\xff\xfe{}"])
def test_malformed_json_is_an_invalid_event(client, pd, nothing_stored, body):
    assert invalid(post(client, V2, body))
    nothing_stored()


@pytest.mark.parametrize(("routing_key", "error"), [
    (None, "'routing_key' is missing or blank"),
    ("short", "Length of 'routing_key' is incorrect (should be 32 characters)"),
    (12345678901234567890123456789012, "Length of 'routing_key' is incorrect (should be 32 characters)"),
    ("0" * 32, "Invalid routing key"),
])
def test_wrong_routing_key_is_refused(client, pd, nothing_stored, routing_key, error):
    assert invalid(post(client, V2, trigger(routing_key))) == [error]
    nothing_stored()


def test_key_of_another_kind_of_integration_is_not_a_routing_key(client, make_integration, nothing_stored):
    _, am_key = make_integration("alertmanager")
    assert invalid(post(client, V2, trigger(am_key))) == ["Invalid routing key"]
    nothing_stored()


def test_inactive_integration_is_refused(client, make_integration, nothing_stored):
    _, key = make_integration("pagerduty", active=False)
    assert invalid(post(client, V2, trigger(key))) == ["Invalid routing key"]
    nothing_stored()


def test_body_over_512000_bytes_is_413_and_nothing_stored(client, pd, nothing_stored):
    _, key = pd
    body = trigger(key)
    body["payload"]["custom_details"] = {"blob": "x" * MAX_BODY_BYTES}
    response = post(client, V2, body)
    assert response.status_code == 413
    assert response.json()["status"] == "invalid event"
    nothing_stored()


def test_body_of_exactly_512000_bytes_is_accepted(client, pd):
    _, key = pd
    body = trigger(key)
    body["payload"]["custom_details"] = {"blob": ""}
    padding = MAX_BODY_BYTES - len(json.dumps(body))
    body["payload"]["custom_details"]["blob"] = "x" * padding
    data = json.dumps(body)
    assert len(data.encode()) == MAX_BODY_BYTES
    assert post(client, V2, data).status_code == 202


def test_rate_limit_answers_429_and_stores_nothing_more(client, make_integration, clock):
    integration, key = make_integration("pagerduty", rate_limit_per_minute=2)
    assert [post(client, V2, trigger(key)).status_code for _ in range(3)] == [202, 202, 429]
    assert RawEvent.objects.count() == 2
    clock.shift(60)  # the next minute has room again
    assert post(client, V2, trigger(key)).status_code == 202


def test_legacy_v1_rate_limit_is_403(client, make_integration, nothing_stored):
    _, key = make_integration("pagerduty", rate_limit_per_minute=0)
    response = post(client, V1, {"service_key": key, "event_type": "trigger", "description": "x"})
    assert response.status_code == 403 and response.json()["status"] == "throttle event"
    nothing_stored()


def test_get_is_not_allowed(client):
    response = client.get(V2)
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_database_failure_is_a_503_the_sender_retries_not_a_500(client, pd, monkeypatch, nothing_stored):
    from django.db import OperationalError

    from incidents.intake import views

    def broken(*args, **kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(views, "accept", broken)
    _, key = pd
    response = post(client, V2, trigger(key))
    assert response.status_code == 503 and response["Retry-After"]
    nothing_stored()
