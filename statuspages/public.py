"""The public doors of a status page: the page, incident and maintenance pages, the
uptime history, Atom/RSS feeds, the SVG badge, the Statuspage-compatible JSON and the
subscribe forms. Mounted at /status/<slug>/ and, for a custom domain, at its root
(statuspages.middleware routes by Host).

Every cacheable answer goes through `_serve`: a fresh cached copy when there is one
(after the access check, which needs no database for public, password and IP pages);
else a render, kept in the cache and as the last good copy; and when the render fails
because the database is unreachable, the last good copy with a note of its age.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import time
from html import escape

from django.core import signing
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import feedgenerator, timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alertum.core.errors import DomainError
from alertum.core.models import Door
from alertum.core.permissions import is_member_anywhere
from statuspages import actions, cache, queries, v2
from statuspages.models import Component, ComponentStatus, PublicIncident, PublicMaintenance, StatusPage

log = logging.getLogger(__name__)

STALE_MARK = "<!--stale-note-->"
PASSWORD_COOKIE = "sp_access_{code}"
PASSWORD_MAX_AGE = 30 * 24 * 3600
HTML = "text/html; charset=utf-8"
JSON = "application/json"
# Public HTML makes no request to anyone but us (inline styles, our own logo).
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


# --- where the page is mounted -----------------------------------------------------------------

def _slug(request, slug):
    return slug or getattr(request, "status_page_slug", None)


def prefix(request, slug) -> str:
    """The page's root path as the visitor reached it: "/" on its own domain."""
    return "/" if getattr(request, "status_page_slug", None) else f"/status/{slug}/"


def page_url(request, page) -> str:
    if getattr(request, "status_page_slug", None):
        return f"{request.scheme}://{request.get_host()}/"
    return request.build_absolute_uri(f"/status/{page.slug}/")


# --- access ----------------------------------------------------------------------------------

def access_meta(page: StatusPage) -> dict:
    return {"mode": page.access, "code": page.code, "ips": page.ip_networks,
            "pw": hashlib.sha256(page.password_hash.encode()).hexdigest()[:16] if page.password_hash else ""}


def _client_ip(request):
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return None


def check_access(request, meta: dict, *, db: bool = True) -> str | None:
    """None when the visitor may see the page; else why not: "login", "password", "ip",
    or "unavailable" (a sign-in page while the database is down)."""
    mode = meta["mode"]
    if mode == StatusPage.Access.PUBLIC:
        return None
    if mode == StatusPage.Access.IP:
        ip = _client_ip(request)
        for network in meta["ips"]:
            try:
                if ip is not None and ip in ipaddress.ip_network(network, strict=False):
                    return None
            except ValueError:
                continue
        return "ip"
    if mode == StatusPage.Access.PASSWORD:
        raw = request.COOKIES.get(PASSWORD_COOKIE.format(code=meta["code"]))
        try:
            granted = signing.loads(raw or "", salt="statuspages.access", max_age=PASSWORD_MAX_AGE)
        except signing.BadSignature:
            return "password"
        # A changed password ends every visitor's access.
        return None if granted == {"p": meta["code"], "h": meta["pw"]} else "password"
    if not db:
        return "unavailable"
    try:
        user = request.user
        return None if user.is_authenticated and is_member_anywhere(user) else "login"
    except Exception:  # the session or membership read failed: the database is down
        log.warning("cannot check a signed-in status page visitor", exc_info=True)
        return "unavailable"


def _denied(request, slug, reason: str) -> HttpResponse:
    if reason == "login":
        return HttpResponseRedirect(f"{reverse('login')}?next={request.get_full_path()}")
    if reason == "password":
        return _private(render(request, "statuspages/public/password.html",
                               {"action": prefix(request, slug) + "access", "next": request.get_full_path()},
                               status=401))
    if reason == "ip":
        return _private(HttpResponse("This status page is not available from your network.\n", status=403,
                                     content_type="text/plain; charset=utf-8"))
    return _private(HttpResponse("This status page is temporarily unavailable; please try again shortly.\n",
                                 status=503, content_type="text/plain; charset=utf-8", headers={"Retry-After": "30"}))


