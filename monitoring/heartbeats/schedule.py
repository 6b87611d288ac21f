"""When a heartbeat is expected, and so when it is late and when it is down. Pure functions
of a heartbeat's settings and its last signals; no database.

Two kinds of schedule, as healthchecks.io has them:
- simple: a ping every `period`; late after last ping + period, down `grace` later.
- cron: a ping at each time of a cron expression in the heartbeat's time zone; late after
  the first cron time following the last ping, down `grace` later.

A run that started (a /start ping) and has not finished brings "late" forward to the
start, so it goes down `grace` after the start if no success or failure arrives.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

SIMPLE = "simple"
CRON = "cron"

# Durations longer than this are not pairs but a lost signal (healthchecks.io MAX_DURATION).
MAX_DURATION = dt.timedelta(hours=72)


class ScheduleError(ValueError):
    pass


def validate_cron(expression: str) -> str:
    """The expression, trimmed; ScheduleError saying what is wrong otherwise. Five fields
    (minute hour day month weekday) or a nickname like @daily; no seconds field."""
    text = " ".join((expression or "").split())
    if not text:
        raise ScheduleError("a cron expression is required, e.g. '0 2 * * *' for 02:00 every day")
    if not text.startswith("@") and len(text.split(" ")) != 5:
        raise ScheduleError(f"{text!r} must have five fields: minute hour day-of-month month day-of-week")
    if text == "@reboot" or not croniter.is_valid(text):
        raise ScheduleError(f"{text!r} is not a valid cron expression")
    return text


def validate_time_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not a known time zone (use an IANA name such as Europe/Amsterdam)") from None


def next_cron_time(expression: str, tz_name: str, after: dt.datetime) -> dt.datetime:
    """The first time of the cron expression strictly after `after` (aware), in UTC.

    croniter walks wall-clock times in the heartbeat's zone; each is then placed on the
    time line as Debian's cron (and healthchecks.io's cronsim) runs it: a time inside the
    spring-forward gap (02:30 when clocks jump 02:00→03:00) at the jump, and a time in the
    repeated autumn hour once, at its first occurrence (fold=0).
    """
    zone = validate_time_zone(tz_name)
    local = after.astimezone(zone).replace(tzinfo=None)
    try:
        walker = croniter(expression, local)
        for _ in range(1000):  # a gap can map several wall times onto one instant
            wall = walker.get_next(dt.datetime)
            instant = _instant(wall, zone)
            if instant > after:
                return instant
    except (CroniterBadCronError, CroniterBadDateError) as exc:
        raise ScheduleError(str(exc)) from None
    raise ScheduleError(f"{expression!r} has no time after {after:%Y-%m-%d %H:%M}")


def _instant(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock time; for a time that does not exist (a DST gap),
    the moment the clocks jumped."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In the gap, fold=1 reads the wall time with the offset after the jump and lands
    # before it; fold=0 with the offset before and lands after. The jump lies between.
    low, high = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC), first
    after_offset = high.astimezone(zone).utcoffset()
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


@dataclass(frozen=True)
class Timing:
    """What the schedule needs to know about one heartbeat."""

    kind: str
    period: dt.timedelta
    grace: dt.timedelta
    cron: str = ""
    time_zone: str = "UTC"

    def expected_after(self, last_ping: dt.datetime) -> dt.datetime:
        """When the next ping is due, given the last one."""
        if self.kind == CRON:
            return next_cron_time(self.cron, self.time_zone, last_ping)
        return last_ping + self.period

    def late_at(self, last_ping: dt.datetime | None) -> dt.datetime | None:
        """When an up heartbeat becomes late (None: never, it has not pinged yet)."""
        return None if last_ping is None else self.expected_after(last_ping)

    def down_at(self, last_ping, last_start) -> dt.datetime | None:
        """Grace after the expected ping, or grace after a start that has not finished,
        whichever comes first. A running job is not late, only down if it overruns."""
        candidates = []
        late = self.late_at(last_ping)
        if late is not None:
            candidates.append(late + self.grace)
        if last_start is not None:
            candidates.append(last_start + self.grace)
        return min(candidates) if candidates else None

    def state_at(self, now: dt.datetime, last_ping, last_start) -> str:
        """up / late / down for a heartbeat whose stored state is up or late."""
        down = self.down_at(last_ping, last_start)
        if down is not None and now >= down:
            return "down"
        late = self.late_at(last_ping)
        if late is not None and now >= late:
            return "late"
        return "up"

    def next_sweep_at(self, state: str, last_ping, last_start) -> dt.datetime | None:
        """When the sweeper must next look at this heartbeat: the earliest time its state
        can change without a ping; None for new, down and paused ones (they wait for a ping)."""
        if state not in ("up", "late"):
            return None
        points = [self.down_at(last_ping, last_start)]
        if state == "up":
            points.append(self.late_at(last_ping))
        points = [p for p in points if p is not None]
        return min(points) if points else None
