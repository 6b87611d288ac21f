"""Subscribers: e-mail with double opt-in to a real local SMTP server, one-click
unsubscribe, per-component choice; signed Statuspage-shaped webhooks to a real local
receiver; durable delivery — rows first, each notice once, retried, failures visible."""

import datetime as dt
import re

import pytest

from alertum.core.models import Door
from alertum.core.notify import verify
from statuspages import actions
from statuspages.models import Notice, Subscriber
from tests.statuspages import shapes

ROOT = "/status/acme/"


def _link(message, label):
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"{label}: (\S+)", text).group(1)


def _path(url):
    return url.removeprefix("http://status.test")


def test_double_opt_in_then_updates_then_one_click_unsubscribe(client, page, components, cast, smtp_server,
                                                               commit):
    response = client.post(ROOT + "subscribe", {"email": "Customer@Example.com"})
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "customer@example.com" and not subscriber.is_active
    # Nothing but the confirmation goes to an unconfirmed address.
    actions.create_public_incident(page, name="Before confirming", body="x", actor=cast["alice"], source=Door.WEB)
    assert actions.deliver_due() == 1
    [confirm] = smtp_server.messages
    assert confirm["To"] == "customer@example.com" and "Confirm your subscription" in confirm["Subject"]
    assert client.get(_path(_link(confirm, "Confirm subscription"))).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.is_active

    incident = actions.create_public_incident(
        page, name="Checkout errors", body="We are investigating failed payments.",
        component_statuses={components["checkout"].code: "major_outage"}, actor=cast["alice"], source=Door.WEB)
    assert actions.deliver_due() == 1
    notice = smtp_server.messages[-1]
    assert notice["Subject"] == "[Acme] Checkout errors"
    body = notice.get_body(("plain",)).get_content()
    assert "Investigating — We are investigating failed payments." in body
    assert "Affected: Checkout (major outage)" in body

    # Unsubscribe: GET shows one button (a link scanner changes nothing), POST does it.
    unsubscribe = _path(_link(notice, "Unsubscribe"))
    assert b"<button" in client.get(unsubscribe).content
    subscriber.refresh_from_db()
    assert subscriber.is_active
    assert client.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 200
    subscriber.refresh_from_db()
    assert not subscriber.is_active
    actions.post_incident_update(incident, status="resolved", body="Fixed.", actor=cast["alice"], source=Door.WEB)
    assert actions.deliver_due() == 0
    assert len(smtp_server.messages) == 2


