"""E-mail through Django's SMTP backend to a real local SMTP server (aiosmtpd)."""

from alertum.core.notify import Message, get_transport
from tests.core.notify.conftest import SMTPRecorder


def test_email_is_delivered_with_text_and_html_parts(smtp_server, message):
    result = get_transport("email").send("alice@example.test", message)

    assert result.delivered and result.status == "delivered"
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "alertum@alertum.example"
    assert envelope.rcpt_tos == ["alice@example.test"]
    [mail] = smtp_server.messages
    assert mail["From"] == "Alertum <alertum@alertum.example>"
    assert mail["To"] == "alice@example.test"
    assert mail["Subject"] == "[P1] INC-42: Checkout errors <5xx> & timeouts"
    assert mail["Message-ID"] == result.provider_id
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Alertum-Reference"] == "INC-42"
    text = mail.get_body(("plain",)).get_content()
    assert "Error rate 12% on checkout since 09:00." in text
    assert "Service: Checkout" in text
    assert "Acknowledge: https://alertum.example/l/ack/abc" in text
    html = mail.get_body(("html",)).get_content()
    # Titles come from alerts: escaped in HTML, never markup.
    assert "<h2>[P1] INC-42: Checkout errors &lt;5xx&gt; &amp; timeouts</h2>" in html
    assert '<a href="https://alertum.example/l/res/abc">Resolve</a>' in html
    assert "<th align=\"left\">Status</th><td>triggered</td>" in html


def test_caller_html_replaces_the_generated_html(smtp_server):
    message = Message(title="Weekly digest", text="3 incidents", html="<p>3 <b>incidents</b></p>")
    assert get_transport("email").send("bob@example.test", message).delivered
    [mail] = smtp_server.messages
    assert mail["Subject"] == "Weekly digest"
    assert mail.get_body(("html",)).get_content().strip() == "<p>3 <b>incidents</b></p>"
    assert mail.get_body(("plain",)).get_content().splitlines() == ["Weekly digest", "", "3 incidents"]


def test_line_breaks_in_a_title_do_not_reach_the_subject_header(smtp_server):
    message = Message(title="Disk full\nBcc: victim@example.test")
    assert get_transport("email").send("bob@example.test", message).delivered
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["bob@example.test"]
    assert smtp_server.messages[0]["Subject"] == "Disk full Bcc: victim@example.test"


def test_recipient_refused_with_5xx_is_a_permanent_failure(smtp_factory, message):
    server = smtp_factory(SMTPRecorder(rcpt_reply="550 5.1.1 <nobody@example.test>: user unknown"))
    result = get_transport("email").send("nobody@example.test", message)

    assert not result.delivered and result.permanent
    assert result.status_code == 550
    assert "user unknown" in result.error
    assert server.envelopes == []


def test_recipient_refused_with_4xx_is_transient(smtp_factory, message):
    smtp_factory(SMTPRecorder(rcpt_reply="450 4.2.1 Mailbox busy, try again later"))
    result = get_transport("email").send("busy@example.test", message)

    assert not result.delivered and not result.permanent
    assert result.status_code == 450
    assert "Mailbox busy" in result.error


def test_unreachable_smtp_server_is_transient(settings, closed_port, message):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    result = get_transport("email").send("alice@example.test", message)

    assert not result.delivered and not result.permanent
    assert "SMTP server unreachable" in result.error


def test_malformed_address_is_permanent_and_nothing_is_sent(smtp_server, message):
    result = get_transport("email").send("not-an-address", message)

    assert not result.delivered and result.permanent
    assert "not a valid e-mail address" in result.error
    assert smtp_server.envelopes == []
