"""Pages through every transport against real local servers (SMTP by aiosmtpd, a
Twilio-compatible API, Slack/Teams/webhook receivers), and what happens on failure:
transient failures are retried with backoff, permanent ones are not, and each outcome is
on the incident's timeline."""

import datetime as dt

import pytest
from django.utils import timezone

from alertum.core.notify import verify
from oncall.engine import send_due_pages, start_escalation
from oncall.models import ContactMethod, NotificationRule, Page
from tests.core.notify import conftest as servers
from tests.oncall import escalation_factories as factories
from tests.oncall.escalation_factories import run_engine

pytestmark = pytest.mark.django_db
receiver, contact, make_policy, _no_kicks = factories.receiver, factories.contact, factories.make_policy, \
    factories._no_kicks
http_server, twilio, smtp_factory, smtp_server = (servers.http_server, servers.twilio, servers.smtp_factory,
                                                   servers.smtp_server)


@pytest.fixture
def page_alice(clock, cast, services, make_policy, make_incident):
    """Give alice the contact methods the test names, page her, run the engine once."""

    def go(*methods):
        for delay, (kind, address) in enumerate(methods):
            method = ContactMethod.objects.create(user=cast["alice"], kind=kind, address=address,
                                                  secret=servers_secret() if kind == "webhook" else "")
            NotificationRule.objects.create(user=cast["alice"], contact_method=method, delay_minutes=delay)
        make_policy([(0, [cast["alice"]])], service=services["checkout"])
        incident = make_incident(severity="P1", severity_reason="test")
        start_escalation(incident.pk)
        run_engine()
        return incident

    return go


def servers_secret():
    from alertum.core.notify.webhook import generate_secret

    return generate_secret()


def _summaries(incident):
    return [e.data["summary"] for e in incident.timeline.filter(kind="notification").order_by("seq")]


def test_email_page_over_smtp_with_acknowledge_link(page_alice, smtp_server):
    incident = page_alice(("email", "alice@example.test"))
    [mail] = smtp_server.messages
    assert mail["To"] == "alice@example.test"
    assert mail["Subject"] == f"[P1] {incident.reference}: Checkout errors"
    text = mail.get_body(("plain",)).get_content()
    assert "https://alertum.example/oncall/l/" in text and "You are paged: level 1." in text
    assert _summaries(incident) == ["Paged Alice by E-mail (level 1): sent."]


def test_sms_and_voice_through_the_twilio_api(clock, page_alice, twilio):
    incident = page_alice(("sms", "+31612345678"), ("voice", "+31612345678"))
    clock.shift(60)
    run_engine()
    sms, call = twilio.requests
    assert sms.path.endswith("/Messages.json") and sms.form()["To"] == "+31612345678"
    assert f"[P1] {incident.reference}: Checkout errors" in sms.form()["Body"]
    assert call.path.endswith("/Calls.json") and f"Incident {incident.reference}" in call.form()["Twiml"]
    assert _summaries(incident) == ["Paged Alice by SMS (level 1): sent.", "Paged Alice by Voice call (level 1): sent."]
    assert list(Page.objects.values_list("provider_id", flat=True)) != ["", ""]


def test_webhook_page_is_signed_with_the_contact_secret(page_alice, http_server):
    incident = page_alice(("webhook", http_server.url + "/mine"))
    request = http_server.last
    secret = ContactMethod.objects.get(kind="webhook").secret
    body = verify(secret, request.headers, request.body)
    assert body["type"] == "incident.triggered" and body["data"]["reference"] == incident.reference
    assert request.headers["webhook-id"] == f"msg_{Page.objects.get().key}"


def test_teams_page(page_alice, http_server):
    page_alice(("teams", http_server.url + "/workflows/x"))
    card = http_server.last.json()["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert [a["title"] for a in card["actions"]] == ["Acknowledge", "Resolve", "Open incident"]


def test_transient_failure_is_retried_with_backoff_then_sent(clock, page_alice, http_server):
    http_server.reply(503, "busy", headers={"Retry-After": "20"})
    incident = page_alice(("slack", http_server.url + "/hook"))
    page = Page.objects.get()
    assert (page.state, page.attempts) == (Page.State.PENDING, 1)
    assert page.next_attempt_at == timezone.now() + dt.timedelta(seconds=20)
    clock.shift(19)
    send_due_pages()
    assert len(http_server.requests) == 1  # not before Retry-After
    clock.shift(1)
    send_due_pages()
    page.refresh_from_db()
    assert (page.state, page.attempts, len(http_server.requests)) == (Page.State.SENT, 2, 2)
    first, second = _summaries(incident)
    assert first.startswith("Paged Alice by Slack (incoming webhook) (level 1) failed, will retry in 0 min: HTTP 503")
    assert second == "Paged Alice by Slack (incoming webhook) (level 1): sent."


def test_permanent_failure_is_not_retried(clock, page_alice, http_server):
    http_server.reply(404, "no_service")
    incident = page_alice(("slack", http_server.url + "/gone"))
    clock.shift(3600)
    send_due_pages()
    page = Page.objects.get()
    assert (page.state, page.attempts, len(http_server.requests)) == (Page.State.FAILED, 1, 1)
    assert _summaries(incident) == ["Paged Alice by Slack (incoming webhook) (level 1) failed: HTTP 404: no_service"]


def test_gives_up_after_the_last_attempt(clock, page_alice, closed_port, settings):
    settings.ONCALL_PAGE_MAX_ATTEMPTS = 3
    incident = page_alice(("slack", f"http://127.0.0.1:{closed_port}/hook"))
    for _ in range(5):
        clock.shift(3600)
        send_due_pages()
    page = Page.objects.get()
    assert (page.state, page.attempts) == (Page.State.FAILED, 3)
    assert _summaries(incident)[-1].startswith("Paged Alice by Slack (incoming webhook) (level 1) failed: could not "
                                               "connect")


closed_port = servers.closed_port
