"""Microsoft Teams incoming webhook or Workflows ("Post to a channel when a webhook
request is received"): a message with one Adaptive Card 1.4 attachment.

Workflows answer 202 Accepted, the retired Office 365 connectors 200 "1": any 2xx is
delivered — except a connector quirk: a throttled connector answered 200 with the body
"... Microsoft Teams endpoint returned HTTP error 429 ...", which is a transient
failure. 400 (card refused) and 404 (webhook or workflow deleted) are permanent;
429 and 5xx transient.
"""

from alertum.core.notify.base import Message, Result, Transport, body_excerpt, http_result, post

# Teams refuses messages over about 28 KB; long alert texts are cut well below that.
TEXT_CHARS = 10_000
URGENT = {"P1", "P2"}


def card(message: Message) -> dict:
    body: list[dict] = [{
        "type": "TextBlock", "text": message.subject, "size": "Large", "weight": "Bolder", "wrap": True,
        "color": "Attention" if message.severity in URGENT else "Default",
    }]
    if message.text:
        text = message.text if len(message.text) <= TEXT_CHARS else message.text[: TEXT_CHARS - 1] + "…"
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    facts = ({"Severity": message.severity} if message.severity else {}) | message.fields
    if message.reference:
        facts = {"Incident": message.reference} | facts
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts.items()]})
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in message.urls.items()],
    }


def payload(message: Message) -> dict:
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                         "content": card(message)}],
    }


class TeamsTransport(Transport):
    """Target: the webhook or workflow URL."""

    kind = "teams"

    def send(self, target: str, message: Message) -> Result:
        response = post(target, json=payload(message))
        if isinstance(response, Result):
            return response
        if response.ok and "returned HTTP error 429" in response.text:
            return Result.failed(f"HTTP {response.status_code}: {body_excerpt(response)}", permanent=False,
                                 status_code=429)
        return http_result(response)
