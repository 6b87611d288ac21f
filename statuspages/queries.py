"""Reads: permission-scoped lists for the management doors, and what a public page shows
(components, incidents, maintenance, uptime)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from alertum.core.errors import NotFound
from alertum.core.models import Role
from alertum.core.permissions import is_admin, teams_with_role
from statuspages import v2
from statuspages.models import (
    UNRESOLVED,
    Component,
    ComponentStatusChange,
    Notice,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
    StatusPage,
)

# Downtime weights of the uptime bars: a major outage counts fully, a partial one 30%
# (Statuspage's / Instatus's convention); degraded and maintenance count as up.
DOWNTIME_WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}
HISTORY_DAYS = 90


# --- management -----------------------------------------------------------------------------

def visible_pages(user) -> QuerySet[StatusPage]:
    qs = StatusPage.objects.select_related("team")
    if is_admin(user):
        return qs
    return qs.filter(team_id__in=teams_with_role(user, Role.VIEWER))


def get_page_for_user(user, slug: str) -> StatusPage:
    page = visible_pages(user).filter(slug=slug).first()
    if page is None:
        raise NotFound(f"no status page {slug!r}")
    return page


def page_components(page: StatusPage) -> list[Component]:
    return list(Component.objects.filter(page=page).select_related("group")
                .prefetch_related("services", "monitors").order_by("position", "id"))


def ordered_components(components) -> list[Component]:
    """Groups with their children right after them, by position (the page's order)."""
    top = [c for c in components if c.group_id is None]
    children = defaultdict(list)
    for c in components:
        if c.group_id:
            children[c.group_id].append(c)
    out = []
    for c in sorted(top, key=lambda c: (c.position, c.pk)):
        out.append(c)
        out.extend(sorted(children.get(c.pk, []), key=lambda c: (c.position, c.pk)))
    return out


def failed_notices(page: StatusPage) -> QuerySet[Notice]:
    return Notice.objects.filter(page=page, state=Notice.State.FAILED).select_related("subscriber")


# --- public ---------------------------------------------------------------------------------

def _incidents(page, q) -> QuerySet[PublicIncident]:
    return PublicIncident.objects.filter(page=page).filter(q).prefetch_related(
        Prefetch("updates", queryset=PublicUpdate.objects.order_by("-display_at", "-id")),
        Prefetch("components", queryset=Component.objects.select_related("group")))


def unresolved_incidents(page) -> list[PublicIncident]:
    return list(_incidents(page, Q(status__in=UNRESOLVED)).order_by("-created_at", "-id"))


def recent_incidents(page, limit=50) -> list[PublicIncident]:
    return list(_incidents(page, Q()).order_by("-created_at", "-id")[:limit])


def incidents_between(page, start, end) -> list[PublicIncident]:
    return list(_incidents(page, Q(created_at__gte=start, created_at__lt=end)).order_by("-created_at", "-id"))


def maintenances(page, which: str = "all", limit=50) -> list[PublicMaintenance]:
    qs = PublicMaintenance.objects.filter(page=page).select_related("window").prefetch_related(
        Prefetch("updates", queryset=PublicUpdate.objects.order_by("-display_at", "-id")),
        Prefetch("components", queryset=Component.objects.select_related("group")))
    if which == "upcoming":
        qs = qs.filter(status="scheduled", cancelled=False)
    elif which == "active":
        qs = qs.filter(status__in=["in_progress", "verifying"])
    elif which == "summary":
        qs = qs.filter(status__in=["scheduled", "in_progress", "verifying"], cancelled=False)
    return list(qs.order_by("-window__starts_at", "-id")[:limit])


def page_updated_at(page, components, incidents, maints):
    stamps = [page.updated_at, *(c.updated_at for c in components), *(i.updated_at for i in incidents),
              *(m.updated_at for m in maints)]
    return max(stamps)


def day_bounds(day: dt.date, tz) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(day, dt.time(), tz), dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz))


