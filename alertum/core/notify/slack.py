"""Slack incoming webhook: Block Kit `blocks` plus a `text` fallback (notifications,
screen readers and clients that do not render blocks show `text`).

Slack answers 200 "ok" on success. Its documented errors: 400 invalid_payload /
user_not_found, 403 action_prohibited / invalid_token, 404 channel_not_found /
no_service, 410 channel_is_archived — all permanent (the webhook or its channel is
gone); 429 with Retry-After and 5xx (rollup_error) are transient.
"""

from alertum.core.notify.base import Message, Result, Transport, http_result, post

# Block Kit limits; Slack refuses the whole payload (invalid_blocks) past any of them.
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
BUTTON_CHARS = 75
MAX_BUTTONS = 25
FALLBACK_CHARS = 4000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    # The three characters Slack's mrkdwn asks to escape; anything else is shown as is.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(message: Message) -> dict:
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message.subject, HEADER_CHARS), "emoji": True}}
    ]
    if message.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(message.text),
                                                                                  SECTION_CHARS)}})
    facts = ({"Severity": message.severity} if message.severity else {}) | message.fields
    if facts:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _cut(f"*{_mrkdwn(name)}*\n{_mrkdwn(value)}", FIELD_CHARS)}
            for name, value in list(facts.items())[:MAX_FIELDS]
        ]})
    if message.urls:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": _cut(label, BUTTON_CHARS)}, "url": url,
             "action_id": f"link-{index}"}
            for index, (label, url) in enumerate(list(message.urls.items())[:MAX_BUTTONS])
        ]})
    context = " · ".join(part for part in (message.reference, "Alertum") if part)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]})
    fallback = message.subject + (f"\n{message.text}" if message.text else "")
    return {"text": _cut(fallback, FALLBACK_CHARS), "blocks": blocks}


class SlackTransport(Transport):
    """Target: the incoming-webhook URL (https://hooks.slack.com/services/...)."""

    kind = "slack"

    def send(self, target: str, message: Message) -> Result:
        response = post(target, json=payload(message))
        if isinstance(response, Result):
            return response
        return http_result(response)