def unavailable() -> HttpResponse:
    return _denied(None, None, "unavailable")


def _private(response):
    response["Cache-Control"] = "private, no-store"
    return response


# --- the cached door -------------------------------------------------------------------------

def respond(entry: dict, *, stale_age: float | None = None) -> HttpResponse:
    body = entry["body"]
    if stale_age is not None and entry["ctype"] == HTML:
        when = dt.datetime.fromtimestamp(entry["at"], dt.UTC)
        note = (f'<p class="stale" role="status">We cannot refresh this page right now. It shows the status as of '
                f'{when:%Y-%m-%d %H:%M} UTC ({_age_text(stale_age)} ago).</p>')
        body = body.replace(STALE_MARK.encode(), note.encode(), 1)
    response = HttpResponse(body, content_type=entry["ctype"], status=entry.get("status", 200))
    public = entry["access"]["mode"] == StatusPage.Access.PUBLIC
    response["Cache-Control"] = "public, max-age=5" if public and stale_age is None else "private, no-cache"
    if entry["ctype"] == HTML:
        response["Content-Security-Policy"] = CSP
        response["X-Frame-Options"] = "DENY"
    elif public:
        response["Access-Control-Allow-Origin"] = "*"  # widgets and aggregators read it cross-origin
    response["X-Content-Type-Options"] = "nosniff"
    if stale_age is not None:
        response["Age"] = str(int(stale_age))
        response["X-Status-Page-Stale"] = f"{int(stale_age)}"
    return response


def _age_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} hours"


def cache_name(request, slug) -> str:
    return request.path[len(prefix(request, slug)):]


def _serve(request, slug, renderer, *, name: str | None = None) -> HttpResponse:
    """renderer(page) -> (body: bytes, content type)."""
    slug = _slug(request, slug)
    host = request.get_host()
    name = cache_name(request, slug) if name is None else name
    entry = cache.get(slug, name, host)
    if entry is not None:
        reason = check_access(request, entry["access"])
        return _denied(request, slug, reason) if reason else respond(entry)
    version = cache.current_version(slug)
    try:
        page = StatusPage.objects.filter(slug=slug).first()
        if page is None:
            raise Http404("no such status page")
        meta = access_meta(page)
        reason = check_access(request, meta)
        if reason:
            return _denied(request, slug, reason)
        with timezone.override(v2.page_tz(page)):
            body, ctype = renderer(page)
    except Http404:
        raise
    except Exception:
        # The database (or anything under the render) failed: the last good copy beats
        # an error page — customers look exactly when things are broken.
        log.exception("status page %s could not be rendered; trying the last good copy", slug)
        old = cache.stale(slug, name, host)
        if old is None:
            return _denied(request, slug, "unavailable")
        reason = check_access(request, old["access"], db=False)
        if reason:
            return _denied(request, slug, reason)
        return respond(old, stale_age=max(0.0, time.time() - old["at"]))
    entry = {"body": body, "ctype": ctype, "access": meta}
    cache.put(slug, name, host, entry, version)
    return respond({**entry, "at": time.time()})


# --- the page --------------------------------------------------------------------------------

def _uptime_class(value) -> str:
    if value is None:
        return "nd"
    if value >= 0.9995:
        return "u0"
    if value >= 0.99:
        return "u1"
    if value >= 0.95:
        return "u2"
    return "u3"


