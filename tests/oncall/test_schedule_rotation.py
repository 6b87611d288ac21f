"""Rotation maths: handoffs across DST in three zones, layers, restrictions, overrides,
gaps, and the interval engine against a per-minute reference."""

import datetime as dt
import random
import zoneinfo

import pytest

from alertum.core.models import Door
from oncall.schedules import actions, queries, rotation
from tests.oncall.conftest import local

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def names(people_or_shifts):
    return [getattr(x, "user", x).username for x in people_or_shifts]


def local_times(shifts, tz):
    zone = zoneinfo.ZoneInfo(tz)
    return [(s.start.astimezone(zone).strftime("%m-%d %H:%M"), s.user.username) for s in shifts]


# --- DST --------------------------------------------------------------------------------

def test_daily_rotation_keeps_0900_handoff_across_amsterdam_spring_forward(make_schedule):
    schedule = make_schedule(tz="Europe/Amsterdam", layers=[dict(
        rotation_unit="days", rotation_length=1, starts_at=local("Europe/Amsterdam", 2026, 3, 27, 9),
        participants=["alice", "bob"])])
    shifts = queries.final_shifts(schedule, local("Europe/Amsterdam", 2026, 3, 27, 9),
                                  local("Europe/Amsterdam", 2026, 3, 31, 9))
    assert local_times(shifts, "Europe/Amsterdam") == [
        ("03-27 09:00", "alice"), ("03-28 09:00", "bob"), ("03-29 09:00", "alice"), ("03-30 09:00", "bob")]
    # The shift over the night the clocks jump forward is an hour shorter.
    assert [(s.end - s.start) / dt.timedelta(hours=1) for s in shifts] == [24, 23, 24, 24]
    assert shifts[1].start == dt.datetime(2026, 3, 28, 8, tzinfo=UTC)  # CET
    assert shifts[2].start == dt.datetime(2026, 3, 29, 7, tzinfo=UTC)  # CEST


def test_weekly_rotation_keeps_monday_0900_across_new_york_fall_back(make_schedule):
    schedule = make_schedule(tz="America/New_York", layers=[dict(
        rotation_unit="weeks", rotation_length=1, starts_at=local("America/New_York", 2026, 10, 19, 9),
        participants=["alice", "bob", "carol"])])
    shifts = queries.final_shifts(schedule, local("America/New_York", 2026, 10, 19, 9),
                                  local("America/New_York", 2026, 11, 9, 9))
    assert local_times(shifts, "America/New_York") == [
        ("10-19 09:00", "alice"), ("10-26 09:00", "bob"), ("11-02 09:00", "carol")]
    # The week containing 1 November has 169 hours.
    assert [(s.end - s.start) / dt.timedelta(hours=1) for s in shifts] == [168, 169, 168]


def test_hour_rotation_counts_real_hours_across_sydney_dst_end(make_schedule):
    # Sydney leaves daylight time on 5 April 2026 at 03:00 (clocks back to 02:00).
    schedule = make_schedule(tz="Australia/Sydney", layers=[dict(
        rotation_unit="hours", rotation_length=12, starts_at=local("Australia/Sydney", 2026, 4, 4, 8),
        participants=["alice", "bob"])])
    shifts = queries.final_shifts(schedule, local("Australia/Sydney", 2026, 4, 4, 8),
                                  local("Australia/Sydney", 2026, 4, 6, 7))
    assert {(s.end - s.start) for s in shifts} == {dt.timedelta(hours=12)}
    # Real hours: after the change the handoff lands an hour earlier on the wall clock.
    assert local_times(shifts, "Australia/Sydney") == [
        ("04-04 08:00", "alice"), ("04-04 20:00", "bob"), ("04-05 07:00", "alice"), ("04-05 19:00", "bob")]


def test_daily_handoff_at_a_time_that_does_not_exist_uses_the_offset_before_the_gap(make_schedule):
    # Sydney skips 02:00-03:00 on 4 October 2026; a 02:30 handoff happens at 03:30 that day (RFC 5545).
    schedule = make_schedule(tz="Australia/Sydney", layers=[dict(
        rotation_unit="days", rotation_length=1, starts_at=local("Australia/Sydney", 2026, 10, 2, 2, 30),
        participants=["alice", "bob"])])
    shifts = queries.final_shifts(schedule, local("Australia/Sydney", 2026, 10, 2, 2, 30),
                                  local("Australia/Sydney", 2026, 10, 6, 2, 30))
    assert local_times(shifts, "Australia/Sydney") == [
        ("10-02 02:30", "alice"), ("10-03 02:30", "bob"), ("10-04 03:30", "alice"), ("10-05 02:30", "bob")]
    assert shifts[2].start == dt.datetime(2026, 10, 3, 16, 30, tzinfo=UTC)


