"""The compatible intake doors: PagerDuty Events API (v2, change events, legacy v1),
Alertmanager and Grafana webhooks, and the generic JSON webhook.

Each answers fast and in its sender's own words: authenticate, check size (512,000 bytes,
reading at most one byte more), check rate, validate the format, store the raw body
(`accept`) and reply. Nothing else happens here: alerts and incidents are made by the
pipeline, after the reply. Bad input is refused before anything is stored.

Plain Django views on purpose: senders send odd Accept headers (pypd, pygerduty) and
stray Authorization headers (pypd's "Token token=None") that DRF would answer with 406 or
401; here neither is looked at. Never a redirect (clients will not follow a POST), and
never a 500: an unexpected failure answers 503, which every sender retries.
"""

import base64
import binascii
import hmac
import logging
import time
import uuid
from functools import wraps
from hashlib import sha256

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from alertum.core.middleware import machine_door
from incidents.intake import alertmanager, formats, generic, pagerduty
from incidents.intake.accept import MAX_BODY_BYTES, accept, find_integration, over_rate_limit
from incidents.intake.events import FormatError
from incidents.models import Integration

log = logging.getLogger(__name__)

KEPT_HEADERS = ("User-Agent", "Content-Type", "X-Forwarded-For", "X-Grafana-Alerting-Timestamp")
GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="alertum-intake"'}
GRAFANA_TIMESTAMP_TOLERANCE = 300  # seconds either way: a replayed old request is refused


class TooLarge(Exception):
    pass


