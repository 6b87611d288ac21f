"""Latency anomaly detection as a responder sees it: the monitor's `-anomaly` alert fires
when latency stays above what is usual for that time of the week, and not for lone
spikes, a steady service's few milliseconds, or while the detector is still learning;
each sensitivity catches what it promises on the generated series of bench/anomaly_eval.py."""

import datetime as dt
import math
import random
import sys
from pathlib import Path

import pytest

from incidents.models import Alert
from monitoring import actions
from monitoring.checks import Outcome
from monitoring.models import Rollup

pytestmark = pytest.mark.django_db
UTC = dt.UTC
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning; the clock fixture starts here


def flat(at):
    return 100.0


def busy_afternoons(at):
    return 300.0 if at.weekday() < 5 and 13 <= at.hour < 17 else 100.0


def with_history(make_monitor, sensitivity, usual=flat, weeks=4, name=None):
    """A monitor whose hourly roll-ups of the past weeks follow `usual`."""
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80}, anomaly_sensitivity=sensitivity,
                           name=name or f"Checkout API ({sensitivity})")
    hours = [START - dt.timedelta(hours=h) for h in range(1, weeks * 7 * 24 + 1)]
    Rollup.objects.bulk_create(Rollup(monitor=monitor, granularity=Rollup.Granularity.HOUR, bucket=hour, count=60,
                                      latency_p50=usual(hour + dt.timedelta(minutes=30))) for hour in hours)
    return monitor


def feed(clock, monitor, start, factors, usual=flat, seed=7):
    """One check a minute from `start`: the usual latency x a factor per check, with
    check-to-check jitter (log-normal, sd 5 %) drawn from a fixed seed."""
    rng = random.Random(seed)
    for i, factor in enumerate(factors):
        at = start + dt.timedelta(minutes=i)
        clock.move_to(at)
        latency = usual(at) * factor * math.exp(rng.gauss(0, 0.05))
        actions.record_result(monitor, Outcome(ok=True, latency_ms=latency, message="ok"), at=at)
    return start + dt.timedelta(minutes=len(factors))


def anomaly_alert(monitor):
    return Alert.objects.filter(dedup_key=f"monitor-{monitor.pk}-anomaly").first()


LEARN = [1.0] * 40  # the detector learns the check-to-check noise from its first 30 checks


def test_sustained_rise_raises_an_anomaly_alert_at_high_and_resolves_when_back(make_monitor, clock):
    monitor = with_history(make_monitor, "high")
    after = feed(clock, monitor, START, LEARN)
    assert anomaly_alert(monitor) is None
    after = feed(clock, monitor, after, [1.3] * 15, seed=8)  # 30 % slower, for a quarter of an hour
    alert = anomaly_alert(monitor)
    assert alert is not None and alert.status == "firing"
    assert alert.severity == "warning"
    assert alert.labels["alertname"] == "LatencyAnomaly" and alert.labels["sensitivity"] == "high"
    assert "usual 100 ms" in alert.summary
    feed(clock, monitor, after, [1.0] * 10, seed=9)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_lone_spikes_never_alert_even_at_high(make_monitor, clock):
    monitor = with_history(make_monitor, "high")
    factors = LEARN + [1.0] * 10 + [8.0] + [1.0] * 20 + [6.0, 5.0] + [1.0] * 20 + [12.0] + [1.0] * 10
    feed(clock, monitor, START, factors)
    assert anomaly_alert(monitor) is None


def test_low_sensitivity_ignores_a_rise_that_high_catches(make_monitor, clock):
    low = with_history(make_monitor, "low")
    high = with_history(make_monitor, "high")
    for monitor in (low, high):
        after = feed(clock, monitor, START, LEARN)
        feed(clock, monitor, after, [1.25] * 20, seed=8)  # 25 % slower for 20 minutes
    assert anomaly_alert(high) is not None
    assert anomaly_alert(low) is None


def test_low_sensitivity_still_catches_a_large_rise(make_monitor, clock):
    monitor = with_history(make_monitor, "low")
    after = feed(clock, monitor, START, LEARN)
    feed(clock, monitor, after, [3.0] * 6, seed=8)
    assert anomaly_alert(monitor).status == "firing"


def test_the_band_follows_the_time_of_the_week(make_monitor, clock):
    """300 ms is normal on a weekday afternoon for this service, an anomaly at night."""
    afternoon = with_history(make_monitor, "medium", usual=busy_afternoons, name="afternoon")
    feed(clock, afternoon, START.replace(hour=14), LEARN + [1.0] * 30, usual=busy_afternoons)
    assert anomaly_alert(afternoon) is None

    night = with_history(make_monitor, "medium", usual=busy_afternoons, name="night")
    after = feed(clock, night, START.replace(hour=2), LEARN, usual=busy_afternoons)
    feed(clock, night, after, [3.0] * 10, usual=busy_afternoons, seed=8)  # 300 ms at 02:40
    assert anomaly_alert(night).status == "firing"


def test_a_very_steady_service_does_not_page_for_a_few_milliseconds(make_monitor, clock):
    steady = with_history(make_monitor, "high", usual=lambda at: 20.0)
    rng = random.Random(3)
    for i in range(70):  # 20 ms +- 0.2 ms, then 27 ms for half an hour: +35 %, but only 7 ms
        at = START + dt.timedelta(minutes=i)
        latency = (20.0 if i < 40 else 27.0) + rng.uniform(-0.2, 0.2)
        actions.record_result(steady, Outcome(ok=True, latency_ms=latency, message="ok"), at=at)
    assert anomaly_alert(steady) is None


def test_no_anomaly_alert_without_history_or_while_learning(make_monitor, clock):
    new = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 80}, anomaly_sensitivity="high",
                       name="brand new")
    feed(clock, new, START, LEARN + [5.0] * 20)
    assert anomaly_alert(new) is None  # no roll-ups yet: thresholds are the only guard

    learning = with_history(make_monitor, "high", name="learning")
    feed(clock, learning, START, [5.0] * 25)  # slow from its very first check: not judged yet
    assert anomaly_alert(learning) is None


@pytest.fixture(scope="module")
def evaluation():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import anomaly_eval

    return {row["sensitivity"]: row for row in anomaly_eval.evaluate_all(seeds=range(3))}


def test_every_sensitivity_is_precise_on_generated_series(evaluation):
    for level in ("low", "medium", "high"):
        assert evaluation[level]["precision"] >= 0.8, evaluation[level]


def test_higher_sensitivity_catches_smaller_rises(evaluation):
    by_size = {level: row["recall_by_size"] for level, row in evaluation.items()}
    assert all(by_size[level]["large"] >= 0.9 for level in by_size)  # x2.5-6: every level
    assert by_size["medium"]["medium"] >= 0.9 and by_size["high"]["medium"] >= 0.9  # x1.5-2.5
    assert by_size["low"]["small"] < by_size["medium"]["small"] < by_size["high"]["small"]  # x1.25-1.5
    assert evaluation["low"]["detected"] <= evaluation["medium"]["detected"] <= evaluation["high"]["detected"]
