"""Permission-scoped reads of monitors, and the figures other apps build on: uptime per
day (status pages' 90-day bars) and current states (derived component status).

Uptime comes from StatusChange rows: time spent up (or late, still inside its grace)
against time spent down. Time when the monitor was new, paused or did not exist yet is
no data, and a day with no data is None — never 100%.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from alertum.core.errors import NotFound
from alertum.core.models import Role
from alertum.core.permissions import is_admin, is_member_anywhere, teams_with_role
from monitoring.models import Monitor, Rollup, StatusChange

UP_STATES = {Monitor.State.UP, Monitor.State.LATE}
DOWN_STATES = {Monitor.State.DOWN}


def may_see_monitors(user) -> bool:
    """Any team member sees every monitor (as incidents: operations are shared knowledge);
    people in no team and anonymous users see none. The live overview's socket asks this."""
    return is_admin(user) or is_member_anywhere(user)


def monitors_visible_to(user) -> QuerySet[Monitor]:
    qs = Monitor.objects.select_related("service", "service__owner_team")
    if may_see_monitors(user):
        return qs
    return qs.none()


def overview_version() -> str:
    """A token that moves whenever the overview's rows could: every create, edit and state
    change saves the monitor (moving `updated_at`) and a delete lowers the count. Check
    results and pings that change nothing do not move it. The page holds the version it
    was rendered from, so the live socket can tell it what it missed while disconnected."""
    summary = Monitor.objects.aggregate(n=Count("id"), latest=Max("updated_at"))
    latest = summary["latest"]
    return f"{summary['n']}.{latest.timestamp():.6f}" if latest else f"{summary['n']}.0"


def monitors_configurable_by(user) -> QuerySet[Monitor]:
    qs = Monitor.objects.select_related("service")
    if is_admin(user):
        return qs
    return qs.filter(service__owner_team_id__in=teams_with_role(user, Role.RESPONDER))


def get_monitor_for_user(user, pk) -> Monitor:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(f"monitor {pk} does not exist") from None
    monitor = monitors_visible_to(user).filter(pk=pk).first()
    if monitor is None:
        raise NotFound(f"monitor {pk} does not exist")
    return monitor


def list_monitors(user, *, service: str | None = None, state: str | None = None, kind: str | None = None,
                  q: str | None = None) -> QuerySet[Monitor]:
    qs = monitors_visible_to(user)
    if service:
        qs = qs.filter(service__slug=service)
    if state:
        qs = qs.filter(state__in=state.split(","))
    if kind:
        qs = qs.filter(kind__in=kind.split(","))
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(service__name__icontains=q))
    return qs.order_by("service__name", "name")


def current_states(monitor_ids) -> dict[int, str]:
    return dict(Monitor.objects.filter(pk__in=list(monitor_ids)).values_list("pk", "state"))


def _intervals(monitor_ids, start: datetime, end: datetime) -> dict[int, list[tuple[datetime, datetime, str]]]:
    """Per monitor, the (from, to, state) stretches covering [start, end)."""
    ids = list(monitor_ids)
    # The state at `start` is the last change before it: one correlated subquery for all.
    before = StatusChange.objects.filter(monitor=OuterRef("pk"), at__lt=start).order_by("-at", "-id")
    rows = Monitor.objects.filter(pk__in=ids).annotate(initial=Subquery(before.values("to_state")[:1]))
    created, initial = {}, {}
    for pk, created_at, state in rows.values_list("pk", "created_at", "initial"):
        created[pk] = created_at
        if state:
            initial[pk] = state
    changes = defaultdict(list)
    for monitor_id, at, to_state in (StatusChange.objects.filter(monitor_id__in=ids, at__gte=start, at__lt=end)
                                     .order_by("at", "id").values_list("monitor_id", "at", "to_state")):
        changes[monitor_id].append((at, to_state))
    out = {}
    for monitor_id in ids:
        if monitor_id not in created:
            continue
        cursor, state = max(start, created[monitor_id]), initial.get(monitor_id, Monitor.State.NEW)
        spans = []
        for at, to_state in changes[monitor_id]:
            if at > cursor:
                spans.append((cursor, at, state))
            cursor, state = max(cursor, at), to_state
        if end > cursor:
            spans.append((cursor, end, state))
        out[monitor_id] = spans
    return out


