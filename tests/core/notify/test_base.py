"""The shared message and result, and Retry-After in both of its forms."""

from alertum.core.notify import Message, Result, get_transport


def test_subject_leaves_out_what_is_missing():
    assert Message(title="Disk full", severity="P2", reference="INC-9").subject == "[P2] INC-9: Disk full"
    assert Message(title="Disk full", severity="P2").subject == "[P2] Disk full"
    assert Message(title="Disk full", reference="INC-9").subject == "INC-9: Disk full"
    assert Message(title="Weekly digest").subject == "Weekly digest"


def test_result_status_names_the_outcome():
    assert Result.ok("SM1").status == "delivered"
    assert Result.failed("HTTP 500", permanent=False).status == "failed"
    assert Result.throttled_for(30, "sms").status == "throttled"


def test_retry_after_given_as_an_http_date_becomes_seconds(http_server, clock, message):
    http_server.reply(429, "rate_limited", {"Retry-After": "Mon, 02 Mar 2026 09:01:30 GMT"})  # clock: 09:00
    result = get_transport("slack").send(http_server.url + "/hook", message)

    assert not result.delivered and not result.permanent
    assert result.retry_after == 90


def test_unparseable_retry_after_is_ignored(http_server, message):
    http_server.reply(503, "down", {"Retry-After": "soon"})
    result = get_transport("teams").send(http_server.url + "/hook", message)

    assert not result.delivered and not result.permanent and result.retry_after is None


def test_connections_are_reused_but_a_receivers_cookie_is_never_sent_back(http_server, message):
    http_server.reply(200, "ok", {"Set-Cookie": "session=planted; Path=/"})
    slack = get_transport("slack")
    assert slack.send(http_server.url + "/hook", message).delivered
    assert slack.send(http_server.url + "/hook", message).delivered

    first, second = http_server.requests
    assert "cookie" not in second.headers
    assert second.headers.get("connection", "keep-alive").lower() == "keep-alive"
