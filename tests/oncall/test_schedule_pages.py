"""Schedule pages, the dashboard widget, the admin, and the secret iCalendar feeds."""

import datetime as dt

import icalendar
import pytest
from django.urls import reverse

from alertum.core.models import Door, Membership, Role
from oncall.schedules import actions
from oncall.schedules.models import CalendarFeed, Layer
from tests.conftest import login
from tests.oncall.conftest import local

pytestmark = pytest.mark.django_db

TZ = "Europe/Amsterdam"


@pytest.fixture
def primary(make_schedule, clock):
    return make_schedule(tz=TZ, layers=[dict(rotation_unit="days", rotation_length=1, name="Daily",
                                             starts_at=local(TZ, 2026, 3, 2, 9), participants=["alice", "bob"])])


def test_dashboard_and_list_show_who_is_on_call_now_and_next(client, cast, primary):
    login(client, cast["victor"])
    page = client.get("/").content.decode()
    assert "On call now" in page and "Primary" in page
    widget = page[page.index('id="on-call-now-widget"'):]
    assert "<strong>Alice</strong>" in widget and "Bob" in widget
    listing = client.get(reverse("schedules:list")).content.decode()
    assert "<strong>Alice</strong>" in listing


def test_schedule_view_shows_layers_final_schedule_and_gaps_in_the_viewers_zone(client, cast, make_schedule,
                                                                                clock):
    schedule = make_schedule(tz=TZ, layers=[dict(
        rotation_unit="days", rotation_length=1, name="Office hours", starts_at=local(TZ, 2026, 3, 2, 9),
        participants=["alice", "bob"],
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00", "end_time": "17:00"}])])
    login(client, cast["alice"])  # alice's time zone is Europe/Amsterdam
    page = client.get(reverse("schedules:detail", args=[schedule.slug])).content.decode()
    assert "Office hours" in page and "Final schedule" in page
    assert "Mon 2 Mar 09:00 CET" in page and "Mon 2 Mar 17:00 CET" in page
    assert "Gaps:" in page  # nights and weekends are uncovered


def test_other_teams_cannot_see_a_schedule_page(client, cast, primary):
    login(client, cast["oscar"])
    assert client.get(reverse("schedules:detail", args=[primary.slug])).status_code == 404
    assert client.get(reverse("schedules:edit", args=[primary.slug])).status_code == 404


def test_editor_preview_warns_about_gaps_and_fatigue(client, cast, primary, teams):
    actions.set_fatigue_limits(teams["payments"], actor=None, source=Door.SYSTEM, max_consecutive_shifts=3)
    login(client, cast["carol"])
    form = {"name": "Solo", "level": "2", "rotation_length": "1", "rotation_unit": "days",
            "starts_at": "2026-03-02T09:00", "participants": "alice", "restrictions": ""}
    preview = client.post(reverse("schedules:layer_preview", args=[primary.slug]), form).content.decode()
    assert "No gaps" in preview
    assert "Fatigue warnings" in preview and "shifts in a row (limit 3)" in preview  # alice every day
    Layer.objects.filter(schedule=primary).delete()
    gappy = client.post(reverse("schedules:layer_preview", args=[primary.slug]),
                        {**form, "restrictions": "Mon-Fri 09:00-17:00"}).content.decode()
    assert "with nobody on call" in gappy and "Fatigue warnings" not in gappy  # nights off are a rest


def test_editor_saves_a_layer_and_refuses_bad_input_with_a_message(client, cast, primary):
    login(client, cast["carol"])
    url = reverse("schedules:layer_create", args=[primary.slug])
    form = {"name": "Nights", "rotation_length": "1", "rotation_unit": "weeks", "starts_at": "2026-03-02T17:00",
            "participants": "bob\ncarol", "restrictions": "Mon-Fri 17:00-09:00"}
    bad = client.post(url, {**form, "restrictions": "Funday 25:00-26:00"})
    assert bad.status_code == 400 and "Mon-Fri 09:00-17:00" in bad.content.decode()
    viewer = client.post(url, {**form, "participants": "victor"})
    assert viewer.status_code == 422 and "not a responder" in viewer.content.decode()
    assert primary.layers.count() == 1
    saved = client.post(url, form)
    assert saved.status_code == 302
    layer = primary.layers.get(name="Nights")
    assert layer.starts_at == local(TZ, 2026, 3, 2, 17)  # read in the schedule's zone
    assert [str(r) for r in layer.restrictions.all()] == ["Mon,Tue,Wed,Thu,Fri 17:00–09:00"]
    login(client, cast["bob"])
    assert client.post(url, form).status_code == 403


def test_my_shifts_coverage_and_fatigue_reports(client, cast, primary):
    login(client, cast["bob"])
    mine = client.get(reverse("schedules:my_shifts")).content.decode()
    # bob (UTC) takes every other day from 08:00 UTC (09:00 in Amsterdam).
    assert "Tue 3 Mar 08:00 UTC" in mine and "Thu 5 Mar 08:00 UTC" in mine and "Mon 2 Mar 08:00" not in mine
    coverage = client.get(reverse("schedules:coverage")).content.decode()
    # The report starts at midnight (bob's zone, UTC); the rotation only starts at 08:00.
    assert "Primary" in coverage and "Mon 2 Mar 00:00 – Mon 2 Mar 08:00 UTC" in coverage
    assert client.get(reverse("schedules:fatigue")).status_code == 200


def test_calendar_link_exports_shifts_in_utc_and_stops_when_revoked(client, cast, make_schedule, clock):
    schedule = make_schedule(tz="America/New_York", layers=[dict(
        rotation_unit="days", rotation_length=1, starts_at=local("America/New_York", 2026, 3, 6, 9),
        participants=["alice", "bob"])])
    login(client, cast["alice"])
    created = client.post(reverse("schedules:calendar_links"), {"schedule": schedule.pk})
    assert created.status_code == 201
    url = created.context["new_url"]
    assert not CalendarFeed.objects.filter(secret_hash__in=[url]).exists()
    client.logout()  # calendar apps do not sign in
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    events = [e for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")]
    starts = sorted(e.decoded("dtstart") for e in events)
    # 09:00 in New York before (EST, 14:00Z) and after (EDT, 13:00Z) the change on 8 March.
    assert dt.datetime(2026, 3, 7, 14, tzinfo=dt.UTC) in starts
    assert dt.datetime(2026, 3, 9, 13, tzinfo=dt.UTC) in starts
    assert all(e.decoded("dtstart").utcoffset() == dt.timedelta(0) for e in events)

    feed = CalendarFeed.objects.get()
    actions.revoke_calendar_feed(feed, actor=cast["alice"], source=Door.WEB)
    assert client.get(url).status_code == 404
    assert client.get(url[:-10] + "tampered.ics").status_code == 404


def test_personal_calendar_lists_only_my_shifts(client, cast, primary):
    _, token = actions.create_calendar_feed(owner=cast["bob"], actor=cast["bob"], source=Door.API)
    body = client.get(reverse("schedules:calendar", args=[token])).content
    summaries = {str(e.get("summary")) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    assert summaries == {"On call: Bob (Primary)"}
    Membership.objects.filter(user=cast["bob"]).delete()  # left the team: the feed shows nothing more
    assert client.get(reverse("schedules:calendar", args=[token])).status_code == 404 or not list(
        icalendar.Calendar.from_ical(client.get(reverse("schedules:calendar", args=[token])).content).walk("VEVENT"))


def test_admin_lists_and_edits_schedules(client, cast, primary):
    login(client, cast["root"])
    for name in ("schedule", "layer", "override", "fatiguelimits", "handoff", "handoffnote", "calendarfeed"):
        assert client.get(f"/admin/schedules/{name}/").status_code == 200, name
    layer = primary.layers.get()
    assert client.get(f"/admin/schedules/layer/{layer.pk}/change/").status_code == 200
    response = client.post(f"/admin/schedules/schedule/{primary.pk}/change/", {
        "team": primary.team_id, "name": "Primary", "slug": primary.slug, "time_zone": "Europe/London",
        "description": "", "layers-TOTAL_FORMS": "0", "layers-INITIAL_FORMS": "0", "layers-MIN_NUM_FORMS": "0",
        "layers-MAX_NUM_FORMS": "1000"})
    assert response.status_code == 302, response.content.decode()[:2000]
    primary.refresh_from_db()
    assert primary.time_zone == "Europe/London"
    assert Role  # roles are set up by the shared cast
