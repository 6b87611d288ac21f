"""SMS and voice calls through a Twilio-compatible REST API.

    SMS:   POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
           form: To, From (or MessagingServiceSid), Body
    Voice: POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json
           form: To, From, Twiml (<Response><Say>...</Say></Response>)
Both with HTTP basic auth AccountSid:AuthToken. The base URL is a setting, so another
provider speaking this API (or a local test server) works unchanged.

Errors come as JSON {code, message, more_info, status}. Permanent: 401/403/404 and 400
(the number is invalid, not a mobile, unsubscribed with STOP, unreachable, blocked...:
the same request gets the same answer), except the few 400 codes that only say "too
many right now". Transient: those, 429 and 5xx.
"""

import abc
import re
from urllib.parse import quote
from xml.sax.saxutils import escape

from django.conf import settings

from alertum.core.notify.base import Message, Result, Transport, body_excerpt, parse_retry_after, post

SMS_CHARS = 1600  # Twilio's limit for one message body (it splits it into segments)
TWIML_CHARS = 4000  # Twilio's limit for the Twiml parameter
SPEECH_TEXT_CHARS = 600  # a call reads the title and the start of the text, not a whole log

E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# 400 answers that mean "not now" rather than "never": rate and queue limits.
TRANSIENT_ERROR_CODES = {
    14107,  # SMS send rate limit exceeded
    20429,  # too many requests
    21611,  # the From number has too many queued messages
}
# Named in docs and error texts; any other 400 is permanent as well.
PERMANENT_ERROR_CODES = {
    21211: "invalid To number",
    21214: "To number cannot be reached",
    21217: "number does not appear to be valid",
    21408: "region not enabled for this account",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "cannot route to this number",
    21614: "To number is not a mobile number",
    21606: "From number cannot send to this number",
}


def sms_body(message: Message) -> str:
    """Subject, text, then the links — the text is cut so the acknowledge link survives."""
    head = message.subject
    links = "\n".join(f"{label}: {url}" for label, url in message.urls.items())
    budget = SMS_CHARS - len(head) - len(links) - 2  # two line breaks around the text
    text = message.text
    if len(text) > budget:
        text = text[: max(budget - 1, 0)] + "…" if budget > 1 else ""
    body = "\n".join(part for part in (head, text, links) if part)
    return body[:SMS_CHARS]


def speech(message: Message) -> str:
    parts = ["This is an Alertum notification."]
    if message.severity:
        parts.append(f"Severity {message.severity}.")
    if message.reference:
        parts.append(f"Incident {message.reference}.")
    parts.append(message.title.rstrip(".") + ".")
    if message.text:
        text = message.text
        parts.append(text if len(text) <= SPEECH_TEXT_CHARS else text[:SPEECH_TEXT_CHARS] + "...")
    return " ".join(parts)


def twiml(message: Message) -> str:
    # Said twice: the first words are often lost while the callee raises the phone.
    template = '<?xml version="1.0" encoding="UTF-8"?><Response><Say loop="2">{}</Say></Response>'
    room = TWIML_CHARS - len(template) + 2
    # Escape character by character and stop when full, so an entity such as &amp; is
    # never cut in half.
    pieces, used = [], 0
    for char in speech(message):
        piece = escape(char)
        if used + len(piece) > room:
            break
        pieces.append(piece)
        used += len(piece)
    return template.format("".join(pieces))


def _result(response) -> Result:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    status = response.status_code
    if 200 <= status < 300:
        return Result.ok(provider_id=str(data.get("sid", "")), status_code=status)
    code = data.get("code")
    text = data.get("message") or body_excerpt(response)
    error = f"HTTP {status}" + (f", Twilio error {code}" if code else "") + f": {text}"
    if code in PERMANENT_ERROR_CODES:
        error += f" ({PERMANENT_ERROR_CODES[code]})"
    if data.get("more_info"):
        error += f" — {data['more_info']}"
    if status in (408, 429) or status >= 500 or code in TRANSIENT_ERROR_CODES:
        return Result.failed(error, permanent=False, status_code=status,
                             retry_after=parse_retry_after(response.headers.get("Retry-After")))
    return Result.failed(error, permanent=True, status_code=status)


class _TwilioTransport(Transport):
    resource = ""  # "Messages" or "Calls"

    def __init__(self):
        self.base_url = settings.TWILIO_BASE_URL.rstrip("/")
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        self.from_number = settings.TWILIO_FROM_NUMBER

    @abc.abstractmethod
    def form(self, to: str, message: Message) -> dict[str, str]:
        """The form fields of this kind of request (Messages.json or Calls.json)."""

    def missing_setting(self) -> str:
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
            if not getattr(self, name.removeprefix("TWILIO_").lower()):
                return name
        return ""

    def send(self, target: str, message: Message) -> Result:
        to = "".join((target or "").split())  # "+31 6 1234 5678" -> "+31612345678"
        if not E164.match(to):
            return Result.failed(f"{target!r} is not a phone number in E.164 form (+ and country code)",
                                 permanent=True)
        missing = self.missing_setting()
        if missing:
            return Result.failed(f"{self.kind} is not configured: set {missing}", permanent=True)
        url = f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/{self.resource}.json"
        response = post(url, data=self.form(to, message), auth=(self.account_sid, self.auth_token),
                        headers={"Accept": "application/json"})
        if isinstance(response, Result):
            return response
        return _result(response)


class TwilioSMS(_TwilioTransport):
    """Target: a phone number in E.164 form."""

    kind = "sms"
    resource = "Messages"

    def __init__(self):
        super().__init__()
        self.messaging_service_sid = settings.TWILIO_MESSAGING_SERVICE_SID

    def missing_setting(self) -> str:
        if self.messaging_service_sid and self.account_sid and self.auth_token:
            return ""  # a messaging service picks its own sender
        return super().missing_setting()

    def form(self, to: str, message: Message) -> dict[str, str]:
        sender = ({"MessagingServiceSid": self.messaging_service_sid} if self.messaging_service_sid
                  else {"From": self.from_number})
        return {"To": to, **sender, "Body": sms_body(message)}


class TwilioVoice(_TwilioTransport):
    """Target: a phone number in E.164 form. The call reads the notification aloud."""

    kind = "voice"
    resource = "Calls"

    def form(self, to: str, message: Message) -> dict[str, str]:
        return {"To": to, "From": self.from_number, "Twiml": twiml(message)}
