"""Microsoft Teams webhook / Workflows against a local HTTP server."""

import pytest

from alertum.core.notify import get_transport


def test_teams_posts_one_adaptive_card(http_server, message):
    http_server.reply(202, "")  # Workflows accept with 202 and an empty body
    result = get_transport("teams").send(f"{http_server.url}/workflows/abc/triggers/manual/paths/invoke?sig=x",
                                         message)

    assert result.delivered and result.status_code == 202
    request = http_server.last
    assert (request.method, request.path) == ("POST", "/workflows/abc/triggers/manual/paths/invoke?sig=x")
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title, text, facts = card["body"]
    assert title["type"] == "TextBlock" and title["weight"] == "Bolder" and title["color"] == "Attention"
    assert title["text"] == "[P1] INC-42: Checkout errors <5xx> & timeouts"
    assert text == {"type": "TextBlock", "text": "Error rate 12% on checkout since 09:00.", "wrap": True}
    assert facts == {"type": "FactSet", "facts": [
        {"title": "Incident", "value": "INC-42"}, {"title": "Severity", "value": "P1"},
        {"title": "Service", "value": "Checkout"}, {"title": "Status", "value": "triggered"},
    ]}
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": "https://alertum.example/l/ack/abc"},
        {"type": "Action.OpenUrl", "title": "Resolve", "url": "https://alertum.example/l/res/abc"},
    ]


def test_teams_connector_answering_200_one_is_delivered(http_server, message):
    http_server.reply(200, "1")
    assert get_transport("teams").send(http_server.url + "/webhookb2/x", message).delivered


@pytest.mark.parametrize("status", [400, 404])
def test_teams_refusals_are_permanent(http_server, message, status):
    http_server.reply(status, "Bad payload received by generic incoming webhook.")
    result = get_transport("teams").send(http_server.url + "/webhookb2/x", message)

    assert not result.delivered and result.permanent and result.status_code == status


@pytest.mark.parametrize("status", [429, 502, 503])
def test_teams_throttling_and_server_errors_are_transient(http_server, message, status):
    http_server.reply(status, "busy", {"Retry-After": "12"})
    result = get_transport("teams").send(http_server.url + "/webhookb2/x", message)

    assert not result.delivered and not result.permanent
    assert result.retry_after == 12


def test_teams_connector_throttle_hidden_in_a_200_is_transient(http_server, message):
    http_server.reply(200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
                           "HTTP error 429 with ContextId tcid=0,server=msgapi,cv=abc.")
    result = get_transport("teams").send(http_server.url + "/webhookb2/x", message)

    assert not result.delivered and not result.permanent
    assert "HTTP error 429" in result.error


def test_teams_timeout_is_transient(http_server, short_timeouts, message):
    http_server.reply(202, "", delay=2)
    result = get_transport("teams").send(http_server.url + "/webhookb2/x", message)

    assert not result.delivered and not result.permanent
