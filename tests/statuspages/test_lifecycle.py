"""Component statuses (by hand, derived from internal incidents and monitors), public
incident updates on the internal timeline, scheduled maintenance driven by the core
maintenance tick, the reminder an hour before, stakeholder notices, uptime."""

import datetime as dt

import pytest

from alertum.core.actions import advance_maintenance
from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import Door
from incidents import actions as incident_actions
from statuspages import actions, queries, v2
from statuspages.models import Component, Notice, StakeholderAudience


def _status(component):
    return Component.objects.get(pk=component.pk).status


def test_public_updates_go_through_the_states_and_onto_the_internal_timeline(page, components, cast, incident):
    alice = cast["alice"]
    public = actions.create_public_incident(page, name="Checkout errors", body="Investigating payments.",
                                            incident=incident, actor=alice, source=Door.WEB,
                                            component_statuses={components["checkout"].code: "partial_outage"})
    for status in ("identified", "monitoring", "resolved", "postmortem"):
        actions.post_incident_update(public, status=status, body=f"Now {status}.", actor=alice, source=Door.WEB)
    public.refresh_from_db()
    assert public.status == "postmortem" and public.postmortem_body == "Now postmortem."
    assert public.monitoring_at and public.resolved_at
    with pytest.raises(Conflict):
        actions.post_incident_update(public, status="investigating", body="again?", actor=alice, source=Door.WEB)
    entries = [e for e in incident.timeline.all() if e.data.get("public_incident") == public.code]
    assert [e.data["public_status"] for e in entries] == ["investigating", "identified", "monitoring", "resolved",
                                                          "postmortem"]
    assert all(e.visibility == "public" for e in entries)
    assert "Investigating payments." in entries[0].data["impact"]
    # Resolving put the reported status back; the internal incident on the checkout
    # service is still open (impact degraded), and Checkout is automatic: it shows that.
    assert Component.objects.get(pk=components["checkout"].pk).reported_status == "operational"
    assert _status(components["checkout"]) == "degraded_performance"


def test_only_the_page_teams_responders_tell_customers(page, cast):
    for who in ("victor", "oscar", "nobody"):
        with pytest.raises(Forbidden):
            actions.create_public_incident(page, name="x", body="y", actor=cast[who], source=Door.WEB)
    with pytest.raises(Forbidden):
        actions.update_page(page, actor=cast["alice"], source=Door.WEB, name="Renamed")  # needs admin
    with pytest.raises(Invalid):
        actions.create_public_incident(page, name="x", body="  ", actor=cast["alice"], source=Door.WEB)


def test_two_levels_only(page, components, admin):
    with pytest.raises(Invalid, match="two levels"):
        actions.save_component(page, actor=admin, source=Door.WEB, name="Nested", is_group=True,
                               group=components["group"])
    with pytest.raises(Conflict):
        actions.delete_component(components["group"], actor=admin, source=Door.WEB)


def test_automatic_components_follow_internal_incidents(page, components, cast, make_incident, commit):
    with commit():  # the incidents hub's signal, sent on commit
        internal = make_incident(title="Checkout down", impact="outage")
    assert _status(components["checkout"]) == "major_outage"
    incident_actions.resolve_incident(internal, actor=cast["alice"], source=Door.WEB)
    actions.tick()  # no commit, no signal: the tick catches up
    assert _status(components["checkout"]) == "operational"


def test_automatic_components_follow_monitors(page, components, admin, services):
    from monitoring.models import Monitor

    monitor = Monitor.objects.create(service=services["checkout"], name="checkout https", kind="http",
                                     config={"url": "http://127.0.0.1:9/"}, state="down")
    actions.save_component(page, components["api"], actor=admin, source=Door.WEB, monitors=[monitor])
    assert _status(components["api"]) == "major_outage"
    assert _status(components["group"]) == "major_outage"
    Monitor.objects.filter(pk=monitor.pk).update(state="up")
    actions.tick()
    assert _status(components["api"]) == "operational"


def test_manual_components_ignore_links(page, components, admin, make_incident):
    actions.save_component(page, components["checkout"], actor=admin, source=Door.WEB, automatic=False)
    make_incident(title="Checkout down", impact="outage")
    actions.tick()
    assert _status(components["checkout"]) == "operational"


