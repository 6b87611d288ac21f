"""A heartbeat's life on a controlled clock: new → up → late → down through the sweeper
(exactly once, with the monitor's alert), a ping bringing it back (alert resolved), /fail
and exit statuses, started runs and their durations, pausing, and cron schedules in their
time zone across DST."""

import datetime as dt
import uuid

import pytest

from alertum.core.models import Door
from incidents.models import Alert
from monitoring.heartbeats import actions
from monitoring.heartbeats.tasks import sweep_heartbeats
from tests.monitoring.test_heartbeat_support import changes, fresh, log, make_heartbeat

UTC = dt.UTC
RID_A, RID_B = "0b6f4a7e-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"


@pytest.fixture
def heartbeat(services, clock):
    return make_heartbeat(services["checkout"], period_seconds=3600, grace_seconds=600)


def ping(client, heartbeat, suffix="", **query):
    response = client.get(f"/ping/{heartbeat.uuid}{suffix}", query)
    assert response.status_code == 200, response.content
    return response


def alert_status(heartbeat):
    alert = Alert.objects.filter(dedup_key=heartbeat.monitor.dedup_key).first()
    return alert.status if alert else None


def test_never_pinged_heartbeat_stays_new_whatever_the_time(client, heartbeat, clock):
    clock.shift(dt.timedelta(days=30).total_seconds())
    assert sweep_heartbeats() == 0
    assert fresh(heartbeat).status == "new"
    assert changes(heartbeat) == []


def test_period_then_grace_then_down_exactly_once_and_a_ping_resolves(client, heartbeat, clock):
    ping(client, heartbeat)
    assert fresh(heartbeat).monitor.state == "up"

    clock.shift(59 * 60)
    assert sweep_heartbeats() == 0
    assert fresh(heartbeat).shown_state() == "up"

    clock.shift(60)  # period passed: late, no alert yet
    assert sweep_heartbeats() == 1
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state, beat.shown_state()) == ("late", "late", "late")
    assert alert_status(heartbeat) is None

    clock.shift(9 * 60)
    assert sweep_heartbeats() == 0
    clock.shift(60)  # period + grace passed: down, alert raised
    assert sweep_heartbeats() == 1
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state, beat.next_sweep_at) == ("down", "down", None)
    assert alert_status(heartbeat) == "firing"
    alert = Alert.objects.get(dedup_key=heartbeat.monitor.dedup_key)
    assert "success signal did not arrive on time" in alert.summary

    for _ in range(3):  # later sweeps change nothing and raise nothing again
        clock.shift(3600)
        assert sweep_heartbeats() == 0
    assert changes(heartbeat) == [("new", "up"), ("up", "late"), ("late", "down")]
    assert Alert.objects.filter(dedup_key=heartbeat.monitor.dedup_key).count() == 1

    ping(client, heartbeat)  # the job runs again
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state) == ("up", "up")
    assert alert_status(heartbeat) == "resolved"
    assert changes(heartbeat)[-1] == ("down", "up")


def test_a_ping_within_grace_brings_a_late_heartbeat_back_up(client, heartbeat, clock):
    ping(client, heartbeat)
    clock.shift(65 * 60)
    sweep_heartbeats()
    assert fresh(heartbeat).status == "late"
    ping(client, heartbeat)
    assert fresh(heartbeat).status == "up"
    clock.shift(65 * 60)  # timers start again from the new ping
    sweep_heartbeats()
    assert fresh(heartbeat).status == "late"
    assert alert_status(heartbeat) is None


def test_each_ping_on_time_pushes_the_deadline(client, heartbeat, clock):
    for _ in range(5):
        ping(client, heartbeat)
        clock.shift(50 * 60)
        assert sweep_heartbeats() == 0
    assert fresh(heartbeat).status == "up"
    assert changes(heartbeat) == [("new", "up")]


def test_late_is_counted_from_the_last_ping_when_pings_leave_an_earlier_sweep_time(client, heartbeat, clock):
    # On-time pings leave next_sweep_at where the first ping put it (the row updates in
    # place); the sweep then finds the heartbeat up, and moves the time on.
    ping(client, heartbeat)
    first_deadline = fresh(heartbeat).next_sweep_at
    clock.shift(30 * 60)
    ping(client, heartbeat)
    ping(client, heartbeat)
    assert fresh(heartbeat).next_sweep_at == first_deadline  # an earlier bound, not the deadline
    clock.shift(30 * 60)  # the first ping's deadline: still up
    assert sweep_heartbeats() == 0
    beat = fresh(heartbeat)
    assert beat.status == "up" and beat.next_sweep_at == first_deadline + dt.timedelta(minutes=30)
    clock.shift(29 * 60)
    assert sweep_heartbeats() == 0 and fresh(heartbeat).status == "up"
    clock.shift(60)  # an hour after the last ping
    assert sweep_heartbeats() == 1 and fresh(heartbeat).status == "late"
    ping(client, heartbeat)  # and a ping after the sweep is recorded and brings it back
    assert fresh(heartbeat).status == "up" and fresh(heartbeat).n_pings == 4
    assert changes(heartbeat) == [("new", "up"), ("up", "late"), ("late", "up")]