def uptime_by_day(components, start: dt.date, end: dt.date, tz, now=None) -> dict[int, dict[dt.date, float | None]]:
    """{component id: {day: fraction up, or None for no data}} from start to end
    inclusive, days cut in the page's time zone.

    From the component's own status history (major outage counts fully, partial 30%),
    and, where it links monitors, their uptime from monitoring's roll-ups: the day's
    figure is the lower of the two. Days before the component existed (or before its
    start date), and the future, have no data."""
    now = now or timezone.now()
    leaves = [c for c in components if not c.is_group]
    ids = [c.pk for c in leaves]
    if not ids:
        return {}
    range_start, _ = day_bounds(start, tz)
    _, range_end = day_bounds(end, tz)
    before = ComponentStatusChange.objects.filter(component=OuterRef("pk"), at__lt=range_start).order_by("-at", "-id")
    initial = dict(Component.objects.filter(pk__in=ids).annotate(s=Subquery(before.values("status")[:1]))
                   .values_list("pk", "s"))
    changes = defaultdict(list)
    for cid, at, status in (ComponentStatusChange.objects.filter(component_id__in=ids, at__gte=range_start,
                                                                 at__lt=range_end)
                            .order_by("at", "id").values_list("component_id", "at", "status")):
        changes[cid].append((at, status))
    monitor_days = _monitor_uptime(leaves, start, end, tz)
    out = {}
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    # Day bounds once for all components (zone arithmetic is most of this loop's cost).
    bounds = [(day, *day_bounds(day, tz)) for day in days]
    for c in leaves:
        born = c.created_at
        if c.start_date:
            born = min(born, dt.datetime.combine(c.start_date, dt.time(), tz))
        # Stretches (from, to, status) covering the range from the component's birth.
        spans, cursor, status = [], max(range_start, born), initial.get(c.pk) or "operational"
        for at, new in changes[c.pk]:
            if at > cursor:
                spans.append((cursor, at, status))
            cursor, status = max(cursor, at), new
        spans.append((cursor, max(cursor, min(range_end, now)), status))
        per_day = {}
        for day, lo, hi in bounds:
            hi = min(hi, now)
            covered = down = 0.0
            for a, b, s in spans:
                if b <= lo or a >= hi:
                    continue
                overlap = (min(b, hi) - max(a, lo)).total_seconds()
                if overlap > 0:
                    covered += overlap
                    down += overlap * DOWNTIME_WEIGHT.get(s, 0.0)
            value = None if covered <= 0 else 1.0 - down / covered
            for monitor_value in monitor_days.get(c.pk, {}).get(day, []):
                value = monitor_value if value is None else min(value, monitor_value)
            per_day[day] = value
        out[c.pk] = per_day
    return out


def _monitor_uptime(components, start, end, tz) -> dict[int, dict[dt.date, list[float]]]:
    links = defaultdict(list)
    for c in components:
        for m in c.monitors.all():
            links[c.pk].append(m.pk)
    if not links:
        return {}
    try:
        from monitoring import queries as monitoring_queries
    except ImportError:
        return {}
    reader = getattr(monitoring_queries, "uptime_by_day", None)
    if reader is None:
        return {}
    per_monitor = reader(sorted({m for ms in links.values() for m in ms}), start, end, tz=str(tz))
    out: dict[int, dict[dt.date, list[float]]] = {}
    for cid, monitor_ids in links.items():
        days = out.setdefault(cid, defaultdict(list))
        for mid in monitor_ids:
            for day, value in per_monitor.get(mid, {}).items():
                if value is not None:
                    days[day].append(value)
    return out


def uptime_total(per_day: dict) -> float | None:
    values = [v for v in per_day.values() if v is not None]
    return sum(values) / len(values) if values else None


def public_snapshot(page: StatusPage, url: str, now=None) -> dict:
    """Everything the page and summary.json show, in a few queries."""
    now = now or timezone.now()
    components = ordered_components(list(Component.objects.filter(page=page).select_related("group")
                                         .prefetch_related("monitors")))
    incidents = unresolved_incidents(page)
    maints = maintenances(page, "summary")
    return {"page": page, "url": url, "components": components, "incidents": incidents, "maintenances": maints,
            "status": v2.overall_status(components, incidents),
            "updated_at": page_updated_at(page, components, incidents, maints)}