def _bars(components, page, days=queries.HISTORY_DAYS):
    tz = v2.page_tz(page)
    today = timezone.now().astimezone(tz).date()
    start = today - dt.timedelta(days=days - 1)
    shown = [c for c in components if c.showcase and not c.is_group]
    per_component = queries.uptime_by_day(shown, start, today, tz)
    bars = {}
    for c in shown:
        per_day = per_component.get(c.pk, {})
        # Built here rather than in a template loop: 90 cells a component are most of
        # an uncached render otherwise. A perfect day is a bare <rect>, which keeps the
        # page small; the others carry their figure as a tooltip.
        cells = []
        for i, day in enumerate(sorted(per_day)):
            value = per_day[day]
            cls = _uptime_class(value)
            if cls == "u0":
                cells.append(f'<rect x="{i * 4}"/>')
            else:
                label = "no data" if value is None else f"{value * 100:.2f}%"
                cells.append(f'<rect x="{i * 4}" class="{cls}"><title>{day:%b %-d}: {label}</title></rect>')
        total = queries.uptime_total(per_day)
        bars[c.pk] = {"cells": mark_safe("".join(cells)), "total": None if total is None else f"{total * 100:.2f}",
                      "start": start, "end": today}
    return bars


def _component_rows(components, bars):
    rows = []
    for c in components:
        if c.only_show_if_degraded and c.status == ComponentStatus.OPERATIONAL:
            continue
        rows.append({"c": c, "label": ComponentStatus(c.status).label, "bar": bars.get(c.pk)})
    return rows


def render_page(request, page, slug):
    snap = queries.public_snapshot(page, page_url(request, page))
    components = snap["components"]
    bars = _bars(components, page)
    recent = queries.incidents_between(page, timezone.now() - dt.timedelta(days=14), timezone.now() +
                                       dt.timedelta(seconds=1))
    context = {**snap, "rows": _component_rows(components, bars), "root": prefix(request, slug),
               "recent": [i for i in recent if not i.is_open], "stale_mark": STALE_MARK,
               "statuses": ComponentStatus, "tz_name": page.time_zone,
               "leaf_choices": [c for c in components if not c.is_group]}
    return render_to_string("statuspages/public/page.html", context, request=None).encode(), HTML


@require_safe
def page_view(request, slug=None):
    return _serve(request, slug, lambda page: render_page(request, page, _slug(request, slug)))


@require_safe
def incident_view(request, code, slug=None):
    def renderer(page):
        incident = PublicIncident.objects.filter(page=page, code=code).prefetch_related(
            "updates", "components").first()
        if incident is None:
            raise Http404("no such incident")
        return render_to_string("statuspages/public/incident.html", {
            "page": page, "incident": incident, "updates": incident.updates.order_by("-display_at", "-id"),
            "root": prefix(request, _slug(request, slug)), "stale_mark": STALE_MARK, "kind": "incident"}).encode(), HTML
    return _serve(request, slug, renderer)


@require_safe
def maintenance_view(request, code, slug=None):
    def renderer(page):
        maintenance = PublicMaintenance.objects.filter(page=page, code=code).select_related("window") \
            .prefetch_related("updates", "components").first()
        if maintenance is None:
            raise Http404("no such maintenance")
        return render_to_string("statuspages/public/incident.html", {
            "page": page, "incident": maintenance, "maintenance": maintenance,
            "updates": maintenance.updates.order_by("-display_at", "-id"),
            "root": prefix(request, _slug(request, slug)), "stale_mark": STALE_MARK, "kind": "maintenance"}
        ).encode(), HTML
    return _serve(request, slug, renderer)


def _month_param(request) -> tuple[int, int]:
    raw = request.GET.get("month", "")
    today = timezone.now().date()
    if not raw:
        return today.year, today.month
    try:
        year, month = (int(x) for x in raw.split("-"))
        dt.date(year, month, 1)
    except ValueError:
        raise Http404("month must look like 2026-03") from None
    return year, month


def _ym(year, month) -> str:
    return f"{year:04d}-{month:02d}"


def _shift(year, month, delta):
    index = year * 12 + month - 1 + delta
    return index // 12, index % 12 + 1


