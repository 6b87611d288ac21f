"""The Alertmanager, Grafana and generic webhook doors: keys in the URL or a header,
Grafana's HMAC signature, the documented errors, and nothing stored when refused."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from incidents.intake.accept import MAX_BODY_BYTES
from incidents.models import RawEvent

from .conftest import sample
from .test_formats import grafana_payload

pytestmark = pytest.mark.django_db


def post(client, url, body, method="post", **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(client, method)(url, data=data, content_type="application/json", headers=headers)


# --- Alertmanager ----------------------------------------------------------------------------

@pytest.fixture
def am(make_integration):
    return make_integration("alertmanager")


def test_alertmanager_group_is_accepted_with_200_and_stored_raw(client, am):
    integration, key = am
    response = post(client, f"/integrations/alertmanager/{key}/", sample("alertmanager-firing.json"),
                    **{"User-Agent": "Alertmanager/0.25.0"})
    assert response.status_code == 200 and response.json() == {"status": "success", "alerts": 2}
    raw = RawEvent.objects.get()
    assert (raw.integration, raw.endpoint) == (integration, "alertmanager")
    assert json.loads(raw.body) == sample("alertmanager-firing.json")
    assert raw.headers["User-Agent"] == "Alertmanager/0.25.0"


@pytest.mark.parametrize("where", ["path-no-slash", "token", "bearer", "basic"])
def test_alertmanager_key_in_the_url_query_or_authorization_header(client, am, where):
    integration, key = am
    url, headers = "/integrations/alertmanager/", {}
    if where == "path-no-slash":
        url = f"/integrations/alertmanager/{key}"
    elif where == "token":
        url += f"?token={key}"
    elif where == "bearer":
        headers["Authorization"] = f"Bearer {key}"
    else:
        headers["Authorization"] = "Basic " + base64.b64encode(f"alertmanager:{key}".encode()).decode()
    assert post(client, url, sample("alertmanager-resolved.json"), **headers).status_code == 200
    assert "Authorization" not in RawEvent.objects.get().headers  # credentials are never kept


def test_alertmanager_without_a_key_is_401(client, am, nothing_stored):
    response = post(client, "/integrations/alertmanager/", sample("alertmanager-firing.json"))
    assert response.status_code == 401 and "Missing integration key" in response.json()["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    nothing_stored()


def test_alertmanager_unknown_key_is_404_in_the_path_and_401_in_a_header(client, am, nothing_stored):
    assert post(client, f"/integrations/alertmanager/{'0' * 32}/", sample("alertmanager-firing.json")
                ).status_code == 404
    assert post(client, "/integrations/alertmanager/", sample("alertmanager-firing.json"),
                Authorization=f"Bearer {'0' * 32}").status_code == 401
    nothing_stored()


def test_pagerduty_key_on_the_alertmanager_door_is_not_found(client, make_integration, nothing_stored):
    _, pd_key = make_integration("pagerduty")
    response = post(client, f"/integrations/alertmanager/{pd_key}/", sample("alertmanager-firing.json"))
    assert response.status_code == 404
    assert response.json()["message"] == "No active alertmanager integration has this key"
    nothing_stored()


def test_inactive_alertmanager_integration_is_refused(client, make_integration, nothing_stored):
    _, key = make_integration("alertmanager", active=False)
    assert post(client, f"/integrations/alertmanager/{key}/", sample("alertmanager-firing.json")).status_code == 404
    nothing_stored()


@pytest.mark.parametrize(("body", "error"), [
    ("{\"alerts\": [", "malformed JSON"),
    ([], "the body must be a JSON object"),
    ({"version": "4", "status": "firing"}, "'alerts' is missing"),
    ({"alerts": {"labels": {}}}, "'alerts' must be an array"),
    ({"alerts": ["firing"]}, "alerts[0] must be an object"),
    ({"alerts": [{"labels": ["alertname", "X"]}]}, "alerts[0].labels must be an object of strings"),
    ({"alerts": [{"labels": {"alertname": {"nested": 1}}}]}, "alerts[0].labels.alertname must be a string"),
    ({"alerts": [{"status": "pending"}]}, "alerts[0].status must be 'firing' or 'resolved'"),
    ({"alerts": [{"startsAt": "soon"}]}, "alerts[0].startsAt is invalid"),
    ({"alerts": [{"fingerprint": 12}]}, "alerts[0].fingerprint must be a string"),
])
def test_malformed_alertmanager_payload_is_400_with_a_clear_message(client, am, nothing_stored, body, error):
    _, key = am
    response = post(client, f"/integrations/alertmanager/{key}/", body)
    assert response.status_code == 400
    assert response.json()["message"] == "The body is not a valid alertmanager webhook payload"
    assert any(message.startswith(error) for message in response.json()["errors"]), response.json()
    nothing_stored()


def test_alertmanager_body_over_the_limit_is_413(client, am, nothing_stored):
    _, key = am
    body = sample("alertmanager-firing.json")
    body["alerts"][0]["annotations"]["description"] = "x" * MAX_BODY_BYTES
    assert post(client, f"/integrations/alertmanager/{key}/", body).status_code == 413
    nothing_stored()


def test_alertmanager_rate_limit_is_429(client, make_integration, nothing_stored):
    _, key = make_integration("alertmanager", rate_limit_per_minute=0)
    response = post(client, f"/integrations/alertmanager/{key}/", sample("alertmanager-firing.json"))
    assert response.status_code == 429 and response["Retry-After"]
    nothing_stored()


def test_alertmanager_door_takes_only_post(client, am):
    _, key = am
    assert client.get(f"/integrations/alertmanager/{key}/").status_code == 405


# --- Grafana ---------------------------------------------------------------------------------

@pytest.fixture
def grafana(make_integration):
    return make_integration("grafana")


@pytest.fixture
def signed_grafana(make_integration):
    return make_integration("grafana", verify_grafana_signature=True)


def sign(integration, body: bytes, timestamp: str | None = None) -> str:
    message = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(integration.hmac_secret().encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("method", ["post", "put"])
def test_grafana_webhook_by_post_or_put_is_accepted(client, grafana, method):
    integration, key = grafana
    response = post(client, f"/integrations/grafana/{key}/", grafana_payload(), method=method)
    assert response.status_code == 200 and response.json()["alerts"] == 2
    assert RawEvent.objects.get().endpoint == "grafana"


def test_grafana_with_a_valid_signature_is_accepted(client, signed_grafana):
    integration, key = signed_grafana
    body = json.dumps(grafana_payload()).encode()
    response = post(client, f"/integrations/grafana/{key}/", body,
                    **{"X-Grafana-Alerting-Signature": sign(integration, body)})
    assert response.status_code == 200
    assert RawEvent.objects.count() == 1


def test_grafana_with_a_valid_timestamped_signature_is_accepted(client, signed_grafana):
    integration, key = signed_grafana
    body = json.dumps(grafana_payload()).encode()
    now = str(int(time.time()))
    response = post(client, f"/integrations/grafana/{key}/", body, **{
        "X-Grafana-Alerting-Signature": sign(integration, body, now), "X-Grafana-Alerting-Timestamp": now})
    assert response.status_code == 200
    assert RawEvent.objects.get().headers["X-Grafana-Alerting-Timestamp"] == now


@pytest.mark.parametrize("case", ["missing", "wrong-secret", "other-body", "timestamp-not-signed", "stale"])
def test_grafana_with_a_missing_or_wrong_signature_is_401(client, signed_grafana, nothing_stored, case):
    integration, key = signed_grafana
    body = json.dumps(grafana_payload()).encode()
    now = str(int(time.time()))
    headers = {"X-Grafana-Alerting-Signature": sign(integration, body)}
    if case == "missing":
        headers = {}
    elif case == "wrong-secret":
        headers["X-Grafana-Alerting-Signature"] = hmac.new(b"guess", body, hashlib.sha256).hexdigest()
    elif case == "other-body":
        headers["X-Grafana-Alerting-Signature"] = sign(integration, body + b" ")
    elif case == "timestamp-not-signed":
        headers["X-Grafana-Alerting-Timestamp"] = now  # signed without it: the signature must cover it
    else:
        stale = str(int(time.time()) - 3600)
        headers = {"X-Grafana-Alerting-Signature": sign(integration, body, stale),
                   "X-Grafana-Alerting-Timestamp": stale}
    response = post(client, f"/integrations/grafana/{key}/", body, **headers)
    assert response.status_code == 401
    assert "X-Grafana-Alerting" in response.json()["message"]
    nothing_stored()


def test_alertmanager_key_on_the_grafana_door_is_not_found(client, am, nothing_stored):
    _, key = am
    assert post(client, f"/integrations/grafana/{key}/", grafana_payload()).status_code == 404
    nothing_stored()


# --- generic webhook -------------------------------------------------------------------------

@pytest.fixture
def webhook(make_integration):
    return make_integration("generic")


def test_generic_event_is_accepted_with_its_dedup_key(client, webhook):
    integration, key = webhook
    response = post(client, f"/integrations/webhook/{key}/", {"title": "Backup failed", "dedup_key": "backup-db1"})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "dedup_key": "backup-db1"}
    assert RawEvent.objects.get().endpoint == "generic"


def test_generic_event_without_dedup_key_gets_a_new_one_each_time(client, webhook):
    _, key = webhook
    keys = [post(client, f"/integrations/webhook/{key}", {"title": "Backup failed"}).json()["dedup_key"]
            for _ in range(2)]
    assert keys[0] != keys[1]
    assert sorted(RawEvent.objects.values_list("assigned_dedup_key", flat=True)) == sorted(keys)


def test_generic_key_may_come_as_bearer(client, webhook):
    _, key = webhook
    response = post(client, "/integrations/webhook/", {"title": "x"}, Authorization=f"Bearer {key}")
    assert response.status_code == 202


def test_generic_event_errors_name_each_bad_field(client, webhook, nothing_stored):
    _, key = webhook
    response = post(client, f"/integrations/webhook/{key}/", {
        "severity": "apocalyptic", "status": "resolved", "details": "text", "labels": {"team": 1},
        "links": [{"text": "no href"}], "source": 7})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "title: required, a non-empty string",
        "severity: must be one of critical, error, warning, info",
        "dedup_key: required when status is resolved (the key of the alert to resolve)",
        "source: must be a string",
        "labels: must be an object of strings",
        "details: must be an object",
        "links[0].href: required, a non-empty string",
    ]
    nothing_stored()


@pytest.mark.parametrize("body", ["not json", "[]"])
def test_generic_malformed_body_is_400(client, webhook, nothing_stored, body):
    _, key = webhook
    response = post(client, f"/integrations/webhook/{key}/", body)
    assert response.status_code == 400 and response.json()["errors"]
    nothing_stored()


def test_generic_wrong_key_is_404_and_oversize_is_413(client, webhook, nothing_stored):
    _, key = webhook
    assert post(client, f"/integrations/webhook/{'0' * 32}/", {"title": "x"}).status_code == 404
    assert post(client, f"/integrations/webhook/{key}/", {"title": "x" * (MAX_BODY_BYTES + 1)}).status_code == 413
    nothing_stored()