@pytest.mark.parametrize("suffix, reason", [("/fail", "received a failure signal"), ("/3", "received exit status 3")])
def test_a_failure_signal_is_down_at_once_with_the_ping_as_evidence(client, heartbeat, suffix, reason):
    ping(client, heartbeat)
    client.post(f"/ping/{heartbeat.uuid}{suffix}", data=b"rsync: connection refused", content_type="text/plain")
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state) == ("down", "down")
    alert = Alert.objects.get(dedup_key=heartbeat.monitor.dedup_key)
    assert alert.status == "firing" and reason in alert.summary
    change = heartbeat.monitor.status_changes.order_by("-id").first()
    assert change.evidence["body"] == "rsync: connection refused"
    ping(client, heartbeat, "/0")  # exit status 0 is a success
    assert fresh(heartbeat).status == "up"
    assert alert_status(heartbeat) == "resolved"


def test_a_log_ping_changes_no_state_or_timer(client, heartbeat, clock):
    ping(client, heartbeat)
    deadline = fresh(heartbeat).next_sweep_at
    clock.shift(30 * 60)
    ping(client, heartbeat, "/log")
    assert fresh(heartbeat).next_sweep_at == deadline
    assert fresh(heartbeat).last_ping_at == dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_start_then_success_records_the_run_duration(client, heartbeat, clock):
    ping(client, heartbeat, "/start")
    assert fresh(heartbeat).shown_state() == "started"
    clock.shift(42)
    ping(client, heartbeat)
    beat = fresh(heartbeat)
    assert (beat.last_duration, beat.last_start_at, beat.status) == (42.0, None, "up")
    assert [(p.kind, p.duration) for p in log(heartbeat)] == [("start", None), ("success", 42.0)]


def test_runs_are_paired_by_run_id_even_when_they_overlap(client, heartbeat, clock):
    ping(client, heartbeat, "/start", rid=RID_A)
    clock.shift(10)
    ping(client, heartbeat, "/start", rid=RID_B)
    clock.shift(5)
    ping(client, heartbeat, rid=RID_A)  # the first run ends: 15 s, found in the log
    clock.shift(20)
    ping(client, heartbeat, rid=RID_B)  # the second: 25 s, the one being watched
    durations = [(p.kind, str(p.rid), p.duration) for p in log(heartbeat)]
    assert durations == [("start", RID_A, None), ("start", RID_B, None), ("success", RID_A, 15.0),
                         ("success", RID_B, 25.0)]
    assert fresh(heartbeat).last_start_at is None


def test_success_with_an_unknown_run_id_has_no_duration(client, heartbeat, clock):
    ping(client, heartbeat, "/start", rid=RID_A)
    clock.shift(10)
    ping(client, heartbeat, rid=str(uuid.uuid4()))
    assert log(heartbeat)[-1].duration is None
    assert fresh(heartbeat).last_start_at is not None  # run A is still going


def test_a_run_that_overruns_grace_is_down(client, heartbeat, clock):
    ping(client, heartbeat)
    clock.shift(60)
    ping(client, heartbeat, "/start")
    clock.shift(9 * 60)
    assert sweep_heartbeats() == 0
    assert fresh(heartbeat).shown_state() == "started"
    clock.shift(60)
    assert sweep_heartbeats() == 1
    assert fresh(heartbeat).status == "down"
    assert "did not finish within the grace time" in Alert.objects.get().summary
    clock.shift(60)
    ping(client, heartbeat)  # it finally finishes: up, alert resolved
    assert fresh(heartbeat).status == "up"
    assert alert_status(heartbeat) == "resolved"


def test_durations_over_72_hours_are_ignored(client, services, clock):
    heartbeat = make_heartbeat(services["checkout"], period_seconds=7 * 86400, grace_seconds=7 * 86400)
    ping(client, heartbeat, "/start")
    clock.shift(73 * 3600)
    ping(client, heartbeat)
    assert fresh(heartbeat).last_duration is None


def test_paused_heartbeat_logs_pings_and_a_success_resumes_it(client, heartbeat, clock, cast):
    ping(client, heartbeat)
    actions.pause_heartbeat(heartbeat, actor=cast["alice"], source=Door.WEB)
    assert fresh(heartbeat).monitor.state == "paused"
    clock.shift(5 * 3600)
    assert sweep_heartbeats() == 0
    ping(client, heartbeat, "/log")
    assert fresh(heartbeat).shown_state() == "paused"
    ping(client, heartbeat)
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state, beat.monitor.is_paused) == ("up", "up", False)
    assert alert_status(heartbeat) is None


