"""E-mail over SMTP through Django's e-mail backend: a text part and an HTML part.

Permanent: the server refuses the recipient, the sender or the data with a 5xx reply,
or the address is malformed. Transient: connection errors, timeouts, 4xx replies
(greylisting, full mailbox) and authentication failures (configuration, fixed by an
operator, so worth a later retry).
"""

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.utils.html import format_html, format_html_join

from alertum.core.notify.base import Message, Result, Transport


def text_body(message: Message) -> str:
    lines = [message.subject, ""]
    if message.text:
        lines += [message.text, ""]
    lines += [f"{name}: {value}" for name, value in message.fields.items()]
    if message.fields:
        lines.append("")
    lines += [f"{label}: {url}" for label, url in message.urls.items()]
    return "\n".join(lines).rstrip() + "\n"


def html_body(message: Message) -> str:
    if message.html:
        return message.html
    # format_html escapes every value: titles and texts come from users and alerts.
    facts = format_html_join("", "<tr><th align=\"left\">{}</th><td>{}</td></tr>", message.fields.items())
    links = format_html_join(" ", "<a href=\"{}\">{}</a>", ((url, label) for label, url in message.urls.items()))
    return format_html(
        "<!doctype html><html><body><h2>{}</h2><p style=\"white-space:pre-wrap\">{}</p>"
        "<table>{}</table><p>{}</p></body></html>",
        message.subject, message.text, facts, links,
    )


def _one_line(value: str) -> str:
    # Header values must not carry line breaks (Django refuses them as header injection).
    return " ".join(value.split())


def _failure(code: int | None, text: str) -> Result:
    permanent = code is not None and 500 <= code < 600
    return Result.failed(f"SMTP {code}: {text}" if code else text, permanent=permanent, status_code=code)


def _decode(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


class EmailTransport(Transport):
    kind = "email"

    def send(self, target: str, message: Message) -> Result:
        address = (target or "").strip()
        try:
            validate_email(address)
        except ValidationError:
            return Result.failed(f"{address!r} is not a valid e-mail address", permanent=True)

        domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
        # Our own Message-ID (not the backend's) so the result can name it.
        message_id = make_msgid(domain=domain)
        headers = {"Message-ID": message_id, "Auto-Submitted": "auto-generated"}
        if message.reference:
            headers["X-Alertum-Reference"] = _one_line(message.reference)
        mail = EmailMultiAlternatives(
            subject=_one_line(message.subject),
            body=text_body(message),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers=headers,
        )
        mail.attach_alternative(html_body(message), "text/html")
        try:
            connection = get_connection(fail_silently=False, timeout=settings.NOTIFY_EMAIL_TIMEOUT)
            connection.send_messages([mail])
        except smtplib.SMTPRecipientsRefused as exc:
            # One recipient per send, so this is that recipient's (code, reply).
            code, reply = next(iter(exc.recipients.values()))
            return _failure(code, f"recipient {address} refused: {_decode(reply)}")
        except smtplib.SMTPAuthenticationError as exc:
            return Result.failed(f"SMTP authentication failed ({exc.smtp_code}): {_decode(exc.smtp_error)}",
                                 permanent=False, status_code=exc.smtp_code)
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            return _failure(exc.smtp_code, _decode(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, dropped connection
            return Result.failed(f"SMTP server unreachable: {exc or type(exc).__name__}", permanent=False)
        return Result.ok(provider_id=message_id)