def door(view):
    """CSRF-exempt (senders authenticate with their key), and a 503 instead of a 500."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Exception:  # a database or broker hiccup: the sender retries on 5xx, never on 4xx
            log.exception("intake door %s failed", view.__name__)
            return JsonResponse({"status": "error", "message": "Alertum could not accept the event just now; "
                                                               "please retry"}, status=503,
                                headers={"Retry-After": "5"})

    return machine_door(wrapper)


def read_body(request) -> bytes:
    """At most MAX_BODY_BYTES; TooLarge beyond, having read no more than one byte past it."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    while size <= MAX_BODY_BYTES:
        chunk = request.read(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise TooLarge
    return b"".join(chunks)


def decode(body: bytes):
    """(text, JSON value); FormatError when the body is not UTF-8 JSON."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError("the body is not UTF-8 text") from None
    return text, formats.parse(text)


def kept_headers(request) -> dict:
    """What is worth keeping with the raw event; never credentials."""
    headers = {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}
    headers["remote_addr"] = request.META.get("REMOTE_ADDR", "")
    return headers


# --- PagerDuty Events API ------------------------------------------------------------------------

PD_INVALID = "Event object is invalid"


def _pd_error(status: int, errors: list[str], message: str = PD_INVALID, headers=None) -> JsonResponse:
    return JsonResponse({"status": "invalid event", "message": message, "errors": errors}, status=status,
                        headers=headers)


def _pagerduty(request, endpoint: str):
    v1 = endpoint == pagerduty.V1
    if request.method != "POST":
        return _pd_error(405, [f"{request.method} is not allowed; POST the event"], "Method not allowed",
                         {"Allow": "POST"})
    try:
        text, event = decode(read_body(request))
    except TooLarge:
        return _pd_error(413, [f"The event is larger than {MAX_BODY_BYTES} bytes"], "Request entity too large")
    except FormatError as exc:
        return _pd_error(400, exc.errors)
    if not isinstance(event, dict):
        return _pd_error(400, ["Event object must be a JSON object"])
    errors = pagerduty.key_errors(event, endpoint)
    if errors:
        return _pd_error(400, errors)
    integration = find_integration(event[pagerduty.key_field(endpoint)], kind=Integration.Kind.PAGERDUTY)
    if integration is None:  # unknown, deactivated, or a key of another kind of integration
        return _pd_error(400, ["Invalid service key" if v1 else "Invalid routing key"])
    if over_rate_limit(integration):
        # PagerDuty answers v2 with 429 and the legacy v1 API with 403.
        return JsonResponse({"status": "throttle event", "message": "Requests for this service are arriving too "
                             "quickly. Please retry later.", "errors": ["Too many API calls at a time"]},
                            status=403 if v1 else 429, headers={"Retry-After": "60"})
    errors = pagerduty.validate(event, endpoint)
    if errors:
        return _pd_error(400, errors)
    assigned = uuid.uuid4().hex if pagerduty.needs_generated_key(event, endpoint) else ""
    raw_id = accept(integration, endpoint, text, kept_headers(request), assigned_dedup_key=assigned)
    if endpoint == pagerduty.CHANGE:
        # pdpyras reads .get("id") from a JSON object; the pagerduty client ignores the body.
        return JsonResponse({"status": "success", "message": "Change event processed", "id": str(raw_id)},
                            status=202)
    key = pagerduty.event_key(event, endpoint) or assigned
    if v1:
        return JsonResponse({"status": "success", "message": "Event processed", "incident_key": key}, status=200)
    # Always with dedup_key, also for acknowledge and resolve: both clients raise without it.
    return JsonResponse({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)


@door
def pagerduty_v2(request):
    return _pagerduty(request, pagerduty.V2)


@door
def pagerduty_change(request):
    return _pagerduty(request, pagerduty.CHANGE)


@door
def pagerduty_v1(request):
    return _pagerduty(request, pagerduty.V1)


# --- webhooks with the key in the URL or a header --------------------------------------------------

def _error(status: int, message: str, errors: list[str] | None = None, headers=None) -> JsonResponse:
    return JsonResponse({"status": "error", "message": message, "errors": errors or [message]}, status=status,
                        headers=headers)


def _credential(request, path_key: str | None) -> tuple[str, bool]:
    """(key, whether it came in the path). The path, then ?token=, then the Authorization
    header: Bearer <key>, or Basic with the key as password (Alertmanager's basic_auth)."""
    if path_key:
        return path_key, True
    if request.GET.get("token"):
        return request.GET["token"], False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if scheme.lower() == "basic" and value.strip():
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", False
        return password, False
    return "", False


def _authenticate(request, path_key: str | None, kind: str):
    """The integration, or the response refusing the request."""
    raw_key, in_path = _credential(request, path_key)
    if not raw_key:
        return None, _error(401, "Missing integration key: put it in the URL, in ?token=, or send "
                                 "Authorization: Bearer <key>", headers=BEARER_CHALLENGE)
    integration = find_integration(raw_key, kind=kind)
    if integration is None:  # unknown, deactivated, or the key of another kind of integration
        if in_path:
            return None, _error(404, f"No active {kind} integration has this key")
        return None, _error(401, f"No active {kind} integration has this key",
                            headers=BEARER_CHALLENGE)
    return integration, None


def _read(request):
    """(body, None) or (None, 413 response)."""
    try:
        return read_body(request), None
    except TooLarge:
        return None, _error(413, f"The body is larger than {MAX_BODY_BYTES} bytes")


def _rate_limited() -> JsonResponse:
    return _error(429, "Too many events for this integration; retry later", headers={"Retry-After": "60"})


def _alert_webhook(request, key, kind: str, endpoint: str, methods: tuple[str, ...]):
    if request.method not in methods:
        return _error(405, f"{request.method} is not allowed; use {' or '.join(methods)}",
                      headers={"Allow": ", ".join(methods)})
    integration, refusal = _authenticate(request, key, kind)
    if refusal:
        return refusal
    body, refusal = _read(request)
    if refusal:
        return refusal
    if endpoint == alertmanager.GRAFANA and integration.verify_grafana_signature:
        problem = grafana_signature_problem(integration, request, body)
        if problem:
            return _error(401, problem)
    if over_rate_limit(integration):
        return _rate_limited()
    try:
        text, payload = decode(body)
    except FormatError as exc:
        return _error(400, f"The body is not a valid {kind} webhook payload", exc.errors)
    errors = alertmanager.validate(payload, endpoint)
    if errors:
        return _error(400, f"The body is not a valid {kind} webhook payload", errors)
    accept(integration, endpoint, text, kept_headers(request))
    # Alertmanager and Grafana take any 2xx as delivered; duplicates are answered the same.
    return JsonResponse({"status": "success", "alerts": len(payload["alerts"])}, status=200)


def grafana_signature_problem(integration: Integration, request, body: bytes) -> str:
    """"" when Grafana's HMAC signature is right, else what is wrong. Grafana signs the raw
    body, or "<timestamp>:<body>" when it also sends a timestamp header (Unix seconds)."""
    signature = request.headers.get(GRAFANA_SIGNATURE_HEADER, "").strip().lower()
    if not signature:
        return f"Missing {GRAFANA_SIGNATURE_HEADER}: this integration requires Grafana's HMAC signature"
    signed = body
    timestamp = request.headers.get(GRAFANA_TIMESTAMP_HEADER, "").strip()
    if timestamp:
        if not timestamp.isdigit():
            return f"{GRAFANA_TIMESTAMP_HEADER} must be Unix seconds"
        if abs(time.time() - int(timestamp)) > GRAFANA_TIMESTAMP_TOLERANCE:
            return f"{GRAFANA_TIMESTAMP_HEADER} is more than {GRAFANA_TIMESTAMP_TOLERANCE} seconds off"
        signed = timestamp.encode() + b":" + body
    expected = hmac.new(integration.hmac_secret().encode(), signed, sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return f"{GRAFANA_SIGNATURE_HEADER} does not match the body"
    return ""


@door
def alertmanager_webhook(request, key=None):
    return _alert_webhook(request, key, Integration.Kind.ALERTMANAGER, alertmanager.ALERTMANAGER, ("POST",))


@door
def grafana_webhook(request, key=None):
    return _alert_webhook(request, key, Integration.Kind.GRAFANA, alertmanager.GRAFANA, ("POST", "PUT"))


@door
def generic_webhook(request, key=None):
    if request.method != "POST":
        return _error(405, f"{request.method} is not allowed; POST the event", headers={"Allow": "POST"})
    integration, refusal = _authenticate(request, key, Integration.Kind.GENERIC)
    if refusal:
        return refusal
    body, refusal = _read(request)
    if refusal:
        return refusal
    if over_rate_limit(integration):
        return _rate_limited()
    try:
        text, payload = decode(body)
    except FormatError as exc:
        return JsonResponse({"status": "invalid", "message": "The event is invalid", "errors": exc.errors},
                            status=400)
    errors = generic.validate(payload)
    if errors:
        return JsonResponse({"status": "invalid", "message": "The event is invalid", "errors": errors}, status=400)
    key = generic.event_key(payload)
    assigned = "" if key else uuid.uuid4().hex
    accept(integration, "generic", text, kept_headers(request), assigned_dedup_key=assigned)
    return JsonResponse({"status": "accepted", "dedup_key": key or assigned}, status=202)
