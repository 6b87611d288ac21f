"""Signed, expiring, single-incident links to acknowledge or resolve from a notification.

The token is `django.core.signing` over {incident, action, page}: it names one incident
and one action, cannot be altered without SECRET_KEY, and expires after
`ONCALL_LINK_MAX_AGE` seconds. Opening the link (GET) only shows a confirmation page —
mail and chat link scanners fetch every URL, and must never acknowledge — and the
button (POST) does it. The API takes the same token (`POST /api/v1/page-links/`).
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from alertum.core.errors import Invalid

SALT = "oncall.page-link"
ACTIONS = ("acknowledge", "resolve")


@dataclass(frozen=True)
class LinkClaim:
    incident_id: int
    action: str
    page_id: int | None


def make_token(incident_id: int, action: str, page_id: int | None = None) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    return signing.dumps({"i": incident_id, "a": action, "p": page_id}, salt=SALT, compress=True)


def read_token(token: str) -> LinkClaim:
    """The claim inside a valid token, or Invalid saying why not (expired, tampered)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.ONCALL_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise Invalid("this link has expired; open the incident in Alertum instead", field="token") from None
    except signing.BadSignature:
        raise Invalid("this link is not valid (it was changed or cut short)", field="token") from None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS or not isinstance(data.get("i"), int):
        raise Invalid("this link is not valid", field="token")
    page = data.get("p")
    return LinkClaim(incident_id=data["i"], action=data["a"], page_id=page if isinstance(page, int) else None)


def absolute(path: str) -> str:
    return settings.ONCALL_BASE_URL.rstrip("/") + path


def link_url(incident_id: int, action: str, page_id: int | None = None) -> str:
    return absolute(reverse("oncall:page-link", args=[make_token(incident_id, action, page_id)]))