def test_scheduled_maintenance_runs_on_the_core_tick_with_a_reminder(page, components, cast, clock, smtp_server):
    alice = cast["alice"]
    actions.add_subscriber(page, kind="email", email="c@example.com", actor=alice, source=Door.WEB)
    starts = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    maintenance = actions.schedule_public_maintenance(
        page, name="Database upgrade", starts_at=starts, ends_at=starts + dt.timedelta(hours=1),
        components=[components["checkout"]], actor=alice, source=Door.WEB)
    assert maintenance.window.services.get().slug == "checkout"
    actions.deliver_due()
    assert [m["Subject"] for m in smtp_server.messages] == ["[Acme] Maintenance: Database upgrade"]

    clock.move_to(starts - dt.timedelta(minutes=59))
    actions.tick()
    actions.tick()  # the reminder goes once
    actions.deliver_due()
    assert smtp_server.messages[-1]["Subject"].startswith("[Acme] Reminder: Database upgrade starts at 13:00")
    assert len(smtp_server.messages) == 2

    clock.move_to(starts + dt.timedelta(minutes=1))
    advance_maintenance()  # the core tick starts the window
    actions.tick()
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"
    assert _status(components["checkout"]) == "under_maintenance"
    snapshot = queries.public_snapshot(page, "http://x/")
    assert snapshot["status"]["indicator"] == "none"
    assert [m.name for m in snapshot["maintenances"]] == ["Database upgrade"]

    clock.move_to(starts + dt.timedelta(hours=1, minutes=1))
    advance_maintenance()
    actions.tick()
    maintenance.refresh_from_db()
    assert maintenance.status == "completed" and maintenance.done
    assert _status(components["checkout"]) == "operational"
    assert [u.status for u in maintenance.updates.order_by("display_at", "id")] == ["scheduled", "in_progress",
                                                                                   "completed"]
    actions.deliver_due()
    assert len(smtp_server.messages) == 4  # + started, + completed


def test_maintenance_moved_by_hand_through_verifying(page, components, cast, clock):
    starts = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    maintenance = actions.schedule_public_maintenance(
        page, name="Failover test", starts_at=starts, ends_at=starts + dt.timedelta(hours=2),
        components=[components["checkout"]], actor=cast["alice"], source=Door.WEB)
    actions.post_maintenance_update(maintenance, status="in_progress", body="Started early.", actor=cast["alice"],
                                    source=Door.WEB)
    actions.post_maintenance_update(maintenance, status="verifying", body="Checking.", actor=cast["alice"],
                                    source=Door.WEB)
    maintenance.refresh_from_db()
    assert maintenance.window.state == "verifying" and maintenance.status == "verifying"
    assert _status(components["checkout"]) == "under_maintenance"
    actions.tick()  # nothing moved: no extra update
    assert maintenance.updates.count() == 3


def test_cancelled_maintenance(page, components, cast):
    starts = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    maintenance = actions.schedule_public_maintenance(
        page, name="Cancelled", starts_at=starts, ends_at=starts + dt.timedelta(hours=1),
        components=[components["checkout"]], actor=cast["alice"], source=Door.WEB)
    actions.cancel_maintenance(maintenance, actor=cast["alice"], source=Door.WEB)
    maintenance.refresh_from_db()
    assert maintenance.cancelled and maintenance.done
    assert queries.maintenances(page, "upcoming") == []


def test_stakeholders_hear_of_p1_and_p2_only_once(cast, teams, make_incident, smtp_server, commit):
    StakeholderAudience.objects.create(name="Execs", kind="email", target="ceo@example.com\ncto@example.com",
                                       severities=["P1", "P2"])
    StakeholderAudience.objects.create(name="Platform only", kind="email", target="p@example.com",
                                       team=teams["platform"])
    with commit():
        make_incident(title="Minor glitch", severity="P4", severity_reason="cosmetic")
    actions.deliver_due()
    assert smtp_server.messages == []
    with commit():
        incident = make_incident(title="Checkout down", severity="P1", severity_reason="all payments fail")
    actions.notify_stakeholders(incident.pk, "triggered")  # a repeated signal sends nothing twice
    actions.deliver_due()
    assert sorted(m["To"] for m in smtp_server.messages) == ["ceo@example.com", "cto@example.com"]
    assert "INC-" in smtp_server.messages[0]["Subject"] and "declared" in smtp_server.messages[0]["Subject"]
    with commit():
        incident_actions.resolve_incident(incident, actor=cast["alice"], source=Door.WEB)
    actions.deliver_due()
    assert len(smtp_server.messages) == 4
    assert Notice.objects.filter(state="delivered").count() == 4


def test_uptime_counts_partial_outage_partly_and_no_data_as_none(clock, page, components, cast):
    tz = v2.page_tz(page)
    api = components["api"]
    day = dt.date(2026, 3, 3)
    start = dt.datetime.combine(day, dt.time(), tz)
    clock.move_to(start + dt.timedelta(hours=6))
    actions.set_component_status(api, "major_outage", actor=cast["alice"], source=Door.WEB)
    clock.move_to(start + dt.timedelta(hours=12))
    actions.set_component_status(api, "partial_outage", actor=cast["alice"], source=Door.WEB)
    clock.move_to(start + dt.timedelta(hours=18))
    actions.set_component_status(api, "operational", actor=cast["alice"], source=Door.WEB)
    clock.move_to(start + dt.timedelta(days=1, hours=1))
    api.refresh_from_db()
    per_day = queries.uptime_by_day([api], day - dt.timedelta(days=2), day, tz)[api.pk]
    assert per_day[day - dt.timedelta(days=2)] is None  # before the component existed
    assert per_day[day] == pytest.approx(1 - (6 + 0.3 * 6) / 24)


def test_a_tick_with_nothing_to_change_writes_nothing(page, components):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    actions.tick()
    with CaptureQueriesContext(connection) as captured:
        assert actions.tick() == {"maintenance": 0, "components": 0}
    writes = [q["sql"] for q in captured if q["sql"].split()[0].upper() in ("UPDATE", "INSERT", "DELETE")]
    assert writes == []
