"""Who is on call, on a 10-layer schedule with overrides (issue 5's figures):

- a single instant (`queries.on_call_at`, database reads included): target <= 50 ms;
- the full year's final schedule (`queries.final_shifts` over 365 days): target <= 2 s;
- and, from that, the answer for every minute of the year (525,600 look-ups), checked
  against `on_call_at` at random minutes.

Run: BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sched .venv/bin/python bench/oncall_schedule.py
(the database is dropped and recreated). Prints the figures.
"""

import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_sched")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import setup_django  # noqa: E402

LAYERS = [  # (unit, length, restriction or None) — a realistic mix, lowest level first
    ("weeks", 1, None),
    ("days", 1, None),
    ("hours", 12, None),
    ("days", 1, ([0, 1, 2, 3, 4], dt.time(9), dt.time(17))),
    ("days", 1, ([0, 1, 2, 3, 4], dt.time(17), dt.time(9))),
    ("weeks", 1, ([5, 6], dt.time(0), dt.time(23, 59))),
    ("hours", 8, None),
    ("days", 2, ([0, 2, 4], dt.time(8), dt.time(20))),
    ("weeks", 2, ([1, 3], dt.time(22), dt.time(6))),
    ("hours", 6, ([0, 1, 2, 3, 4, 5, 6], dt.time(12), dt.time(14))),
]
OVERRIDES = 300


def build():
    from alertum.core.models import Door, Membership, Role, Team, User
    from oncall.schedules import actions

    team = Team.objects.create(name="Bench", slug="bench")
    people = []
    for i in range(12):
        user = User.objects.create_user(username=f"oncall{i}", email=f"oncall{i}@example.test")
        Membership.objects.create(team=team, user=user, role=Role.RESPONDER)
        people.append(user)
    schedule = actions.create_schedule(team=team, name="Ten layers", time_zone="Europe/Amsterdam", actor=None,
                                       source=Door.CLI)
    rng = random.Random(5)
    start = dt.datetime(2026, 1, 5, 9, tzinfo=schedule.tz)
    for level, (unit, length, restriction) in enumerate(LAYERS, start=1):
        restrictions = []
        if restriction:
            days, a, b = restriction
            restrictions = [{"weekdays": days, "start_time": a, "end_time": b}]
        actions.save_layer(schedule, actor=None, source=Door.CLI, name=f"Layer {level}", level=level,
                           rotation_unit=unit, rotation_length=length, starts_at=start,
                           participants=rng.sample(people, rng.randint(3, 6)), restrictions=restrictions)
    for _ in range(OVERRIDES):
        begin = start + dt.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        actions.create_override(schedule, user=rng.choice(people), starts_at=begin,
                                ends_at=begin + dt.timedelta(hours=rng.randint(1, 48)), actor=None, source=Door.CLI)
    return schedule, start


def main():
    setup_django(fresh=True)
    from oncall.schedules import queries
    from oncall.schedules.models import Schedule

    schedule, start = build()
    # UTC: arithmetic on a datetime in a DST zone adds wall-clock time, not elapsed time.
    start = start.astimezone(dt.UTC)
    end = start + dt.timedelta(days=365)
    rng = random.Random(7)

    # 1. One instant, as escalation asks it: a fresh schedule row each time (no cache).
    instants = [start + dt.timedelta(minutes=rng.randint(0, 365 * 24 * 60)) for _ in range(300)]
    timings = []
    for at in instants:
        fresh = Schedule.objects.get(pk=schedule.pk)
        t0 = time.perf_counter()
        queries.on_call_at(fresh, at)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
    # The same, cold: the per-process cache of computed layers emptied before each call.
    cold = []
    for at in instants[:100]:
        queries._SPEC_CACHE.clear()
        fresh = Schedule.objects.get(pk=schedule.pk)
        t0 = time.perf_counter()
        queries.on_call_at(fresh, at)
        cold.append((time.perf_counter() - t0) * 1000)
    cold.sort()

    # 2. The whole year's final schedule (database reads and user objects included).
    year = []
    for _ in range(5):
        fresh = Schedule.objects.get(pk=schedule.pk)
        t0 = time.perf_counter()
        shifts = queries.final_shifts(fresh, start, end)
        year.append(time.perf_counter() - t0)

    # 3. Every minute of the year from the final schedule: each shift fills its run of
    # minutes (slice assignment), so the cost is per shift plus one list of 525,600.
    t0 = time.perf_counter()
    minute = dt.timedelta(minutes=1)
    per_minute = [None] * (365 * 24 * 60)
    for shift in shifts:
        a = -(-(shift.start - start) // minute)  # first whole minute inside the shift
        b = -(-(shift.end - start) // minute)
        per_minute[a:b] = [shift.user.pk] * (b - a)
    every_minute = time.perf_counter() - t0

    # 4. The two ways agree.
    for _ in range(500):
        i = rng.randrange(len(per_minute))
        got = queries.on_call_at(Schedule.objects.get(pk=schedule.pk), start + i * minute)
        assert [u.pk for u in got] == ([per_minute[i]] if per_minute[i] else []), i
    gaps = sum(1 for v in per_minute if v is None)

    print(f"schedule: {len(LAYERS)} layers, {OVERRIDES} overrides, Europe/Amsterdam, 1 year "
          f"-> {len(shifts)} final shifts, {gaps} uncovered minutes")
    print(f"on_call_at (one instant, DB included): p50 {p50:.1f} ms, p99 {p99:.1f} ms (target <= 50 ms); "
          f"cold cache p50 {statistics.median(cold):.1f} ms, max {cold[-1]:.1f} ms")
    print(f"final_shifts for the full year: best {min(year):.3f} s, median {statistics.median(year):.3f} s "
          f"(target <= 2 s)")
    print(f"every minute of the year (525,600 answers) from the final schedule: {every_minute:.3f} s; "
          f"total with final_shifts {min(year) + every_minute:.3f} s")
    print("cross-check: 500 random minutes, on_call_at == per-minute answer: ok")


if __name__ == "__main__":
    main()
