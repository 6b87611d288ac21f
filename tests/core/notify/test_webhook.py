"""Generic webhooks signed per Standard Webhooks, checked by a receiver that computes
the signature on its own (not with the code under test)."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from alertum.core.notify import Message, WebhookEndpoint, WebhookVerificationError, send, verify
from alertum.core.notify.webhook import generate_secret, sign
from tests.core.notify.conftest import Reply

SECRET = "whsec_" + base64.b64encode(b"a shared secret of 32 bytes ....").decode()


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@pytest.fixture
def receiver(http_server):
    """A receiver that answers 401 unless the request is signed with SECRET, and 204 otherwise."""

    def check(request):
        expected = independent_signature(SECRET, request.headers.get("webhook-id", ""),
                                         request.headers.get("webhook-timestamp", ""), request.body)
        if expected not in request.headers.get("webhook-signature", "").split():
            return Reply(401, "bad signature")
        return Reply(204)

    http_server.responder = check
    return http_server


def test_webhook_is_signed_and_carries_the_message(receiver, message, clock):
    result = send("webhook", WebhookEndpoint(receiver.url + "/hooks/alertum", SECRET), message)

    assert result.delivered and result.status_code == 204
    request = receiver.last
    assert (request.method, request.path) == ("POST", "/hooks/alertum")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_page-42-1-0-7" == result.provider_id
    assert request.headers["webhook-timestamp"] == str(int(time.time()))
    assert request.json() == {
        "type": "incident.triggered",
        "timestamp": "2026-03-02T09:00:00+00:00",
        "data": {
            "title": "Checkout errors <5xx> & timeouts",
            "text": "Error rate 12% on checkout since 09:00.",
            "severity": "P1",
            "reference": "INC-42",
            "urls": {"Acknowledge": "https://alertum.example/l/ack/abc",
                     "Resolve": "https://alertum.example/l/res/abc"},
            "fields": {"Service": "Checkout", "Status": "triggered"},
        },
    }


def test_a_retry_keeps_the_webhook_id_so_receivers_can_drop_duplicates(receiver, message):
    target = {"url": receiver.url + "/hooks/alertum", "secret": SECRET}  # as stored in JSON
    assert send("webhook", target, message).delivered
    assert send("webhook", target, message).delivered
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "msg_page-42-1-0-7"


def test_caller_payload_is_sent_verbatim(receiver):
    payload = {"meta": {"unsubscribe": "https://status.example/u/1"}, "page": {"id": "abc"}}
    assert send("webhook", WebhookEndpoint(receiver.url + "/status", SECRET),
                Message(title="ignored", payload=payload)).delivered
    assert receiver.last.json() == payload


def test_wrong_secret_is_refused_by_the_receiver_and_permanent(receiver, message):
    other = generate_secret()
    result = send("webhook", WebhookEndpoint(receiver.url + "/hooks/alertum", other), message)

    assert not result.delivered and result.permanent
    assert result.error == "HTTP 401: bad signature"


@pytest.mark.parametrize(("status", "permanent"), [(410, True), (400, True), (404, True), (408, False),
                                                   (429, False), (500, False), (503, False)])
def test_webhook_status_classification(http_server, message, status, permanent):
    http_server.reply(status, "nope")
    result = send("webhook", WebhookEndpoint(http_server.url + "/h", SECRET), message)

    assert not result.delivered
    assert result.permanent is permanent
    assert result.status_code == status


def test_webhook_timeout_is_transient(http_server, short_timeouts, message):
    http_server.reply(200, "", delay=2)
    result = send("webhook", WebhookEndpoint(http_server.url + "/h", SECRET), message)

    assert not result.delivered and not result.permanent and "timed out" in result.error


def test_target_without_secret_or_with_a_malformed_secret_is_permanent(http_server, message):
    missing = send("webhook", {"url": http_server.url + "/h"}, message)
    malformed = send("webhook", WebhookEndpoint(http_server.url + "/h", "whsec_not base64!"), message)

    assert not missing.delivered and missing.permanent and "needs a url and a secret" in missing.error
    assert not malformed.delivered and malformed.permanent and "base64" in malformed.error
    assert http_server.requests == []


# ---------------------------------------------------------------- verify()


def _signed(secret=SECRET, body=b'{"type":"incident.triggered"}', timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(timestamp),
               "Webhook-Signature": sign(secret, "msg_1", timestamp, body)}
    return headers, body


def test_signature_matches_the_standard_webhooks_published_example():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_accepts_a_genuine_request_and_returns_its_body():
    headers, body = _signed()
    assert verify(SECRET, headers, body) == {"type": "incident.triggered"}


def test_verify_accepts_any_of_several_signatures_during_secret_rotation():
    headers, body = _signed()
    headers["Webhook-Signature"] = "v1,bm90IHRoaXMgb25l " + headers["Webhook-Signature"]
    assert verify(SECRET, headers, body.decode()) == {"type": "incident.triggered"}


def test_verify_rejects_a_tampered_body():
    headers, body = _signed()
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers, body.replace(b"triggered", b"resolved"))


def test_verify_rejects_the_wrong_secret():
    headers, body = _signed(secret=generate_secret())
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers, body)


def test_verify_rejects_a_stale_or_future_timestamp(clock):
    headers, body = _signed()
    clock.shift(6 * 60)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, headers, body)
    assert verify(SECRET, headers, body, tolerance=7 * 60) == json.loads(body)
    future_headers, future_body = _signed(timestamp=int(time.time()) + 600)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, future_headers, future_body)


def test_verify_rejects_missing_headers():
    headers, body = _signed()
    del headers["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError, match="missing header webhook-signature"):
        verify(SECRET, headers, body)


def test_generated_secrets_have_the_standard_form():
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
