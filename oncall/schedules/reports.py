"""Coverage and fatigue reports over a range: what the editor previews and the report
pages and API list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from alertum.core.models import User
from oncall.schedules import fatigue, queries, rotation
from oncall.schedules.models import Schedule


@dataclass
class CoverageReport:
    schedule: Schedule
    start: dt.datetime
    end: dt.datetime
    segments: list = field(default_factory=list)
    gaps: list = field(default_factory=list)
    breaches: list = field(default_factory=list)
    users: dict = field(default_factory=dict)

    @property
    def covered_percent(self) -> float:
        total = (self.end - self.start).total_seconds()
        uncovered = sum((b - a).total_seconds() for a, b in self.gaps)
        return round(100.0 * (total - uncovered) / total, 2) if total else 100.0

    @property
    def gap_hours(self) -> float:
        return round(sum((b - a).total_seconds() for a, b in self.gaps) / 3600, 1)


def coverage(schedule: Schedule, start: dt.datetime, end: dt.datetime, *, spec: rotation.ScheduleSpec | None = None,
             pages: bool = True) -> CoverageReport:
    """Gaps and fatigue breaches of the schedule over [start, end). `spec` previews an
    unsaved edit; `pages` also checks the pages people received (past ranges)."""
    spec = spec or queries.schedule_spec(schedule, start, end)
    segments = rotation.final_segments(spec, start, end)
    limits = fatigue.limits_for(schedule.team_id)
    # Consecutive shifts are judged with some context before the range, so a run that
    # started earlier is counted whole.
    context = rotation.final_segments(spec, start - dt.timedelta(days=14), end) if limits else segments
    breaches = [b for b in fatigue.consecutive_breaches(context, limits) if b.end > start]
    users = User.objects.in_bulk({s.user_id for s in context})
    if pages and limits:
        breaches += fatigue.page_breaches(segments, limits, start, end,
                                          {pk: u.time_zone for pk, u in users.items()})
    breaches.sort(key=lambda b: (b.start, b.user_id))
    return CoverageReport(schedule, start, end, segments, rotation.gaps(segments, start, end), breaches, users)
