"""Slack incoming webhook against a local HTTP server answering as Slack does."""

import pytest

from alertum.core.notify import Message, get_transport


def test_slack_posts_block_kit_with_text_fallback(http_server, message):
    result = get_transport("slack").send(f"{http_server.url}/services/T000/B000/XXXX", message)

    assert result.delivered and result.status_code == 200
    request = http_server.last
    assert (request.method, request.path) == ("POST", "/services/T000/B000/XXXX")
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["text"] == "[P1] INC-42: Checkout errors <5xx> & timeouts\nError rate 12% on checkout since 09:00."
    header, text, facts, actions, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                 "text": "[P1] INC-42: Checkout errors <5xx> & timeouts"}}
    assert text == {"type": "section", "text": {"type": "mrkdwn", "text": "Error rate 12% on checkout since 09:00."}}
    assert facts == {"type": "section", "fields": [
        {"type": "mrkdwn", "text": "*Severity*\nP1"},
        {"type": "mrkdwn", "text": "*Service*\nCheckout"},
        {"type": "mrkdwn", "text": "*Status*\ntriggered"},
    ]}
    assert actions == {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
         "url": "https://alertum.example/l/ack/abc", "action_id": "link-0"},
        {"type": "button", "text": {"type": "plain_text", "text": "Resolve"},
         "url": "https://alertum.example/l/res/abc", "action_id": "link-1"},
    ]}
    assert context == {"type": "context", "elements": [{"type": "mrkdwn", "text": "INC-42 · Alertum"}]}


def test_slack_mrkdwn_escapes_angle_brackets_and_ampersands(http_server):
    message = Message(title="t", text="<!channel> a & b <https://evil.example|click>")
    assert get_transport("slack").send(http_server.url + "/hook", message).delivered
    section = http_server.last.json()["blocks"][1]
    assert section["text"]["text"] == "&lt;!channel&gt; a &amp; b &lt;https://evil.example|click&gt;"


def test_slack_block_limits_are_respected(http_server):
    message = Message(title="x" * 400, text="y" * 5000, fields={f"f{i}": "v" for i in range(15)})
    assert get_transport("slack").send(http_server.url + "/hook", message).delivered
    blocks = http_server.last.json()["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000
    assert len(blocks[2]["fields"]) == 10


@pytest.mark.parametrize(("status", "body"), [
    (400, "invalid_payload"),
    (403, "invalid_token"),
    (404, "no_service"),
    (404, "channel_not_found"),
    (410, "channel_is_archived"),
])
def test_slack_refusals_are_permanent(http_server, message, status, body):
    http_server.reply(status, body)
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and result.permanent
    assert result.status_code == status
    assert result.error == f"HTTP {status}: {body}"


def test_slack_rate_limit_is_transient_with_retry_after(http_server, message):
    http_server.reply(429, "rate_limited", {"Retry-After": "30"})
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and not result.permanent
    assert result.retry_after == 30


def test_slack_server_error_is_transient(http_server, message):
    http_server.reply(500, "rollup_error")
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and not result.permanent
    assert result.error == "HTTP 500: rollup_error"


def test_slack_that_does_not_answer_in_time_is_transient(http_server, short_timeouts, message):
    http_server.reply(200, "ok", delay=2)
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and not result.permanent
    assert "timed out" in result.error


def test_slack_unreachable_is_transient(closed_port, message):
    result = get_transport("slack").send(f"http://127.0.0.1:{closed_port}/hook", message)

    assert not result.delivered and not result.permanent
    assert "could not connect" in result.error


def test_redirect_is_not_followed_and_is_permanent(http_server, message):
    http_server.reply(301, "", {"Location": "https://elsewhere.example/hook"})
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and result.permanent
    assert "elsewhere.example" in result.error
    assert len(http_server.requests) == 1


def test_malformed_url_is_permanent(message):
    result = get_transport("slack").send("hooks.slack.com/services/nothing", message)

    assert not result.delivered and result.permanent
    assert "invalid URL" in result.error
