"""SMS and voice through the Twilio REST API, against a local server that checks what
Twilio checks (basic auth, the account in the path, the form) and answers as Twilio
does, including its magic test numbers' errors."""

import xml.etree.ElementTree as ET

import pytest

from alertum.core.notify import Message, get_transport
from tests.core.notify.conftest import FROM, SID, TOKEN, twilio_error


def test_sms_is_sent_as_a_form_with_basic_auth(twilio, message):
    result = get_transport("sms").send("+31 6 1234 5678", message)

    assert result.delivered and result.status_code == 201
    assert result.provider_id.startswith("SM")
    request = twilio.last
    assert request.method == "POST" and request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.basic_auth() == (SID, TOKEN)
    assert request.form() == {
        "To": "+31612345678",
        "From": FROM,
        "Body": "[P1] INC-42: Checkout errors <5xx> & timeouts\n"
                "Error rate 12% on checkout since 09:00.\n"
                "Acknowledge: https://alertum.example/l/ack/abc\n"
                "Resolve: https://alertum.example/l/res/abc",
    }


def test_sms_through_a_messaging_service_sends_no_from(twilio, settings, message):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "f" * 32
    settings.TWILIO_FROM_NUMBER = ""
    assert get_transport("sms").send("+15005550010", message).delivered
    form = twilio.last.form()
    assert form["MessagingServiceSid"] == "MG" + "f" * 32 and "From" not in form


def test_long_sms_is_cut_to_1600_characters_keeping_the_links(twilio, message):
    message.text = "log line\n" * 500
    assert get_transport("sms").send("+15005550010", message).delivered
    body = twilio.last.form()["Body"]
    assert len(body) == 1600
    assert body.endswith("Acknowledge: https://alertum.example/l/ack/abc\nResolve: https://alertum.example/l/res/abc")
    assert "…\nAcknowledge:" in body


def test_voice_call_says_the_notification_twice(twilio, message):
    result = get_transport("voice").send("+15005550010", message)

    assert result.delivered and result.provider_id.startswith("CA")
    request = twilio.last
    assert request.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert request.basic_auth() == (SID, TOKEN)
    form = request.form()
    assert (form["To"], form["From"]) == ("+15005550010", FROM)
    response = ET.fromstring(form["Twiml"])
    [say] = response
    assert response.tag == "Response" and say.tag == "Say" and say.get("loop") == "2"
    assert say.text == ("This is an Alertum notification. Severity P1. Incident INC-42. "
                        "Checkout errors <5xx> & timeouts. Error rate 12% on checkout since 09:00.")


def test_voice_twiml_stays_within_twilios_limit_and_well_formed(twilio):
    message = Message(title="&" * 3000, text="<" * 3000)
    assert get_transport("voice").send("+15005550010", message).delivered
    twiml = twilio.last.form()["Twiml"]
    assert len(twiml) <= 4000
    assert ET.fromstring(twiml)[0].text.startswith("This is an Alertum notification. &&&")


@pytest.mark.parametrize(("number", "code"), [("+15005550001", 21211), ("+15005550004", 21610),
                                              ("+15005550009", 21614)])
def test_invalid_or_unsubscribed_numbers_are_permanent(twilio, message, number, code):
    result = get_transport("sms").send(number, message)

    assert not result.delivered and result.permanent and result.status_code == 400
    assert f"Twilio error {code}" in result.error
    assert f"https://www.twilio.com/docs/errors/{code}" in result.error


def test_wrong_credentials_are_permanent(twilio, settings, message):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    result = get_transport("sms").send("+15005550010", message)

    assert not result.delivered and result.permanent and result.status_code == 401
    assert "Twilio error 20003: Authenticate" in result.error


def test_unknown_account_path_is_permanent(twilio, settings, message):
    settings.TWILIO_BASE_URL = twilio.url + "/elsewhere"
    result = get_transport("voice").send("+15005550010", message)

    assert not result.delivered and result.permanent and result.status_code == 404


@pytest.mark.parametrize(("reply", "retry_after"), [
    (twilio_error(429, 20429, "Too Many Requests", retry_after="5"), 5),
    (twilio_error(400, 14107, "Message rate limit exceeded"), None),
    (twilio_error(503, 20500, "Service unavailable", retry_after="5"), 5),
])
def test_rate_limits_and_outages_are_transient(twilio, message, reply, retry_after):
    twilio.replies.append(reply)
    result = get_transport("sms").send("+15005550010", message)

    assert not result.delivered and not result.permanent
    assert result.retry_after == retry_after


def test_provider_down_is_transient(settings, closed_port, message):
    settings.TWILIO_BASE_URL = f"http://127.0.0.1:{closed_port}"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = SID, TOKEN, FROM
    result = get_transport("sms").send("+15005550010", message)

    assert not result.delivered and not result.permanent


def test_number_not_in_e164_is_permanent_and_not_sent(twilio, message):
    result = get_transport("sms").send("06-12345678", message)

    assert not result.delivered and result.permanent and "E.164" in result.error
    assert twilio.requests == []


def test_missing_configuration_is_reported_by_name(twilio, settings, message):
    settings.TWILIO_AUTH_TOKEN = ""
    result = get_transport("voice").send("+15005550010", message)

    assert not result.delivered and result.permanent
    assert result.error == "voice is not configured: set TWILIO_AUTH_TOKEN"
    assert twilio.requests == []