@require_safe
def history_view(request, slug=None):
    """Incidents and maintenance of one month, newest first, with links to the others."""
    year, month = _month_param(request)

    def renderer(page):
        tz = v2.page_tz(page)
        start = dt.datetime(year, month, 1, tzinfo=tz)
        end = dt.datetime(*_shift(year, month, 1), 1, tzinfo=tz)
        incidents = queries.incidents_between(page, start, end)
        maints = [m for m in queries.maintenances(page, "all", limit=500) if start <= m.window.starts_at < end]
        return render_to_string("statuspages/public/history.html", {
            "page": page, "incidents": incidents, "maintenances": maints, "month": start,
            "prev": _ym(*_shift(year, month, -1)), "next": _ym(*_shift(year, month, 1)),
            "root": prefix(request, _slug(request, slug)), "stale_mark": STALE_MARK}).encode(), HTML
    return _serve(request, slug, renderer, name=f"history/{year:04d}-{month:02d}")


@require_safe
def uptime_view(request, slug=None):
    """Monthly uptime history: three months of day-by-day uptime per component."""
    year, month = _month_param(request)

    def renderer(page):
        tz = v2.page_tz(page)
        first = _shift(year, month, -2)
        start = dt.date(first[0], first[1], 1)
        end = dt.date(year, month, calendar.monthrange(year, month)[1])
        components = [c for c in queries.ordered_components(list(page.components.select_related("group")
                                                                 .prefetch_related("monitors")))
                      if c.showcase and not c.is_group]
        uptime = queries.uptime_by_day(components, start, end, tz)
        months = []
        for offset in (-2, -1, 0):
            y, m = _shift(year, month, offset)
            days = [dt.date(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1)]
            rows = []
            for c in components:
                per_day = {d: uptime.get(c.pk, {}).get(d) for d in days}
                cells = [(d, _uptime_class(v), "no data" if v is None else f"{v * 100:.2f}%")
                         for d, v in per_day.items()]
                total = queries.uptime_total(per_day)
                rows.append({"c": c, "cells": cells, "total": None if total is None else f"{total * 100:.2f}"})
            months.append({"label": dt.date(y, m, 1), "lead": range(dt.date(y, m, 1).weekday()), "rows": rows})
        return render_to_string("statuspages/public/uptime.html", {
            "page": page, "months": months, "prev": _ym(*_shift(year, month, -3)),
            "next": _ym(*_shift(year, month, 3)), "root": prefix(request, _slug(request, slug)),
            "stale_mark": STALE_MARK}).encode(), HTML
    return _serve(request, slug, renderer, name=f"uptime/{year:04d}-{month:02d}")


# --- JSON (Statuspage API v2) ----------------------------------------------------------------

def _json(data) -> tuple[bytes, str]:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(), JSON


def _v2(request, slug, build):
    def renderer(page):
        url = page_url(request, page)
        return _json(build(page, url))
    return _serve(request, slug, renderer)


def _page_obj(page, url, components=None, incidents=(), maints=()):
    components = components if components is not None else list(page.components.all())
    return v2.page_json(page, url, queries.page_updated_at(page, components, incidents, maints))


@require_safe
def summary_json(request, slug=None):
    def build(page, url):
        snap = queries.public_snapshot(page, url)
        return {"page": v2.page_json(page, url, snap["updated_at"]),
                "components": v2.components_json(_flat(snap["components"]), page),
                "incidents": [v2.incident_json(i, page, url) for i in snap["incidents"]],
                "scheduled_maintenances": [v2.maintenance_json(m, page, url) for m in snap["maintenances"]],
                "status": snap["status"]}
    return _v2(request, slug, build)


def _flat(components):
    return sorted(components, key=lambda c: (c.position, c.pk))


@require_safe
def status_json(request, slug=None):
    def build(page, url):
        snap = queries.public_snapshot(page, url)
        return {"page": v2.page_json(page, url, snap["updated_at"]), "status": snap["status"]}
    return _v2(request, slug, build)


@require_safe
def components_json(request, slug=None):
    def build(page, url):
        components = list(page.components.select_related("group").order_by("position", "id"))
        return {"page": _page_obj(page, url, components), "components": v2.components_json(components, page)}
    return _v2(request, slug, build)


