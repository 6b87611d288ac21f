"""What every transport shares: the message, the result, and the HTTP call.

A transport's `send(target, message)` never raises for a delivery failure: it returns a
`Result` that says whether the message was delivered and, if not, whether trying again
could help (`permanent`). The caller (escalation, subscriber delivery) decides about
retries from that one bit and `retry_after`.
"""

import abc
import email.utils
import http.cookiejar
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

USER_AGENT = "Alertum-Notify/1"
# Provider error bodies can be whole HTML pages; an error text keeps only the start.
ERROR_BODY_CHARS = 300


@dataclass
class Message:
    """One notification, independent of the channel that carries it.

    `urls` are labelled links shown as buttons or listed under the text, in order, such
    as {"Acknowledge": ..., "Resolve": ..., "Open incident": ...}; `fields` are short
    facts (service, status, commander). `key` identifies the notification across retries
    (e.g. the page row's unique key): the webhook transport sends it as `webhook-id` so
    that receivers can drop duplicates. `payload` replaces the generic webhook body when
    a caller must speak a specific format (the Statuspage webhook shape for subscribers).
    """

    title: str
    text: str = ""
    html: str = ""
    severity: str = ""  # "P1".."P4", or empty
    reference: str = ""  # "INC-42"
    event: str = "incident.notification"  # the webhook "type", e.g. "incident.triggered"
    urls: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    key: str = ""
    payload: dict[str, Any] | None = None

    @property
    def subject(self) -> str:
        """"[P1] INC-42: Checkout errors", leaving out whichever of severity and reference is empty."""
        severity = f"[{self.severity}] " if self.severity else ""
        reference = f"{self.reference}: " if self.reference else ""
        return f"{severity}{reference}{self.title}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "severity": self.severity,
            "reference": self.reference,
            "urls": dict(self.urls),
            "fields": dict(self.fields),
        }


@dataclass(frozen=True)
class Result:
    """The outcome of one send.

    delivered: the provider accepted the message.
    permanent: only on failure — retrying the same message to the same target will not
               help (bad address, unsubscribed number, deleted webhook).
    retry_after: seconds the provider (or our throttle) asked us to wait, if any.
    provider_id: the provider's handle on the message (SMTP Message-ID, Twilio SID).
    """

    delivered: bool
    permanent: bool = False
    error: str = ""
    provider_id: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    throttled: bool = False

    @classmethod
    def ok(cls, provider_id: str = "", status_code: int | None = None) -> "Result":
        return cls(delivered=True, provider_id=provider_id, status_code=status_code)

    @classmethod
    def failed(cls, error: str, *, permanent: bool, status_code: int | None = None,
               retry_after: float | None = None) -> "Result":
        return cls(delivered=False, permanent=permanent, error=error, status_code=status_code,
                   retry_after=retry_after)

    @classmethod
    def throttled_for(cls, retry_after: float, kind: str) -> "Result":
        return cls(delivered=False, permanent=False, throttled=True, retry_after=retry_after,
                   error=f"throttled: too many {kind} notifications to this contact; retry in {retry_after:.0f} s")

    @property
    def status(self) -> str:
        if self.delivered:
            return "delivered"
        return "throttled" if self.throttled else "failed"


class Transport(abc.ABC):
    """One channel. Subclasses set `kind` and implement `send`."""

    kind: str = ""

    @abc.abstractmethod
    def send(self, target: Any, message: Message) -> Result:
        """Deliver `message` to `target`; never raise for a delivery failure."""


def timeouts() -> tuple[float, float]:
    return (settings.NOTIFY_CONNECT_TIMEOUT, settings.NOTIFY_READ_TIMEOUT)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_sessions = threading.local()


def _session() -> requests.Session:
    """One session per thread: connections to a provider are kept alive between messages
    (a storm sends hundreds to the same API; a new TCP and TLS handshake each time was
    most of a send's cost). Cookies are never kept: a webhook receiver must not be able
    to plant state that goes to the next request."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        # requests re-reads proxy and CA-bundle variables from the whole environment on
        # every request (a fifth of a send's CPU). The CA bundle is read here once, as
        # requests would; only when a proxy variable is set does requests keep looking
        # per request (NO_PROXY depends on the URL).
        session.trust_env = any(os.environ.get(name) for name in _PROXY_SETTINGS)
        if not session.trust_env:
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _sessions.session = session
    return session


_PROXY_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NETRC")


def post(url: str, **kwargs) -> requests.Response | Result:
    """POST with the notify timeouts; a transport-level failure comes back as a Result.

    Redirects are not followed: requests would turn a redirected POST into a GET and
    report the GET's answer, so a moved endpoint would look delivered.
    """
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        return _session().post(url, headers=headers, timeout=timeouts(), allow_redirects=False, **kwargs)
    except requests.Timeout:
        connect, read = timeouts()
        return Result.failed(f"timed out talking to {_host(url)} (connect {connect} s, read {read} s)",
                             permanent=False)
    except requests.ConnectionError as exc:
        return Result.failed(f"could not connect to {_host(url)}: {_reason(exc)}", permanent=False)
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema, ValueError) as exc:
        # No retry will make a malformed URL valid.
        return Result.failed(f"invalid URL {url!r}: {exc}", permanent=True)
    except requests.RequestException as exc:
        return Result.failed(f"request to {_host(url)} failed: {exc}", permanent=False)


def http_result(response: requests.Response, *, provider_id: str = "") -> Result:
    """The common status-code mapping: 2xx delivered; 408, 425, 429 and 5xx transient
    (with Retry-After when sent); redirects and every other 4xx permanent — the same
    request to the same URL gets the same answer."""
    code = response.status_code
    if 200 <= code < 300:
        return Result.ok(provider_id=provider_id, status_code=code)
    detail = body_excerpt(response)
    message = f"HTTP {code}" + (f": {detail}" if detail else "")
    if code in (408, 425, 429) or code >= 500:
        return Result.failed(message, permanent=False, status_code=code,
                             retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if 300 <= code < 400:
        message += f" (redirect to {response.headers.get('Location', '?')}; update the URL)"
    return Result.failed(message, permanent=True, status_code=code)


def body_excerpt(response: requests.Response) -> str:
    text = (response.text or "").strip()
    return text[:ERROR_BODY_CHARS]


def _host(url: str) -> str:
    try:
        return requests.utils.urlparse(url).netloc or url
    except ValueError:
        return url


def _reason(exc: Exception) -> str:
    # urllib3 nests the socket error a few levels deep; its last line is the useful one.
    text = str(exc)
    return text.rsplit(":", 1)[-1].strip(" ')\"") or text