def uptime_by_day(monitor_ids, start: date, end: date, tz: str = "UTC") -> dict[int, dict[date, float | None]]:
    """{monitor id: {day: fraction of the day up}} for each day from start to end
    inclusive, days cut in `tz` (DST days have 23 or 25 hours). The fraction counts only
    time with data (up or down); None when the day has none. The future is no data."""
    zone = ZoneInfo(tz)
    now = timezone.now()
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    bounds = [datetime.combine(d, time(), zone) for d in [*days, end + timedelta(days=1)]]
    window_end = min(bounds[-1], now)
    spans = _intervals(monitor_ids, bounds[0], max(window_end, bounds[0]))
    out = {}
    for monitor_id in monitor_ids:
        per_day = {}
        monitor_spans = spans.get(monitor_id, [])
        for i, day in enumerate(days):
            lo, hi = bounds[i], min(bounds[i + 1], window_end)
            up = down = 0.0
            for a, b, state in monitor_spans:
                overlap = (min(b, hi) - max(a, lo)).total_seconds()
                if overlap <= 0:
                    continue
                if state in UP_STATES:
                    up += overlap
                elif state in DOWN_STATES:
                    down += overlap
            per_day[day] = None if up + down <= 0 else up / (up + down)
        out[monitor_id] = per_day
    return out


def uptime_between(monitor_ids, start: datetime, end: datetime) -> dict[int, float | None]:
    """Fraction of [start, end) up, from status changes; None without data."""
    spans = _intervals(monitor_ids, start, min(end, timezone.now()))
    out = {}
    for monitor_id in monitor_ids:
        up = sum((b - a).total_seconds() for a, b, s in spans.get(monitor_id, []) if s in UP_STATES)
        down = sum((b - a).total_seconds() for a, b, s in spans.get(monitor_id, []) if s in DOWN_STATES)
        out[monitor_id] = None if up + down <= 0 else up / (up + down)
    return out


AVAILABILITY_CACHE_SECONDS = 600


def availability_from_rollups(monitor_ids, days: int = 90) -> dict[int, float | None]:
    """Share of checks that passed over today and the `days - 1` days before, from the
    daily roll-ups. The overview shows it for every row: summing 90 days of 1,000
    monitors was most of its render (~70 ms of SQL). The past days' sums are shared by
    every render for AVAILABILITY_CACHE_SECONDS (a late roll-up of a past day shows
    within that); today's roll-ups, the ones still changing, are read every time."""
    monitor_ids = list(monitor_ids)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    key = f"monitoring:availability:{today:%Y-%m-%d}:{days}"
    past = cache.get(key)
    if past is None:
        past = _day_sums(Rollup.objects.filter(bucket__gte=today - timedelta(days=days - 1), bucket__lt=today))
        cache.set(key, past, AVAILABILITY_CACHE_SECONDS)
    live = _day_sums(Rollup.objects.filter(monitor_id__in=monitor_ids, bucket__gte=today))
    out: dict[int, float | None] = {}
    for monitor_id in monitor_ids:
        total, failed = past.get(monitor_id, (0, 0))
        more = live.get(monitor_id, (0, 0))
        total, failed = total + more[0], failed + more[1]
        out[monitor_id] = 1 - failed / total if total else None
    return out


def _day_sums(rollups) -> dict[int, tuple[int, int]]:
    rows = (rollups.filter(granularity=Rollup.Granularity.DAY).values("monitor_id")
            .annotate(total=Sum("count"), failed=Sum("failures")))
    return {row["monitor_id"]: (row["total"] or 0, row["failed"] or 0) for row in rows}


def latency_series(monitor: Monitor, start: datetime, end: datetime, granularity: str | None = None) -> list[dict]:
    """Latency points for a chart: raw results for short spans, roll-ups for long ones."""
    span = end - start
    granularity = granularity or ("raw" if span <= timedelta(hours=6) else
                                  "minute" if span <= timedelta(days=1) else
                                  "hour" if span <= timedelta(days=31) else "day")
    if granularity == "raw":
        return [{"at": at, "p50": latency, "p95": latency, "max": latency, "count": 1, "failures": 0 if ok else 1}
                for at, latency, ok in monitor.results.filter(at__gte=start, at__lt=end).order_by("at")
                .values_list("at", "latency_ms", "ok")]
    return [{"at": r.bucket, "p50": r.latency_p50, "p95": r.latency_p95, "max": r.latency_max, "count": r.count,
             "failures": r.failures}
            for r in monitor.rollups.filter(granularity=granularity, bucket__gte=start, bucket__lt=end)
            .order_by("bucket")]


def recent_failures(monitor: Monitor, limit: int = 20):
    return monitor.results.filter(ok=False).order_by("-at")[:limit]