@require_safe
def incidents_json(request, slug=None, unresolved=False):
    def build(page, url):
        incidents = queries.unresolved_incidents(page) if unresolved else queries.recent_incidents(page)
        return {"page": _page_obj(page, url, None, incidents),
                "incidents": [v2.incident_json(i, page, url) for i in incidents]}
    return _v2(request, slug, build)


@require_safe
def maintenances_json(request, slug=None, which="all"):
    def build(page, url):
        maints = queries.maintenances(page, which)
        return {"page": _page_obj(page, url, None, (), maints),
                "scheduled_maintenances": [v2.maintenance_json(m, page, url) for m in maints]}
    return _v2(request, slug, build)


# --- feeds and badge -------------------------------------------------------------------------

def _feed(request, slug, feed_class, ctype):
    def renderer(page):
        url = page_url(request, page)
        feed = feed_class(title=f"{page.name} status — incident history", link=url,
                          description=f"Incidents and maintenance on the {page.name} status page",
                          language="en", feed_url=request.build_absolute_uri())
        items = [(i, "incidents") for i in queries.recent_incidents(page, 50)] + \
                [(m, "maintenance") for m in queries.maintenances(page, "all", 50)]
        items.sort(key=lambda pair: pair[0].created_at, reverse=True)
        for item, kind in items[:50]:
            updates = sorted(item.updates.all(), key=lambda u: (u.display_at, u.pk), reverse=True)
            text = "".join(f"<p><strong>{escape(u.status.replace('_', ' ').title())}</strong> "
                           f"({u.display_at:%Y-%m-%d %H:%M %Z}) — {escape(u.body)}</p>" for u in updates)
            link = f"{url.rstrip('/')}/{kind}/{item.code}"
            feed.add_item(title=item.name, link=link, description=text, unique_id=link,
                          pubdate=item.created_at, updateddate=item.updated_at)
        return feed.writeString("utf-8").encode(), ctype
    return _serve(request, slug, renderer)


@require_safe
def history_atom(request, slug=None):
    return _feed(request, slug, feedgenerator.Atom1Feed, "application/atom+xml; charset=utf-8")


@require_safe
def history_rss(request, slug=None):
    return _feed(request, slug, feedgenerator.Rss201rev2Feed, "application/rss+xml; charset=utf-8")


BADGE_COLOURS = {"none": "#2b8a3e", "minor": "#b35900", "major": "#c2410c", "critical": "#c92a2a"}


def _text_width(text: str) -> int:
    return int(sum(7 if ch.isupper() or ch in "mwMW" else 6 for ch in text)) + 12


@require_safe
def badge_svg(request, slug=None):
    """An embeddable badge: "status | All Systems Operational", coloured by indicator."""
    def renderer(page):
        snap = queries.public_snapshot(page, page_url(request, page))
        status = snap["status"]
        left, right = "status", status["description"]
        lw, rw = _text_width(left), _text_width(right)
        colour = BADGE_COLOURS[status["indicator"]]
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" '
               f'aria-label="{escape(page.name)} status: {escape(right)}"><title>{escape(page.name)} status: '
               f'{escape(right)}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{rw}" '
               f'height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" '
               f'font-size="11"><text x="6" y="14">{left}</text><text x="{lw + 6}" y="14">{escape(right)}</text>'
               f'</g></svg>')
        return svg.encode(), "image/svg+xml"
    return _serve(request, slug, renderer)


@require_safe
def logo(request, slug=None):
    def renderer(page):
        if not page.logo:
            raise Http404("no logo")
        return bytes(page.logo), page.logo_type
    return _serve(request, slug, renderer)


# --- forms: password, subscribe, confirm, unsubscribe ----------------------------------------
# These forms are on cached public pages, which carry no CSRF token; none of them acts
# on a signed-in user's behalf (subscribing needs the e-mail's confirmation link), so
# they are exempt.