def test_weekday_business_hours_restriction_follows_local_time_across_dst(make_schedule):
    schedule = make_schedule(tz="Europe/Amsterdam", layers=[dict(
        rotation_unit="weeks", rotation_length=1, starts_at=local("Europe/Amsterdam", 2026, 3, 23, 9),
        participants=["alice"],
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00", "end_time": "17:00"}])])
    shifts = queries.final_shifts(schedule, local("Europe/Amsterdam", 2026, 3, 26, 0),
                                  local("Europe/Amsterdam", 2026, 4, 1, 0))
    zone = zoneinfo.ZoneInfo("Europe/Amsterdam")
    assert [(s.start.astimezone(zone).strftime("%a %H:%M"), s.end.astimezone(zone).strftime("%H:%M"))
            for s in shifts] == [("Thu 09:00", "17:00"), ("Fri 09:00", "17:00"), ("Mon 09:00", "17:00"),
                                 ("Tue 09:00", "17:00")]
    assert shifts[0].start.hour == 8 and shifts[2].start.hour == 7  # UTC: CET then CEST


# --- layers, overnight restrictions, overrides, gaps --------------------------------------

def test_higher_layer_overrides_lower_only_where_it_has_someone(make_schedule):
    tz = "Europe/Amsterdam"
    schedule = make_schedule(tz=tz, layers=[
        dict(level=1, rotation_unit="weeks", rotation_length=1, starts_at=local(tz, 2026, 3, 2, 9),
             participants=["alice"]),
        dict(level=2, rotation_unit="days", rotation_length=1, starts_at=local(tz, 2026, 3, 2, 0),
             participants=["bob"], restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start_time": "17:00",
                                                 "end_time": "09:00"}]),
    ])
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 3, 12))) == ["alice"]
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 3, 23))) == ["bob"]
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 4, 8, 59))) == ["bob"]
    # Friday's overnight window runs into Saturday 09:00; Saturday evening is alice's again.
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 7, 8))) == ["bob"]
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 7, 20))) == ["alice"]
    sources = {s.source for s in queries.final_shifts(schedule, local(tz, 2026, 3, 3), local(tz, 2026, 3, 4))}
    assert sources == {f"layer:{layer.pk}" for layer in schedule.layers.all()}


def test_override_covers_a_person_and_the_newest_override_wins(make_schedule, cast):
    tz = "Europe/Amsterdam"
    schedule = make_schedule(tz=tz, layers=[dict(rotation_unit="weeks", rotation_length=1,
                                                 starts_at=local(tz, 2026, 3, 2, 9), participants=["alice"])])
    first = actions.create_override(schedule, user=cast["bob"], starts_at=local(tz, 2026, 3, 3, 12),
                                    ends_at=local(tz, 2026, 3, 3, 18), actor=cast["carol"], source=Door.WEB)
    actions.create_override(schedule, user=cast["carol"], starts_at=local(tz, 2026, 3, 3, 14),
                            ends_at=local(tz, 2026, 3, 3, 15), actor=cast["carol"], source=Door.WEB)
    shifts = queries.final_shifts(schedule, local(tz, 2026, 3, 3, 10), local(tz, 2026, 3, 3, 20))
    assert local_times(shifts, tz) == [("03-03 10:00", "alice"), ("03-03 12:00", "bob"), ("03-03 14:00", "carol"),
                                       ("03-03 15:00", "bob"), ("03-03 18:00", "alice")]
    assert shifts[1].source == f"override:{first.pk}"


def test_gaps_are_the_stretches_nobody_covers(make_schedule):
    tz = "America/New_York"
    schedule = make_schedule(tz=tz, layers=[dict(
        rotation_unit="days", rotation_length=1, starts_at=local(tz, 2026, 3, 2, 9), participants=["alice", "bob"],
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start_time": "08:00", "end_time": "20:00"}])])
    found = queries.gaps(schedule, local(tz, 2026, 3, 6, 0), local(tz, 2026, 3, 9, 12))
    zone = zoneinfo.ZoneInfo(tz)
    assert [(a.astimezone(zone).strftime("%a %H:%M"), b.astimezone(zone).strftime("%a %H:%M")) for a, b in found] == [
        ("Fri 00:00", "Fri 08:00"), ("Fri 20:00", "Mon 08:00")]
    assert queries.on_call_at(schedule, local(tz, 2026, 3, 7, 12)) == []


def test_layer_before_its_start_and_after_its_end_has_nobody(make_schedule):
    tz = "UTC"
    schedule = make_schedule(tz=tz, layers=[dict(
        rotation_unit="days", rotation_length=1, starts_at=local(tz, 2026, 3, 2, 9),
        ends_at=local(tz, 2026, 3, 4, 9), participants=["alice", "bob"])])
    assert queries.on_call_at(schedule, local(tz, 2026, 3, 2, 8)) == []
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 3, 8))) == ["alice"]
    assert names(queries.on_call_at(schedule, local(tz, 2026, 3, 3, 9))) == ["bob"]
    assert queries.on_call_at(schedule, local(tz, 2026, 3, 4, 9)) == []


