"""The ping doors, speaking healthchecks.io's ping API exactly (docs/heartbeats.md):

    /ping/<uuid>[/start|/fail|/log|/<exit-status>]            any method; ?rid=<uuid>
    /ping/<ping-key>/<slug>[/start|/fail|/log|/<exit-status>]  also ?create=1

200 "OK" (201 "Created" when ?create=1 made the heartbeat), 404 "not found", 400 "invalid
url format" (exit status over 255, a slug with capitals), 400 "invalid uuid format" (bad
rid), 409 "ambiguous slug". Plain text, CORS-open, never cached, CSRF-exempt, no sign-in:
the URL is the credential. A database failure answers 503 so that curl --retry retries.
"""

import logging
import re
import time
import uuid

from django.db import DatabaseError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from alertum.core.middleware import machine_door
from monitoring.heartbeats import pings
from monitoring.heartbeats.models import BODY_LIMIT_MAX

log = logging.getLogger(__name__)

CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DRAIN_CHUNK = 64 * 1024


NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"  # as Django's never_cache
_expires = (0, "")


def _text(body: str, status: int = 200) -> HttpResponse:
    """Plain text that no cache keeps: the headers of Django's never_cache, written
    directly (its header patching was ~7% of a ping's CPU), the date formatted once a second."""
    global _expires
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    now = int(time.time())
    if _expires[0] != now:
        _expires = (now, http_date(now))
    response.headers["Expires"] = _expires[1]
    response.headers["Cache-Control"] = NEVER_CACHE
    return response


def _remote_addr(request) -> str:
    # Behind our proxy (deploy/nginx.conf) REMOTE_ADDR is the proxy; the address the proxy
    # saw is the last one it appended to X-Forwarded-For. Only a log field, never trusted.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[-1].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


def _read_body(request, limit: int) -> tuple[bytes, int]:
    """(the first `limit` bytes, the full size). The rest is read and dropped, never held."""
    kept = request.read(limit) if limit else b""
    size = len(kept)
    while True:
        chunk = request.read(DRAIN_CHUNK)
        if not chunk:
            return kept, size
        size += len(chunk)


def _signal(request, action: str, exit_status: int | None, rid, limit: int) -> pings.Signal:
    body, size = _read_body(request, limit)
    return pings.Signal(action=action, exit_status=exit_status, rid=rid, method=request.method or "",
                        scheme=request.scheme, remote_addr=_remote_addr(request),
                        user_agent=request.META.get("HTTP_USER_AGENT", "")[:200], body=body, body_size=size)


def _rid(request):
    """(run id or None, error response or None). healthchecks.io wants the canonical form."""
    raw = request.GET.get("rid")
    if raw is None:
        return None, None
    if not CANONICAL_UUID.match(raw):
        return None, _text("invalid uuid format", 400)
    return uuid.UUID(raw), None


def _ok(body_limit: int, body: str = "OK", status: int = 200) -> HttpResponse:
    response = _text(body, status)
    response["Access-Control-Allow-Origin"] = "*"
    response["Ping-Body-Limit"] = str(body_limit)
    return response


def ping_door(view):
    @csrf_exempt
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DatabaseError:  # a database hiccup: curl --retry and friends retry on 5xx only
            log.exception("ping could not be recorded")
            return _text("could not record the ping; please retry", 503)

    wrapper.__name__ = view.__name__
    return machine_door(wrapper)


def _on_time(request, action: str, exit_status: int | None, record):
    """Try the usual ping (a success without a query string) in one statement: (the
    answer or None, the signal read, for the general path to reuse)."""
    if action != pings.SUCCESS or exit_status or request.GET:
        return None, None
    signal = _signal(request, action, exit_status, None, BODY_LIMIT_MAX)
    limit = record(signal, timezone.now())
    return (_ok(limit) if limit is not None else None), signal


def _record(request, snap: pings.Snapshot, action: str, exit_status: int | None, signal=None):
    if exit_status is not None and exit_status > 255:
        return _text("invalid url format", 400)
    rid, refusal = _rid(request)
    if refusal:
        return refusal
    # Read up to the largest limit: the cached one may be a few seconds old; the write cuts.
    signal = signal or _signal(request, action, exit_status, rid, BODY_LIMIT_MAX)
    if pings.receive(snap, signal, timezone.now(), cached=True) is None:
        return _text("not found", 404)  # deleted since this process cached it
    return _ok(snap.body_limit)


@ping_door
def ping_by_uuid(request, code: uuid.UUID, action: str = pings.SUCCESS, exit_status: int | None = None):
    answer, signal = _on_time(request, action, exit_status,
                              lambda signal, now: pings.record_on_time(code, signal, now))
    if answer:
        return answer
    snap = pings.cached_by_uuid(code)
    if snap is None:
        return _text("not found", 404)
    return _record(request, snap, action, exit_status, signal)


@ping_door
def ping_by_slug(request, ping_key: str, slug: str, action: str = pings.SUCCESS, exit_status: int | None = None):
    if slug != slug.lower():
        return _text("invalid url format", 400)
    answer, signal = _on_time(request, action, exit_status,
                              lambda signal, now: pings.record_on_time_by_slug(ping_key, slug, signal, now))
    if answer:
        return answer
    found = pings.cached_by_slug(ping_key, slug)
    if len(found) > 1:
        return _text("ambiguous slug", 409)
    if found:
        return _record(request, found[0], action, exit_status, signal)
    if request.GET.get("create") != "1":
        return _text("not found", 404)
    if exit_status is not None and exit_status > 255:
        return _text("invalid url format", 400)
    rid, refusal = _rid(request)
    if refusal:
        return refusal
    from monitoring.heartbeats import actions

    snap = actions.provision_by_slug(ping_key, slug)
    if snap is None:  # the key makes nothing (no default service), or the team is at its limit
        return _text("not found", 404)
    pings.forget()
    pings.receive(snap, _signal(request, action, exit_status, rid, snap.body_limit), timezone.now())
    return _ok(snap.body_limit, "Created", 201)


@ping_door
def unknown(request, rest: str = ""):
    """Anything else under /ping/ (a malformed uuid, a word that is no signal)."""
    return _text("not found", 404)