def test_subscribing_again_does_not_tell_who_is_subscribed(client, page, smtp_server):
    actions.subscribe_email(page, "a@example.com")
    first = client.post(ROOT + "subscribe", {"email": "a@example.com"})
    Subscriber.objects.update(confirmed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    second = client.post(ROOT + "subscribe", {"email": "a@example.com"})
    assert first.content == second.content
    assert client.post(ROOT + "subscribe", {"email": "not an address"}).status_code == 422


def test_bad_confirmation_link_is_a_clear_404(client, page):
    response = client.get(ROOT + "subscribers/confirm/forged-token")
    assert response.status_code == 404 and b"not valid" in response.content


def test_per_component_choice(page, components, cast, smtp_server):
    api_only = actions.add_subscriber(page, kind="email", email="api@example.com", components=[components["api"]],
                                      actor=cast["alice"], source=Door.WEB)
    everything = actions.add_subscriber(page, kind="email", email="all@example.com", actor=cast["alice"],
                                        source=Door.WEB)
    actions.create_public_incident(page, name="Checkout down", body="x", actor=cast["alice"], source=Door.WEB,
                                   component_statuses={components["checkout"].code: "major_outage"})
    actions.create_public_incident(page, name="API slow", body="y", actor=cast["alice"], source=Door.WEB,
                                   component_statuses={components["api"].code: "degraded_performance"})
    actions.deliver_due()
    received = sorted((m["To"], m["Subject"]) for m in smtp_server.messages)
    assert received == [("all@example.com", "[Acme] API slow"), ("all@example.com", "[Acme] Checkout down"),
                        ("api@example.com", "[Acme] API slow")]
    assert api_only.is_active and everything.is_active


def test_signed_webhook_in_the_statuspage_shape(page, components, cast, http_server):
    subscriber = actions.add_subscriber(page, kind="webhook", url=http_server.url + "/hook", actor=cast["alice"],
                                        source=Door.WEB)
    incident = actions.create_public_incident(
        page, name="API errors", body="Investigating.", actor=cast["alice"], source=Door.WEB,
        component_statuses={components["api"].code: "partial_outage"})
    actions.deliver_due()
    incident_hooks = [r for r in http_server.requests if "incident" in r.json()]
    assert len(incident_hooks) == 1
    request = incident_hooks[0]
    payload = verify(subscriber.secret, request.headers, request.body)  # raises unless correctly signed
    shapes.keys(payload, ["meta", "page", "incident"], "webhook")
    shapes.keys(payload["meta"], ["unsubscribe", "documentation"], "meta")
    shapes.keys(payload["page"], ["id", "status_indicator", "status_description"], "page")
    assert payload["page"]["id"] == page.code
    shapes.incident(payload["incident"])
    assert payload["incident"]["id"] == incident.code
    # The component status change is its own webhook (Statuspage sends both).
    [component_hook] = [r.json() for r in http_server.requests if "component_update" in r.json()]
    shapes.keys(component_hook, ["meta", "page", "component_update", "component"], "component webhook")
    assert component_hook["component_update"]["old_status"] == "operational"
    assert component_hook["component_update"]["new_status"] == "partial_outage"
    assert component_hook["component"]["id"] == components["api"].code


def test_each_notice_once_even_when_the_tick_and_the_task_race(page, cast, http_server):
    actions.add_subscriber(page, kind="webhook", url=http_server.url, actor=cast["alice"], source=Door.WEB)
    actions.create_public_incident(page, name="Once", body="x", actor=cast["alice"], source=Door.WEB)
    notice = Notice.objects.get(event="incident.investigating")
    assert actions.deliver(notice.pk).state == "delivered"
    assert actions.deliver(notice.pk) is None
    assert actions.deliver_due() == 0
    assert len(http_server.requests) == 1


def test_transient_failures_are_retried_and_permanent_ones_shown(page, cast, http_server, clock):
    actions.add_subscriber(page, kind="webhook", url=http_server.url, actor=cast["alice"], source=Door.WEB)
    http_server.reply(503, "busy")
    actions.create_public_incident(page, name="Retry me", body="x", actor=cast["alice"], source=Door.WEB)
    actions.deliver_due()
    notice = Notice.objects.get()
    assert notice.state == "pending" and "HTTP 503" in notice.last_error and notice.attempts == 1
    assert actions.deliver_due() == 0  # not before the back-off
    clock.shift(11)
    assert actions.deliver_due() == 1
    notice.refresh_from_db()
    assert notice.state == "delivered" and notice.last_error == ""
    ids = [r.headers["webhook-id"] for r in http_server.requests]
    assert ids[0] == ids[1]  # the same webhook-id, so the receiver can drop a repeat

    http_server.reply(410, "gone")
    actions.create_public_incident(page, name="Gone", body="x", actor=cast["alice"], source=Door.WEB)
    actions.deliver_due()
    failed = Notice.objects.get(state="failed")
    assert "HTTP 410" in failed.last_error
    with pytest.raises(Exception, match="only failed"):
        actions.retry_notice(notice, actor=cast["alice"], source=Door.WEB)
    actions.retry_notice(failed, actor=cast["alice"], source=Door.WEB)
    assert actions.deliver_due() == 1
    failed.refresh_from_db()
    assert failed.state == "delivered"


def test_no_notifications_when_the_update_says_so(page, cast, smtp_server):
    actions.add_subscriber(page, kind="email", email="a@example.com", actor=cast["alice"], source=Door.WEB)
    actions.create_public_incident(page, name="Quiet", body="x", deliver_notifications=False,
                                   actor=cast["alice"], source=Door.WEB)
    assert actions.deliver_due() == 0 and smtp_server.messages == []


def test_webhook_subscribers_are_added_by_staff_only(page, cast):
    with pytest.raises(Exception, match="responder"):
        actions.add_subscriber(page, kind="webhook", url="http://127.0.0.1:9/x", actor=cast["oscar"],
                               source=Door.WEB)
    with pytest.raises(Exception, match="http"):
        actions.add_subscriber(page, kind="webhook", url="ftp://x", actor=cast["alice"], source=Door.WEB)


def test_one_address_cannot_subscribe_the_world(client, page):
    for i in range(10):
        assert client.post(ROOT + "subscribe", {"email": f"a{i}@example.com"}).status_code == 200
    response = client.post(ROOT + "subscribe", {"email": "one-too-many@example.com"})
    assert response.status_code == 429
    assert not Subscriber.objects.filter(email="one-too-many@example.com").exists()