def test_on_call_now_says_who_takes_over_at_the_next_handoff(make_schedule, clock):
    tz = "Europe/Amsterdam"
    schedule = make_schedule(tz=tz, layers=[dict(rotation_unit="days", rotation_length=1,
                                                 starts_at=local(tz, 2026, 3, 2, 9), participants=["alice", "bob"])])
    state = queries.on_call_now(schedule, local(tz, 2026, 3, 2, 12))
    assert names(state.now) == ["alice"] and names(state.next) == ["bob"]
    assert state.next_at == state.until == local(tz, 2026, 3, 3, 9)
    assert schedule.next_handoff_at == local(tz, 2026, 3, 3, 9)  # clock: 2026-03-02 09:00 UTC


# --- the interval engine against a per-minute reference ---------------------------------

def _reference_at(spec: rotation.ScheduleSpec, t: dt.datetime):
    """Who is on call at t, evaluated directly (slow, obviously right)."""
    for o in sorted(spec.overrides, key=lambda o: -o.id):
        if o.starts_at <= t < o.ends_at:
            return o.user_id
    for layer in sorted(spec.layers, key=lambda la: -la.level):
        if t < layer.starts_at or (layer.ends_at and t >= layer.ends_at):
            continue
        wall = t.astimezone(spec.tz)
        if layer.restrictions and not any(_in_restriction(r, wall) for r in layer.restrictions):
            continue
        if layer.unit == "hours":
            i = int((t - layer.starts_at) // dt.timedelta(hours=layer.length))
        else:
            days = layer.length * (7 if layer.unit == "weeks" else 1)
            wall0 = layer.starts_at.astimezone(spec.tz).replace(tzinfo=None)
            i = 0
            while rotation.wall_to_utc(wall0 + dt.timedelta(days=days * (i + 1)), spec.tz) <= t:
                i += 1
        return layer.participants[i % len(layer.participants)]
    return None


def _in_restriction(r, wall):
    t, wd = wall.time(), wall.weekday()
    if r.end > r.start:
        return wd in r.weekdays and r.start <= t < r.end
    return (wd in r.weekdays and t >= r.start) or ((wd - 1) % 7 in r.weekdays and t < r.end)


@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "America/New_York", "Australia/Sydney"])
def test_interval_engine_agrees_with_a_per_minute_reference_over_dst(tz):
    rng = random.Random(tz)
    zone = zoneinfo.ZoneInfo(tz)
    start = dt.datetime(2026, 3, 20, tzinfo=zone).astimezone(UTC)
    layers = []
    for level in range(1, 5):
        unit = rng.choice(["hours", "days", "weeks"])
        restrictions = ()
        if rng.random() < 0.6:
            s, e = rng.choice([(9, 17), (17, 9), (8, 20), (22, 7)])
            restrictions = (rotation.RestrictionSpec(frozenset(rng.sample(range(7), rng.randint(2, 6))),
                                                     dt.time(s), dt.time(e)),)
        layers.append(rotation.LayerSpec(
            id=level, level=level, unit=unit, length=rng.randint(1, 3 if unit != "hours" else 13),
            starts_at=start + dt.timedelta(hours=rng.randint(0, 30)), ends_at=None,
            participants=tuple(rng.sample(range(1, 9), rng.randint(1, 4))), restrictions=restrictions))
    overrides = tuple(rotation.OverrideSpec(100 + k, 50 + k, o := start + dt.timedelta(hours=rng.randint(0, 900)),
                                            o + dt.timedelta(hours=rng.randint(1, 30))) for k in range(6))
    spec = rotation.ScheduleSpec(tz=zone, layers=tuple(layers), overrides=overrides)
    end = start + dt.timedelta(days=42)  # covers the March/April change in each zone
    segments = rotation.final_segments(spec, start, end)
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end <= b.start
    t = start
    k = 0
    while t < end:  # every 7 minutes
        while k < len(segments) and segments[k].end <= t:
            k += 1
        got = segments[k].user_id if k < len(segments) and segments[k].start <= t else None
        assert got == _reference_at(spec, t), t
        t += dt.timedelta(minutes=7)
