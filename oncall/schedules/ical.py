"""iCalendar (RFC 5545) export of final shifts.

Times are written in UTC (`...Z`): an instant in UTC means the same thing in every
calendar application, so a shift that starts at 09:00 Amsterdam time shows at 09:00
before and after the clocks change, without shipping VTIMEZONE definitions that a
client might read differently. The calendar names the schedule's zone for display.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import icalendar
from django.conf import settings
from django.urls import reverse

PAST = dt.timedelta(days=14)
AHEAD = dt.timedelta(days=180)


def _uid(schedule_id: int, user_id: int, start: dt.datetime, source: str) -> str:
    # Stable across refreshes, so calendar apps update events instead of duplicating them.
    digest = hashlib.sha256(f"{schedule_id}|{user_id}|{start.isoformat()}|{source}".encode()).hexdigest()[:24]
    return f"{digest}@alertum"


def calendar(name: str, entries, *, time_zone: str = "UTC", now: dt.datetime) -> bytes:
    """`entries`: (schedule, Shift) pairs. Returns the .ics bytes."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Alertum//On-call schedules//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", time_zone)
    base = settings.ONCALL_BASE_URL.rstrip("/")
    for schedule, shift in entries:
        event = icalendar.Event()
        event.add("uid", _uid(schedule.pk, shift.user.pk, shift.start, shift.source))
        event.add("dtstamp", now.astimezone(dt.UTC))
        event.add("dtstart", shift.start.astimezone(dt.UTC))
        event.add("dtend", shift.end.astimezone(dt.UTC))
        event.add("summary", f"On call: {shift.user} ({schedule.name})")
        event.add("description", f"{shift.user} is on call for {schedule.name} ({schedule.team}).")
        event.add("url", f"{base}{reverse('schedules:detail', args=[schedule.slug])}")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()