@csrf_exempt
@require_POST
def access_view(request, slug=None):
    slug = _slug(request, slug)
    page = StatusPage.objects.filter(slug=slug, access=StatusPage.Access.PASSWORD).first()
    if page is None:
        raise Http404("no such page")
    target = request.POST.get("next") or prefix(request, slug)
    if not target.startswith(prefix(request, slug)):
        target = prefix(request, slug)
    if not page.check_password(request.POST.get("password", "")):
        return _private(render(request, "statuspages/public/password.html",
                               {"action": prefix(request, slug) + "access", "next": target,
                                "error": "That password is not right."}, status=401))
    response = HttpResponseRedirect(target)
    meta = access_meta(page)
    response.set_cookie(PASSWORD_COOKIE.format(code=page.code),
                        signing.dumps({"p": page.code, "h": meta["pw"]}, salt="statuspages.access"),
                        max_age=PASSWORD_MAX_AGE, httponly=True, samesite="Lax", secure=request.is_secure())
    return response


def _form_page(request, slug, title, message, status=200, **extra):
    return _private(render(request, "statuspages/public/message.html",
                           {"title": title, "message": message, "root": prefix(request, slug), **extra},
                           status=status))


SUBSCRIBE_LIMIT = 10  # subscription requests per client address per hour


def _too_many_subscriptions(request) -> bool:
    """A stranger must not make us mail a thousand addresses: a small per-address budget
    (the shared cache counts across processes when it is Redis)."""
    from django.core.cache import cache as shared

    key = f"sp:subscribe:{request.META.get('REMOTE_ADDR', '')}"
    try:
        shared.add(key, 0, 3600)
        return shared.incr(key) > SUBSCRIBE_LIMIT
    except Exception:
        return False


@csrf_exempt
@require_POST
def subscribe_view(request, slug=None):
    slug = _slug(request, slug)
    page = StatusPage.objects.filter(slug=slug).first()
    if page is None:
        raise Http404("no such page")
    reason = check_access(request, access_meta(page))
    if reason:
        return _denied(request, slug, reason)
    if _too_many_subscriptions(request):
        return _form_page(request, slug, "Too many requests", "Too many subscriptions from your address; "
                          "please try again in an hour.", status=429)
    try:
        actions.subscribe_email(page, request.POST.get("email", ""), components=request.POST.getlist("components"),
                                source=Door.WEB)
    except DomainError as exc:
        return _form_page(request, slug, "Subscription not started", exc.message, status=exc.status_code)
    return _form_page(request, slug, "Check your e-mail",
                      "If this address is not subscribed yet, we have sent it a link to confirm the subscription.")


@require_safe
def confirm_view(request, token, slug=None):
    slug = _slug(request, slug)
    try:
        actions.confirm_subscriber(token)
    except DomainError as exc:
        return _form_page(request, slug, "Link not valid", exc.message, status=exc.status_code)
    return _form_page(request, slug, "Subscribed", "You will get an e-mail when we post incidents or maintenance.")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token, slug=None):
    """GET shows one button (link scanners must not unsubscribe anyone by fetching the
    link); POST unsubscribes, also as an RFC 8058 one-click request from a mail client."""
    slug = _slug(request, slug)
    if request.method == "GET":
        try:
            subscriber = actions.subscriber_from_token(token, "unsubscribe")
        except DomainError as exc:
            return _form_page(request, slug, "Link not valid", exc.message, status=exc.status_code)
        return _form_page(request, slug, "Unsubscribe", f"Stop e-mails about {subscriber.page.name} to "
                          f"{subscriber.email or subscriber.url}?", form_action=request.path,
                          button="Unsubscribe")
    try:
        actions.unsubscribe(token)
    except DomainError as exc:
        return _form_page(request, slug, "Link not valid", exc.message, status=exc.status_code)
    return _form_page(request, slug, "Unsubscribed", "You will not get any more e-mails from this status page.")


def component_choices(page) -> list[Component]:
    return list(page.components.filter(is_group=False).order_by("position", "id"))
