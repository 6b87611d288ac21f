"""Notification transports: one small module per channel behind one interface.

    from alertum.core.notify import Message, send
    result = send("sms", "+31612345678", Message(title="Checkout errors", severity="P1", reference="INC-7",
                                                 urls={"Acknowledge": ack_url}))
    if not result.delivered and not result.permanent: retry later (result.retry_after)

`send` applies the per-contact throttle, then the transport. Neither raises for a
delivery failure: the Result says what happened. See docs/notifications.md.
"""

import logging
from typing import Any

from alertum.core.notify.base import Message, Result, Transport
from alertum.core.notify.email import EmailTransport
from alertum.core.notify.slack import SlackTransport
from alertum.core.notify.teams import TeamsTransport
from alertum.core.notify.throttle import acquire
from alertum.core.notify.twilio import TwilioSMS, TwilioVoice
from alertum.core.notify.webhook import WebhookEndpoint, WebhookTransport, WebhookVerificationError, verify

log = logging.getLogger(__name__)

TRANSPORTS: dict[str, type[Transport]] = {
    "email": EmailTransport,
    "slack": SlackTransport,
    "teams": TeamsTransport,
    "webhook": WebhookTransport,
    "sms": TwilioSMS,
    "voice": TwilioVoice,
}
KINDS = tuple(TRANSPORTS)

__all__ = ["KINDS", "TRANSPORTS", "Message", "Result", "Transport", "WebhookEndpoint", "WebhookVerificationError",
           "admit", "get_transport", "send", "verify"]


def get_transport(kind: str) -> Transport:
    """A transport for `kind`, configured from the current settings."""
    try:
        transport_class = TRANSPORTS[kind]
    except KeyError:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(KINDS)}") from None
    return transport_class()


def _contact(target: Any) -> str:
    if isinstance(target, WebhookEndpoint):
        return target.url
    if isinstance(target, dict):
        return str(target.get("url", ""))
    return str(target)


def admit(kind: str, target: Any) -> Result | None:
    """Count one send against the per-contact throttle: None when it may go ahead, else
    the transient throttled Result. For callers that send many messages concurrently:
    admit each in the calling thread (the throttle locks a database row), then
    `send(..., throttle=False)` from worker threads."""
    wait = acquire(kind, _contact(target))
    return Result.throttled_for(wait, kind) if wait is not None else None


def send(kind: str, target: Any, message: Message, *, throttle: bool = True) -> Result:
    """Send one message to one target through the `kind` transport.

    Throttled sends are not attempted and come back as a transient Result with
    `throttled=True` and `retry_after`. Any unexpected error inside a transport is
    logged and returned as a transient failure, so a paging worker never dies on one
    bad message.
    """
    transport = get_transport(kind)
    if throttle:
        refused = admit(kind, target)
        if refused is not None:
            return refused
    try:
        return transport.send(target, message)
    except Exception as exc:
        log.exception("%s transport raised while sending", kind)
        return Result.failed(f"unexpected error in the {kind} transport: {exc!r}", permanent=False)
