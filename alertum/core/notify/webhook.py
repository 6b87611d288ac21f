"""Generic webhook, signed per the Standard Webhooks convention (standardwebhooks.com).

Each request carries three headers:
    webhook-id         msg_<key>: the same for every retry of one notification, so the
                       receiver can drop duplicates
    webhook-timestamp  unix seconds when this attempt was signed
    webhook-signature  v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">
The secret is `whsec_<base64>`; the HMAC key is the base64-decoded part.

2xx is delivered. 410 Gone means the receiver disabled the endpoint, and any other 4xx
will not change on retry: permanent. 408, 429, 5xx, timeouts and connection errors are
transient.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone

from alertum.core.notify.base import Message, Result, Transport, http_result, post

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 5 * 60  # seconds; the convention's suggested replay window


class WebhookVerificationError(Exception):
    pass


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str  # whsec_<base64>


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret. Raises ValueError when it is not base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = DEFAULT_TOLERANCE):
    """Check a received request's signature and timestamp; return the decoded JSON body.

    Raises WebhookVerificationError when a header is missing, the timestamp is further
    than `tolerance` seconds from now (either way: a replayed or pre-dated request), or
    no `v1` signature in the (space-separated) header matches.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        raw_timestamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number") from None
    if abs(time.time() - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (stale or in the future)")
    payload = body.encode() if isinstance(body, str) else body
    try:
        expected = sign(secret, msg_id, timestamp, payload).encode()
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return json.loads(payload)
    raise WebhookVerificationError("no matching signature")


def body(message: Message) -> dict:
    """The generic body, in the convention's {type, timestamp, data} shape, unless the
    caller supplied its own (`message.payload`)."""
    if message.payload is not None:
        return message.payload
    return {"type": message.event, "timestamp": timezone.now().isoformat(), "data": message.as_dict()}


def _endpoint(target) -> WebhookEndpoint | None:
    if isinstance(target, WebhookEndpoint):
        return target
    if isinstance(target, Mapping) and target.get("url") and target.get("secret"):
        return WebhookEndpoint(url=target["url"], secret=target["secret"])
    return None


class WebhookTransport(Transport):
    """Target: a WebhookEndpoint, or a mapping with "url" and "secret" (as stored in JSON)."""

    kind = "webhook"

    def send(self, target, message: Message) -> Result:
        endpoint = _endpoint(target)
        if endpoint is None:
            return Result.failed("webhook target needs a url and a secret", permanent=True)
        msg_id = f"msg_{message.key}" if message.key else f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        payload = json.dumps(body(message), separators=(",", ":"), default=str).encode()
        try:
            signature = sign(endpoint.secret, msg_id, timestamp, payload)
        except ValueError as exc:
            return Result.failed(str(exc), permanent=True)
        response = post(endpoint.url, data=payload, headers={
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        })
        if isinstance(response, Result):
            return response
        return http_result(response, provider_id=msg_id)
