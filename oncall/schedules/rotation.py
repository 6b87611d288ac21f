"""Rotation maths: the final schedule as interval arithmetic, without the database.

Each layer yields its rotation shifts inside a window (a handful per week, not one per
minute), clipped to its restriction windows; overrides sit above every layer. One sweep
over all interval boundaries, with a heap keyed by priority, then says who holds each
stretch of time. A year of a 10-layer schedule is a few thousand intervals, so the
whole year costs milliseconds to tens of milliseconds, and one instant costs microseconds.

Time rules (the part that DST makes interesting):
- hour rotations count real elapsed hours from the first handoff (an 8-hour shift is
  8 hours long even on the night the clocks change);
- day and week rotations repeat the first handoff's wall-clock time in the schedule's
  zone (a 09:00 handoff stays at 09:00, so that day has 23 or 25 hours);
- restrictions are wall-clock windows in the schedule's zone. As in RFC 5545 (so that
  calendars agree with us), a wall-clock time that does not exist (02:30 on the
  spring-forward night) is read with the offset before the jump (it becomes 03:30), and
  an ambiguous one (autumn) means its first occurrence (`fold=0`).
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RestrictionSpec:
    weekdays: frozenset[int]
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True)
class LayerSpec:
    id: int
    level: int
    unit: str  # "hours" | "days" | "weeks"
    length: int
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    participants: tuple[int, ...]  # user ids in rotation order
    restrictions: tuple[RestrictionSpec, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    id: int
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    tz: ZoneInfo
    layers: tuple[LayerSpec, ...]
    overrides: tuple[OverrideSpec, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time held by one user. `slot` names the underlying shift (the layer
    and the rotation turn, or the override), so pieces cut apart by higher layers can
    be recognised as one shift."""

    start: dt.datetime
    end: dt.datetime
    user_id: int
    source: str  # "layer:<id>" | "override:<id>"
    slot: tuple


def to_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: schedule maths needs aware datetimes")
    return value.astimezone(UTC)


def wall_to_utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A naive wall-clock time in `tz` as UTC, read as RFC 5545 reads local times: a
    skipped time uses the offset before the gap, an ambiguous one its first occurrence."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


# --- one layer ---------------------------------------------------------------------------