def test_manual_resume_ignores_pings_until_resumed(client, services, clock, cast):
    heartbeat = make_heartbeat(services["checkout"], manual_resume=True)
    ping(client, heartbeat)
    actions.pause_heartbeat(heartbeat, actor=cast["alice"], source=Door.WEB)
    ping(client, heartbeat)
    ping(client, heartbeat, "/fail")
    beat = fresh(heartbeat)
    assert (beat.status, beat.monitor.state) == ("paused", "paused")
    assert [p.kind for p in log(heartbeat)][-2:] == ["ignored", "ignored"]
    assert alert_status(heartbeat) is None
    actions.resume_heartbeat(heartbeat, actor=cast["alice"], source=Door.WEB)
    assert (fresh(heartbeat).status, fresh(heartbeat).monitor.state) == ("new", "new")
    ping(client, heartbeat)
    assert fresh(heartbeat).status == "up"


def test_paused_through_the_monitor_door_is_not_swept(client, heartbeat, clock, cast):
    from monitoring import actions as monitoring_actions

    ping(client, heartbeat)
    monitoring_actions.pause_monitor(heartbeat.monitor, actor=cast["alice"], source=Door.WEB)
    clock.shift(3 * 3600)
    assert sweep_heartbeats() == 0
    beat = fresh(heartbeat)
    assert (beat.status, beat.next_sweep_at, beat.monitor.state) == ("paused", None, "paused")


def test_only_responders_of_the_team_pause(heartbeat, cast):
    from alertum.core.errors import Forbidden

    for name in ("victor", "oscar", "nobody"):
        with pytest.raises(Forbidden):
            actions.pause_heartbeat(heartbeat, actor=cast[name], source=Door.WEB)
    assert fresh(heartbeat).monitor.is_paused is False


@pytest.mark.parametrize("zone, ping_at, late_at", [
    # The night clocks spring forward, 02:00 does not exist: expected at the jump (03:00 CEST).
    ("Europe/Amsterdam", "2026-03-28T02:00:30+01:00", "2026-03-29T03:00:00+02:00"),
    # The night clocks fall back, 02:00 happens twice: expected at the first one.
    ("Europe/Amsterdam", "2026-10-24T02:00:30+02:00", "2026-10-25T02:00:00+02:00"),
    ("America/New_York", "2026-03-07T02:00:30-05:00", "2026-03-08T03:00:00-04:00"),
    ("Asia/Tokyo", "2026-03-02T02:00:30+09:00", "2026-03-03T02:00:00+09:00"),
])
def test_cron_heartbeat_in_its_time_zone_across_dst(client, services, clock, zone, ping_at, late_at):
    heartbeat = make_heartbeat(services["checkout"], schedule="cron", cron="0 2 * * *", time_zone=zone,
                               grace_seconds=1800)
    clock.move_to(dt.datetime.fromisoformat(ping_at))
    ping(client, heartbeat)
    late = dt.datetime.fromisoformat(late_at)
    assert fresh(heartbeat).next_sweep_at == late

    clock.move_to(late - dt.timedelta(seconds=1))
    assert sweep_heartbeats() == 0
    clock.move_to(late)
    assert sweep_heartbeats() == 1
    assert fresh(heartbeat).status == "late"
    clock.move_to(late + dt.timedelta(minutes=29))
    assert sweep_heartbeats() == 0
    clock.move_to(late + dt.timedelta(minutes=30))
    assert sweep_heartbeats() == 1
    assert fresh(heartbeat).status == "down"
    assert alert_status(heartbeat) == "firing"


def test_cron_ping_each_night_keeps_it_up_through_the_autumn_change(client, services, clock):
    heartbeat = make_heartbeat(services["checkout"], schedule="cron", cron="0 2 * * *",
                               time_zone="Europe/Amsterdam", grace_seconds=900)
    # The job runs at 02:00 local each night from 23 to 27 October (DST ends on the 25th).
    for day, offset in ((23, 2), (24, 2), (25, 2), (26, 1), (27, 1)):
        run = dt.datetime(2026, 10, day, 2 - offset, 0, 0, tzinfo=UTC)
        clock.move_to(run - dt.timedelta(seconds=30))
        assert sweep_heartbeats() == 0
        clock.move_to(run + dt.timedelta(seconds=20))
        ping(client, heartbeat)
    assert changes(heartbeat) == [("new", "up")]


def test_changing_the_schedule_moves_the_deadline(client, heartbeat, clock, cast):
    ping(client, heartbeat)
    actions.update_heartbeat(heartbeat, actor=cast["alice"], source=Door.WEB, period_seconds=600)
    clock.shift(601)
    assert sweep_heartbeats() == 1
    assert fresh(heartbeat).status == "late"


def test_sweep_claims_with_skip_locked_so_a_locked_row_waits(heartbeat, client, clock, transactional_db):
    """A heartbeat locked by a ping in flight is skipped, not waited for."""
    import threading

    from django.db import connection, transaction

    from monitoring.heartbeats.models import Heartbeat

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers instead")
    ping(client, heartbeat)
    clock.shift(2 * 3600)
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        assert sweep_heartbeats() == 0
    finally:
        release.set()
        holder.join()
    assert sweep_heartbeats() == 1
