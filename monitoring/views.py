"""Monitor pages: overview (live over a WebSocket, monitoring/consumers.py), detail,
create / edit with "test now", pause / resume / delete, and the public SVG badge. Thin: queries read, actions write."""

from datetime import timedelta

from django.http import HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from alertum.core.errors import DomainError
from alertum.core.models import Role, Service
from alertum.core.pages import PageDoor
from alertum.core.pages import web_actor as _who
from alertum.core.permissions import is_admin, teams_with_role
from monitoring import actions, badge, queries
from monitoring.checks.http import days_left
from monitoring.forms import FilterForm, MonitorForm
from monitoring.models import Monitor

_DOOR = PageDoor("monitors:overview", "Back to monitors")
page_view = _DOOR.view


FIELDS = ["service", "name", "kind", "config", "interval_seconds", "timeout_seconds", "failure_threshold",
          "success_threshold", "rules", "anomaly_sensitivity"]


def _percent(value) -> str:
    return "no data" if value is None else f"{value * 100:.2f}%"


def _configurable_services(user):
    if is_admin(user):
        return Service.objects.all()
    return Service.objects.filter(owner_team_id__in=teams_with_role(user, Role.RESPONDER))


def overview_rows(user, filters: dict):
    """The overview's rows as HTML, built in Python: a thousand rows through the template
    engine (a url tag, filters and a timesince per row) took ~1 s here, and format_html
    per row a quarter of the render; an f-string per row takes a few ms. Every value that
    is not markup of ours goes through escape()."""
    monitors = list(queries.list_monitors(user, **filters).select_related(None).select_related("service").only(
        "id", "name", "kind", "state", "last_checked_at", "certificate_expires_at", "service__name",
        "service__slug"))
    availability = queries.availability_from_rollups([m.pk for m in monitors], days=90)
    counts = {state: 0 for state in Monitor.State.values}
    prefix = reverse("monitors:overview")
    now = timezone.now()
    states, kinds = dict(Monitor.State.choices), dict(Monitor.Kind.choices)
    prefix, e = escape(prefix), escape
    rows = []
    for m in monitors:
        counts[m.state] += 1
        state = e(m.state)
        rows.append(f'<tr class="monitor-{state}"><td><span class="state state-{state}">{e(states[m.state])}</span>'
                    f'</td><td><a href="{prefix}{int(m.pk)}/">{e(m.name)}</a>'
                    f"{certificate_badge(m.certificate_expires_at, now)}</td><td>{e(m.service.name)}</td>"
                    f"<td>{e(kinds[m.kind])}</td><td>{e(_ago(now, m.last_checked_at))}</td>"
                    f"<td>{e(_percent(availability.get(m.pk)))}</td></tr>")
    return mark_safe("\n".join(rows)), len(monitors), counts  # noqa: S308 (every value escaped above)


def certificate_text(expires_at, now) -> str:
    if expires_at is None:
        return ""
    days = days_left(expires_at, now)
    return f"certificate expires in {days} day{'s' if days != 1 else ''}" if days > 0 else "certificate expired"


def certificate_badge(expires_at, now) -> str:
    """The TLS warning of a monitor whose certificate is inside its warning window."""
    if expires_at is None:
        return ""
    return format_html(' <span class="warning-badge" data-warning="tls" title="{}">{}</span>',
                       f"valid until {expires_at:%Y-%m-%d %H:%M} UTC", certificate_text(expires_at, now))