def rotation_shifts(layer: LayerSpec, tz: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """Yield (turn index, shift start, shift end) of the layer's rotation overlapping
    [start, end), clipped to the layer's own start and end."""
    if not layer.participants:
        return
    lo = max(start, layer.starts_at)
    hi = min(end, layer.ends_at) if layer.ends_at else end
    if lo >= hi:
        return
    if layer.unit == "hours":
        period = HOUR * layer.length
        i = max(0, int((lo - layer.starts_at) // period))
        shift_start = layer.starts_at + period * i
        while shift_start < hi:
            shift_end = shift_start + period
            if shift_end > lo:
                yield i, max(shift_start, lo), min(shift_end, hi)
            i += 1
            shift_start = shift_end
        return
    days = layer.length * (7 if layer.unit == "weeks" else 1)
    period = DAY * days
    wall0 = layer.starts_at.astimezone(tz).replace(tzinfo=None)
    lo_wall = lo.astimezone(tz).replace(tzinfo=None)
    # One turn early: the wall-clock estimate may be off by the DST hour.
    i = max(0, int((lo_wall - wall0) // period) - 1)
    shift_start = wall_to_utc(wall0 + period * i, tz)
    while shift_start < hi:
        shift_end = wall_to_utc(wall0 + period * (i + 1), tz)
        if shift_end > lo:
            yield i, max(shift_start, lo), min(shift_end, hi)
        i += 1
        shift_start = shift_end


def restriction_windows(restrictions, tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list:
    """The union of the restriction windows overlapping [start, end), as sorted UTC pairs."""
    first = start.astimezone(tz).date() - DAY  # an overnight window from the day before
    last = end.astimezone(tz).date()
    windows = []
    day = first
    while day <= last:
        weekday = day.weekday()
        for r in restrictions:
            if weekday not in r.weekdays:
                continue
            w_start = wall_to_utc(dt.datetime.combine(day, r.start), tz)
            end_day = day + DAY if r.end <= r.start else day
            w_end = wall_to_utc(dt.datetime.combine(end_day, r.end), tz)
            if w_end > start and w_start < end and w_end > w_start:
                windows.append((max(w_start, start), min(w_end, end)))
        day += DAY
    windows.sort()
    merged: list[list] = []
    for w_start, w_end in windows:
        if merged and w_start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], w_end)
        else:
            merged.append([w_start, w_end])
    return [(a, b) for a, b in merged]


def layer_segments(layer: LayerSpec, tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[Segment]:
    """The layer on its own: who it puts on call in [start, end), restrictions applied."""
    source = f"layer:{layer.id}"
    n = len(layer.participants)
    shifts = list(rotation_shifts(layer, tz, start, end))
    if not layer.restrictions:
        return [Segment(a, b, layer.participants[i % n], source, (source, i)) for i, a, b in shifts]
    windows = restriction_windows(layer.restrictions, tz, start, end)
    out = []
    k = 0
    # Both lists are sorted and each is non-overlapping: a two-pointer intersection.
    for i, a, b in shifts:
        while k < len(windows) and windows[k][1] <= a:
            k += 1
        j = k
        while j < len(windows) and windows[j][0] < b:
            s, e = max(a, windows[j][0]), min(b, windows[j][1])
            if s < e:
                out.append(Segment(s, e, layer.participants[i % n], source, (source, i)))
            j += 1
    return out


# --- the final schedule ------------------------------------------------------------------

def final_segments(spec: ScheduleSpec, start: dt.datetime, end: dt.datetime) -> list[Segment]:
    """Who is on call in [start, end): sorted, non-overlapping segments; gaps are absent."""
    start, end = to_utc(start), to_utc(end)
    if start >= end:
        return []
    # (priority, segment): overrides above every layer, newer overrides above older.
    items: list[tuple[tuple, Segment]] = []
    for layer in spec.layers:
        prio = (0, layer.level)
        items.extend((prio, seg) for seg in layer_segments(layer, spec.tz, start, end))
    for o in spec.overrides:
        a, b = max(o.starts_at, start), min(o.ends_at, end)
        if a < b:
            source = f"override:{o.id}"
            items.append(((1, o.id), Segment(a, b, o.user_id, source, (source, 0))))
    if not items:
        return []
    items.sort(key=lambda item: item[1].start)
    points = sorted({seg.start for _, seg in items} | {seg.end for _, seg in items})
    heap: list = []
    out: list[Segment] = []
    j = 0
    n = len(items)
    for k in range(len(points) - 1):
        t = points[k]
        while j < n and items[j][1].start <= t:
            prio, seg = items[j]
            heapq.heappush(heap, ((-prio[0], -prio[1]), j, seg))
            j += 1
        # Lazy deletion: ended items only matter once they reach the top.
        while heap and heap[0][2].end <= t:
            heapq.heappop(heap)
        if not heap:
            continue
        seg = heap[0][2]
        t_next = points[k + 1]
        last = out[-1] if out else None
        if last is not None and last.slot == seg.slot and last.end == t:
            out[-1] = Segment(last.start, t_next, seg.user_id, seg.source, seg.slot)
        else:
            out.append(Segment(t, t_next, seg.user_id, seg.source, seg.slot))
    return out


def gaps(segments: list[Segment], start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The stretches of [start, end) that nobody covers."""
    out = []
    cursor = to_utc(start)
    for seg in segments:
        if seg.start > cursor:
            out.append((cursor, seg.start))
        cursor = max(cursor, seg.end)
    if cursor < to_utc(end):
        out.append((cursor, to_utc(end)))
    return out


def on_call_at(spec: ScheduleSpec, at: dt.datetime) -> list[int]:
    """User ids on call at the instant (one, or none in a gap)."""
    at = to_utc(at)
    segments = final_segments(spec, at, at + dt.timedelta(seconds=1))
    return [segments[0].user_id] if segments and segments[0].start <= at else []


def next_change(spec: ScheduleSpec, after: dt.datetime, horizon: dt.timedelta = dt.timedelta(days=400),
                step: dt.timedelta = dt.timedelta(days=35)):
    """The first instant after `after` at which someone takes over from someone else
    (or from nobody): (instant, incoming user id, outgoing user id or None), or None
    within the horizon. A change to nobody is not a handoff and is skipped."""
    after = to_utc(after)
    current = on_call_at(spec, after)
    previous = current[0] if current else None
    window_start = after
    while window_start < after + horizon:
        window_end = window_start + step
        cursor = window_start
        for seg in final_segments(spec, window_start, window_end):
            if seg.start > cursor:
                previous = None  # a gap before this segment
            if seg.start > after and seg.user_id != previous:
                return seg.start, seg.user_id, previous
            previous = seg.user_id
            cursor = seg.end
        if cursor < window_end:
            previous = None
        window_start = window_end
    return None
