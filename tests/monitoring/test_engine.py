"""The engine end to end: due monitors are claimed and checked against a real local
server, thresholds decide the state, and the monitor's alert goes through intake."""

import datetime as dt

import pytest

from alertum.core.actions import schedule_maintenance
from incidents.models import Alert, Incident
from monitoring import actions, engine
from monitoring.models import CheckResult, Monitor, StatusChange

pytestmark = pytest.mark.django_db(transaction=True)


def run_due(clock, seconds):
    clock.shift(seconds)
    return engine.run_until_idle()


def test_new_monitors_are_spread_over_their_interval(make_monitor, clock, http_server):
    url = http_server.route("/")
    monitors = [make_monitor(config={"url": url}, name=f"m{i}") for i in range(60)]
    offsets = sorted((m.next_check_at - dt.datetime.now(dt.UTC)).total_seconds() for m in monitors)
    assert 0 <= offsets[0] and offsets[-1] < 60
    # Not bunched at one second: at least 30 distinct seconds of the minute are used.
    assert len({int(o) for o in offsets}) >= 30


def test_down_after_n_failures_raises_an_alert_and_incident_with_evidence(make_monitor, clock, http_server):
    url = http_server.route("/health", status=500, body="db pool exhausted")
    monitor = make_monitor(config={"url": url}, name="Checkout API", failure_threshold=2)
    assert run_due(clock, 60) == 1
    monitor.refresh_from_db()
    assert monitor.state == Monitor.State.NEW and monitor.consecutive_failures == 1
    assert not Alert.objects.exists()
    assert run_due(clock, 60) == 1
    monitor.refresh_from_db()
    assert monitor.state == Monitor.State.DOWN
    change = StatusChange.objects.get(monitor=monitor, to_state="down")
    assert "status 500" in change.reason and change.evidence["evidence"]["body"] == "db pool exhausted"
    alert = Alert.objects.get(dedup_key=f"monitor-{monitor.pk}")
    assert alert.status == Alert.Status.FIRING and alert.service.slug == "checkout"
    assert "db pool exhausted" in alert.annotations["evidence"]
    assert alert.labels["alertname"] == "MonitorDown"
    assert alert.incident is not None and alert.incident.is_open
    assert "Checkout API is down" in alert.incident.title


def test_up_after_m_successes_resolves_alert_and_incident(make_monitor, clock, http_server):
    http_server.route("/health", status=503)
    monitor = make_monitor(config={"url": http_server.url("/health")}, failure_threshold=1, success_threshold=2)
    run_due(clock, 60)
    assert Monitor.objects.get(pk=monitor.pk).state == "down"
    http_server.route("/health", status=200)
    run_due(clock, 60)
    assert Monitor.objects.get(pk=monitor.pk).state == "down"  # one success is not enough
    run_due(clock, 60)
    assert Monitor.objects.get(pk=monitor.pk).state == "up"
    alert = Alert.objects.get(dedup_key=f"monitor-{monitor.pk}")
    assert alert.status == Alert.Status.RESOLVED
    assert Incident.objects.get(pk=alert.incident_id).status == "resolved"


def test_no_page_during_maintenance(make_monitor, clock, http_server, services):
    now = dt.datetime.now(dt.UTC)
    schedule_maintenance(title="DB upgrade", starts_at=now - dt.timedelta(minutes=1),
                         ends_at=now + dt.timedelta(hours=2), services=[services["checkout"]], actor=None,
                         source="cli")
    monitor = make_monitor(config={"url": http_server.route("/x", status=500)}, failure_threshold=1)
    run_due(clock, 60)
    assert Monitor.objects.get(pk=monitor.pk).state == "down"
    alert = Alert.objects.get(dedup_key=f"monitor-{monitor.pk}")
    assert alert.suppressed == "maintenance" and alert.incident is None
    assert not Incident.objects.exists()


def test_record_state_unchanged_returns_false(make_monitor, clock):
    monitor = make_monitor(kind="tcp", config={"host": "127.0.0.1", "port": 9})
    now = dt.datetime.now(dt.UTC)
    assert actions.record_state(monitor, "up", at=now, reason="first ping", source="beat") is True
    assert actions.record_state(monitor, "up", at=now, reason="again", source="beat") is False
    assert StatusChange.objects.filter(monitor=monitor).count() == 1


def test_pause_stops_checks_and_resolves_the_alert(make_monitor, clock, http_server, cast):
    monitor = make_monitor(config={"url": http_server.route("/x", status=500)}, failure_threshold=1)
    run_due(clock, 60)
    actions.pause_monitor(monitor, actor=cast["alice"], source="web")
    monitor.refresh_from_db()
    assert monitor.state == "paused" and monitor.next_check_at is None
    assert Alert.objects.get(dedup_key=f"monitor-{monitor.pk}").status == "resolved"
    before = CheckResult.objects.count()
    assert run_due(clock, 120) == 0 and CheckResult.objects.count() == before
    actions.resume_monitor(monitor, actor=cast["alice"], source="web")
    assert Monitor.objects.get(pk=monitor.pk).state == "new"
    assert run_due(clock, 1) == 1


def test_slow_for_two_minutes_raises_the_rule_alert_with_its_severity(make_monitor, clock, http_server):
    url = http_server.route("/slow", delay=0.25)
    rules = [{"name": "slow or erroring", "severity": "P1", "for_seconds": 120,
              "conditions": [{"metric": "latency_ms", "op": "gt", "value": 200},
                             {"metric": "status_code", "op": "gte", "value": 500}]}]
    monitor = make_monitor(config={"url": url}, rules=rules, interval_seconds=30, failure_threshold=5)
    key = f"monitor-{monitor.pk}-rule-slow-or-erroring"
    for _ in range(4):  # 0, 30, 60, 90 s of slowness: not yet two minutes
        run_due(clock, 30)
    assert not Alert.objects.filter(dedup_key=key).exists()
    run_due(clock, 30)  # 120 s
    alert = Alert.objects.get(dedup_key=key)
    assert alert.severity == "critical" and alert.labels["priority"] == "P1"
    assert Monitor.objects.get(pk=monitor.pk).state == "up"  # slow is not down
    http_server.route("/slow", delay=0)
    run_due(clock, 30)
    assert Alert.objects.get(dedup_key=key).status == "resolved"


def test_error_rate_over_window_raises_p2(make_monitor, clock, http_server):
    http_server.route("/flaky", status=200)
    rules = [{"name": "error rate", "severity": "P2", "error_rate_percent": 10, "window_seconds": 300}]
    monitor = make_monitor(config={"url": http_server.url("/flaky")}, rules=rules, interval_seconds=30,
                           failure_threshold=3)
    for _ in range(5):
        run_due(clock, 30)
    http_server.route("/flaky", status=502)
    run_due(clock, 30)  # 1 failure in 6 checks: 17% > 10%
    alert = Alert.objects.get(dedup_key=f"monitor-{monitor.pk}-rule-error-rate")
    assert alert.severity == "error" and alert.status == "firing"
    assert Monitor.objects.get(pk=monitor.pk).state == "up"


def test_a_slow_check_does_not_block_the_tick(make_monitor, clock, http_server):
    make_monitor(config={"url": http_server.route("/hang", delay=2)}, timeout_seconds=5)
    clock.shift(60)
    result = engine.tick(budget_seconds=0.3)
    assert result["claimed"] == 1 and result["recorded"] == 0 and result["in_flight"] == 1
    assert engine.run_until_idle() == 1  # recorded later, by the next run in this process