def _ago(now, when) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago" if seconds < 172_800 else f"{seconds // 86400} days ago"


def _filters(request):
    form = FilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    service = data.get("service")
    return form, {"service": service.slug if service else None, "state": data.get("state") or None,
                  "q": data.get("q") or None}


@page_view
@require_GET
def overview(request):
    form, filters = _filters(request)
    # The version first: rows read after it are at least as new, so a change racing this
    # render makes the live socket ask for one more refresh rather than none.
    version = queries.overview_version()
    rows, total, counts = overview_rows(request.user, filters)
    template = "monitoring/_overview_rows.html" if request.headers.get("HX-Request") else "monitoring/overview.html"
    return render(request, template, {"form": form, "rows": rows, "total": total, "counts": counts,
                                      "version": version,
                                      "query": request.GET.urlencode(),
                                      "can_create": _configurable_services(request.user).exists()})


def _chart(points, width=600, height=120):
    """An inline SVG polyline of p50 latency (and p95 as a lighter line)."""
    values = [p for p in points if p["p50"] is not None]
    if len(values) < 2:
        return None
    top = max(p["p95"] or p["p50"] for p in values) or 1
    t0, t1 = values[0]["at"].timestamp(), values[-1]["at"].timestamp()
    span = (t1 - t0) or 1

    def line(key):
        return " ".join(f"{(p['at'].timestamp() - t0) / span * width:.1f},{height - (p[key] or 0) / top * height:.1f}"
                        for p in values)

    return {"width": width, "height": height, "p50": line("p50"), "p95": line("p95"), "top": top}


@page_view
@require_GET
def detail(request, pk):
    monitor = queries.get_monitor_for_user(request.user, pk)
    now = timezone.now()
    uptime = {label: _percent(queries.uptime_between([monitor.pk], now - timedelta(days=days), now)[monitor.pk])
              for label, days in (("24 h", 1), ("7 d", 7), ("30 d", 30), ("90 d", 90))}
    points = queries.latency_series(monitor, now - timedelta(hours=24), now)
    return render(request, "monitoring/detail.html", {
        "monitor": monitor, "uptime": uptime, "chart": _chart(points), "failures": queries.recent_failures(monitor),
        "certificate_warning": certificate_badge(monitor.certificate_expires_at, now),
        "changes": monitor.status_changes.all()[:20], "badge_url": request.build_absolute_uri(badge.url(monitor)),
        "can_edit": actions.may_configure(request.user, monitor.service),
        "heartbeat_panel": _heartbeat_panel(request, monitor)})


def _heartbeat_panel(request, monitor) -> str:
    """The heartbeats app's ping log panel, once that app ships its template tag."""
    from importlib.util import find_spec

    if monitor.kind != Monitor.Kind.HEARTBEAT:
        return ""
    try:
        if find_spec("monitoring.heartbeats.templatetags.heartbeats") is None:
            return ""
    except ModuleNotFoundError:
        return ""
    from django.template import RequestContext, Template

    template = Template("{% load heartbeats %}{% heartbeat_panel monitor %}")
    return template.render(RequestContext(request, {"monitor": monitor}))


def _form_page(request, form, monitor=None, outcome=None, status=200):
    return render(request, "monitoring/form.html", {"form": form, "monitor": monitor, "outcome": outcome},
                  status=status)


def _save(request, monitor=None):
    services = _configurable_services(request.user)
    if request.method != "POST":
        initial = {f: getattr(monitor, f) for f in FIELDS} if monitor else {}
        if monitor:
            initial["service"] = monitor.service.slug
        return _form_page(request, MonitorForm(initial=initial, services=services), monitor)
    form = MonitorForm(request.POST, services=services)
    if not form.is_valid():
        return _form_page(request, form, monitor, status=422)
    values = form.cleaned_data
    try:
        if "test" in request.POST:
            return _form_page(request, form, monitor, outcome=actions.test_now(values, actor=request.user))
        if monitor is None:
            monitor = actions.create_monitor(**values, **_who(request))
        else:
            monitor = actions.update_monitor(monitor, **values, **_who(request))
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _form_page(request, form, monitor, status=exc.status_code)
    return redirect("monitors:detail", monitor.pk)


@page_view
def create(request):
    return _save(request)


@page_view
def edit(request, pk):
    return _save(request, queries.get_monitor_for_user(request.user, pk))


@page_view
@require_POST
def pause(request, pk):
    actions.pause_monitor(queries.get_monitor_for_user(request.user, pk), **_who(request))
    return redirect("monitors:detail", pk)


@page_view
@require_POST
def resume(request, pk):
    actions.resume_monitor(queries.get_monitor_for_user(request.user, pk), **_who(request))
    return redirect("monitors:detail", pk)


@page_view
@require_POST
def delete(request, pk):
    actions.delete_monitor(queries.get_monitor_for_user(request.user, pk), **_who(request))
    return redirect("monitors:overview")


@require_GET
def badge_svg(request, token):
    """Public: anyone with the signed link sees the monitor's name and state, nothing else."""
    monitor_id = badge.monitor_id(token)
    monitor = Monitor.objects.filter(pk=monitor_id).only("name", "state").first() if monitor_id else None
    if monitor is None:
        return HttpResponseNotFound("unknown badge", content_type="text/plain")
    response = HttpResponse(badge.svg(monitor.name, monitor.state), content_type="image/svg+xml")
    response["Cache-Control"] = "max-age=30"
    return response
