"""Uptime from status changes (no data is never 100%), roll-ups and expiry. (The anomaly
detector's precision/recall on generated series: tests/monitoring/test_anomaly.py.)"""

import datetime as dt

import pytest
from django.test import override_settings

from monitoring import actions, queries, rollups
from monitoring.checks import Outcome
from monitoring.models import CheckResult, Rollup

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def test_uptime_by_day_counts_down_time_and_no_data(make_monitor, clock):
    clock.move_to(dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80})
    actions.record_state(monitor, "up", at=dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC), reason="ok", source="test")
    actions.record_state(monitor, "down", at=dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC), reason="x", source="test")
    actions.record_state(monitor, "up", at=dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC), reason="ok", source="test")
    actions.record_state(monitor, "paused", at=dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC), reason="p", source="t")
    clock.move_to(dt.datetime(2026, 3, 4, 6, 0, tzinfo=UTC))
    days = queries.uptime_by_day([monitor.pk], dt.date(2026, 2, 28), dt.date(2026, 3, 5))[monitor.pk]
    assert days[dt.date(2026, 2, 28)] is None  # before the monitor existed
    assert days[dt.date(2026, 3, 1)] == pytest.approx(0.75)
    assert days[dt.date(2026, 3, 2)] == 1.0  # up half the day, then paused: paused is no data
    assert days[dt.date(2026, 3, 3)] is None and days[dt.date(2026, 3, 5)] is None
    assert queries.current_states([monitor.pk]) == {monitor.pk: "paused"}


def test_uptime_days_follow_the_time_zone_across_dst(make_monitor, clock):
    clock.move_to(dt.datetime(2026, 3, 28, 0, 0, tzinfo=UTC))
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80})
    actions.record_state(monitor, "up", at=dt.datetime(2026, 3, 28, 0, 0, tzinfo=UTC), reason="ok", source="t")
    # Amsterdam, 29 March 2026 has 23 hours; down 23:00-00:00 local on that day (21:00-22:00 UTC).
    actions.record_state(monitor, "down", at=dt.datetime(2026, 3, 29, 21, 0, tzinfo=UTC), reason="x", source="t")
    actions.record_state(monitor, "up", at=dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC), reason="ok", source="t")
    clock.move_to(dt.datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    days = queries.uptime_by_day([monitor.pk], dt.date(2026, 3, 29), dt.date(2026, 3, 29), "Europe/Amsterdam")
    assert days[monitor.pk][dt.date(2026, 3, 29)] == pytest.approx(22 / 23)


def test_rollups_per_minute_hour_day_and_expiry(make_monitor, clock):
    clock.move_to(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80})
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for i, (ok, latency) in enumerate([(True, 10), (True, 20), (False, None), (True, 30)]):
        actions.record_result(monitor, Outcome(ok=ok, latency_ms=latency, message="x"),
                              at=start + dt.timedelta(seconds=15 * i))
    clock.move_to(dt.datetime(2026, 3, 2, 9, 10, tzinfo=UTC))
    assert rollups.roll_up("minute") == 1
    minute = Rollup.objects.get(granularity="minute", bucket=start)
    assert (minute.count, minute.failures, minute.latency_p50, minute.latency_max) == (4, 1, 20, 30)
    clock.move_to(dt.datetime(2026, 3, 3, 0, 10, tzinfo=UTC))
    rollups.roll_up("hour")
    rollups.roll_up("day")
    day = Rollup.objects.get(granularity="day", bucket=dt.datetime(2026, 3, 2, tzinfo=UTC))
    assert (day.count, day.failures, day.latency_max) == (4, 1, 30)
    assert rollups.roll_up("minute") == 0  # nothing new: the watermark holds
    assert queries.availability_from_rollups([monitor.pk])[monitor.pk] == pytest.approx(0.75)
    clock.move_to(dt.datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    with override_settings(MONITORING_RAW_RETENTION_DAYS=7):
        deleted = rollups.expire()
    assert deleted["results"] == 4 and not CheckResult.objects.exists()
    assert Rollup.objects.filter(granularity="day").exists()  # roll-ups outlive raw results
