"""Fatigue: the team's limits checked against a schedule's final shifts (consecutive
shifts without a proper rest) and against the pages people actually received (per
shift, per night). Breaches are warnings: the editor shows them, the report lists them.

A "shift" is one rotation turn (or one override) a person holds, even where a higher
layer cuts it into pieces; a run of shifts separated by less than `min_rest_hours`
counts as consecutive. Pages are counted per incident: several methods or repeats for
the same incident wake a person once.
"""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps

from oncall.schedules.models import FatigueLimits
from oncall.schedules.rotation import Segment


@dataclass(frozen=True)
class Breach:
    kind: str  # "consecutive_shifts" | "pages_per_shift" | "pages_per_night"
    user_id: int
    start: dt.datetime
    end: dt.datetime
    count: int
    limit: int

    @property
    def text(self) -> str:
        if self.kind == "consecutive_shifts":
            return f"{self.count} shifts in a row (limit {self.limit})"
        if self.kind == "pages_per_shift":
            return f"paged for {self.count} incidents in one shift (limit {self.limit})"
        return f"paged for {self.count} incidents in one night (limit {self.limit})"


def limits_for(team_id: int) -> FatigueLimits | None:
    return FatigueLimits.objects.filter(team_id=team_id).first()


def held_shifts(segments: list[Segment]) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """{user id: [(start, end)]}: each rotation turn or override a person holds, its
    pieces joined, sorted by start."""
    by_slot: dict[tuple, list] = {}
    for seg in segments:
        key = (seg.user_id, seg.slot)
        span = by_slot.get(key)
        if span is None:
            by_slot[key] = [seg.start, seg.end]
        else:
            span[0], span[1] = min(span[0], seg.start), max(span[1], seg.end)
    out: dict[int, list] = defaultdict(list)
    for (user_id, _), (start, end) in by_slot.items():
        out[user_id].append((start, end))
    for spans in out.values():
        spans.sort()
    return out


def consecutive_breaches(segments: list[Segment], limits: FatigueLimits | None) -> list[Breach]:
    if limits is None or not limits.max_consecutive_shifts:
        return []
    rest = dt.timedelta(hours=limits.min_rest_hours)
    breaches = []
    for user_id, spans in held_shifts(segments).items():
        run_start, run_end, count = None, None, 0
        for start, end in spans + [(None, None)]:
            if start is not None and run_end is not None and start - run_end < rest:
                count += 1
                run_end = max(run_end, end)
                continue
            if count > limits.max_consecutive_shifts:
                breaches.append(Breach("consecutive_shifts", user_id, run_start, run_end, count,
                                       limits.max_consecutive_shifts))
            run_start, run_end, count = start, end, 1
    breaches.sort(key=lambda b: (b.start, b.user_id))
    return breaches


def _page_model():
    # The escalation part of oncall defines Page; read it only if it exists.
    try:
        return apps.get_model("oncall", "Page")
    except LookupError:
        return None


def pages_by_user(user_ids, start: dt.datetime, end: dt.datetime) -> dict[int, list[tuple[dt.datetime, int]]]:
    """{user id: [(page time, incident id)]}, sorted by time."""
    Page = _page_model()
    if Page is None or not user_ids:
        return {}
    rows = (Page.objects.filter(recipient_id__in=list(user_ids), created_at__gte=start, created_at__lt=end)
            .values_list("recipient_id", "incident_id", "created_at").order_by("created_at"))
    out: dict[int, list] = defaultdict(list)
    for user_id, incident_id, created_at in rows:
        out[user_id].append((created_at, incident_id))
    return out


def page_breaches(segments: list[Segment], limits: FatigueLimits | None, start: dt.datetime, end: dt.datetime,
                  time_zones: dict[int, str]) -> list[Breach]:
    """Shifts and nights (in each person's own time zone) with more paged incidents than
    the limits allow."""
    if limits is None or not (limits.max_pages_per_shift or limits.max_pages_per_night):
        return []
    pages = pages_by_user({s.user_id for s in segments}, start, end)
    breaches = []
    if limits.max_pages_per_shift:
        for user_id, spans in held_shifts(segments).items():
            times = [t for t, _ in pages.get(user_id, [])]
            for s_start, s_end in spans:
                lo, hi = bisect.bisect_left(times, s_start), bisect.bisect_left(times, s_end)
                incidents = {pages[user_id][k][1] for k in range(lo, hi)}
                if len(incidents) > limits.max_pages_per_shift:
                    breaches.append(Breach("pages_per_shift", user_id, s_start, s_end, len(incidents),
                                           limits.max_pages_per_shift))
    if limits.max_pages_per_night:
        for user_id, user_pages in pages.items():
            zone = zoneinfo.ZoneInfo(time_zones.get(user_id) or "UTC")
            nights: dict[dt.date, set] = defaultdict(set)
            for created_at, incident_id in user_pages:
                night = night_of(created_at.astimezone(zone), limits.night_starts, limits.night_ends)
                if night is not None:
                    nights[night].add(incident_id)
            for night, incidents in sorted(nights.items()):
                if len(incidents) > limits.max_pages_per_night:
                    n_start, n_end = night_window(night, zone, limits.night_starts, limits.night_ends)
                    breaches.append(Breach("pages_per_night", user_id, n_start, n_end, len(incidents),
                                           limits.max_pages_per_night))
    breaches.sort(key=lambda b: (b.start, b.user_id))
    return breaches


def night_of(local: dt.datetime, starts: dt.time, ends: dt.time) -> dt.date | None:
    """The date the night containing this local time began on, or None by day."""
    t = local.time()
    if starts > ends:  # the usual 22:00–07:00
        if t >= starts:
            return local.date()
        if t < ends:
            return local.date() - dt.timedelta(days=1)
        return None
    return local.date() if starts <= t < ends else None


def night_window(night: dt.date, zone, starts: dt.time, ends: dt.time) -> tuple[dt.datetime, dt.datetime]:
    end_day = night + dt.timedelta(days=1) if starts > ends else night
    return (dt.datetime.combine(night, starts, tzinfo=zone).astimezone(dt.UTC),
            dt.datetime.combine(end_day, ends, tzinfo=zone).astimezone(dt.UTC))
