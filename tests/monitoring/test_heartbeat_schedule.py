"""When a heartbeat is expected: period + grace, and cron expressions read in the
heartbeat's time zone, across daylight-saving changes."""

import datetime as dt

import pytest

from monitoring.heartbeats import schedule
from monitoring.heartbeats.schedule import Timing, next_cron_time

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("expression, zone, after, expected", [
    # Amsterdam, spring forward (last Sunday of March 2026 = 29th: 02:00 CET → 03:00 CEST).
    ("0 2 * * *", "Europe/Amsterdam", "2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00"),
    ("0 2 * * *", "Europe/Amsterdam", "2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"),
    ("30 2 * * *", "Europe/Amsterdam", "2026-03-29T00:00:00+01:00", "2026-03-29T03:00:00+02:00"),
    # Amsterdam, fall back (last Sunday of October 2026 = 25th: 03:00 CEST → 02:00 CET): once, the first 02:00.
    ("0 2 * * *", "Europe/Amsterdam", "2026-10-24T02:30:00+02:00", "2026-10-25T02:00:00+02:00"),
    ("0 2 * * *", "Europe/Amsterdam", "2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+01:00"),
    ("0 2 * * *", "Europe/Amsterdam", "2026-10-25T02:10:00+01:00", "2026-10-26T02:00:00+01:00"),
    # Hourly through the fall-back hour: the repeated 02:30 counts once.
    ("30 * * * *", "Europe/Amsterdam", "2026-10-25T02:40:00+02:00", "2026-10-25T03:30:00+01:00"),
    # New York springs forward on 8 March 2026.
    ("15 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", "2026-03-08T03:00:00-04:00"),
    ("0 9 * * 1-5", "America/New_York", "2026-03-06T09:00:00-05:00", "2026-03-09T09:00:00-04:00"),
    # Sydney falls back on 5 April 2026 (03:00 AEDT → 02:00 AEST).
    ("0 2 * * *", "Australia/Sydney", "2026-04-04T12:00:00+11:00", "2026-04-05T02:00:00+11:00"),
    # No DST in Tokyo; a time zone east of UTC moves the day.
    ("0 0 * * *", "Asia/Tokyo", "2026-03-02T09:00:00+00:00", "2026-03-03T00:00:00+09:00"),
    ("@daily", "UTC", "2026-03-02T09:00:00+00:00", "2026-03-03T00:00:00+00:00"),
    ("*/15 * * * *", "Asia/Kolkata", "2026-03-02T09:00:00+05:30", "2026-03-02T09:15:00+05:30"),
])
def test_next_cron_time_in_the_heartbeats_zone(expression, zone, after, expected):
    assert next_cron_time(expression, zone, at(after)) == at(expected)


@pytest.mark.parametrize("expression", ["", "0 2 * *", "61 * * * *", "0 2 * * * *", "@reboot", "hello"])
def test_bad_cron_expressions_are_refused_with_a_reason(expression):
    with pytest.raises(schedule.ScheduleError):
        schedule.validate_cron(expression)


def test_unknown_time_zone_is_refused():
    with pytest.raises(schedule.ScheduleError, match="not a known time zone"):
        schedule.validate_time_zone("Mars/Olympus_Mons")


def test_simple_schedule_is_up_then_late_within_grace_then_down():
    timing = Timing(kind="simple", period=dt.timedelta(hours=1), grace=dt.timedelta(minutes=10))
    last = at("2026-03-02T09:00:00+00:00")
    assert timing.state_at(last + dt.timedelta(minutes=59), last, None) == "up"
    assert timing.state_at(last + dt.timedelta(minutes=60), last, None) == "late"
    assert timing.state_at(last + dt.timedelta(minutes=69), last, None) == "late"
    assert timing.state_at(last + dt.timedelta(minutes=70), last, None) == "down"
    assert timing.next_sweep_at("up", last, None) == last + dt.timedelta(hours=1)
    assert timing.next_sweep_at("late", last, None) == last + dt.timedelta(minutes=70)
    assert timing.next_sweep_at("down", last, None) is None


def test_a_started_run_is_not_late_but_down_after_grace():
    timing = Timing(kind="simple", period=dt.timedelta(hours=1), grace=dt.timedelta(minutes=10))
    last = at("2026-03-02T09:00:00+00:00")
    start = last + dt.timedelta(minutes=5)
    assert timing.state_at(start + dt.timedelta(minutes=9), last, start) == "up"
    assert timing.state_at(start + dt.timedelta(minutes=10), last, start) == "down"
    assert timing.next_sweep_at("up", last, start) == start + dt.timedelta(minutes=10)


def test_cron_schedule_is_late_after_the_next_cron_time():
    timing = Timing(kind="cron", period=dt.timedelta(0), grace=dt.timedelta(minutes=30), cron="0 2 * * *",
                    time_zone="Europe/Amsterdam")
    last = at("2026-03-28T02:01:00+01:00")
    expected = at("2026-03-29T03:00:00+02:00")  # 02:00 does not exist that night
    assert timing.late_at(last) == expected
    assert timing.down_at(last, None) == expected + dt.timedelta(minutes=30)
