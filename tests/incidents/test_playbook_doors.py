# ruff: noqa: F811  (fixtures imported from test_playbook are used as arguments)
"""Playbook reminders through every door: the workspace (upcoming / due / overdue, the
htmx "done" button for responders only), the REST API (templates CRUD, an incident's
reminders, done) in the OpenAPI schema, and the admin."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from alertum.core.models import AuditEntry, Door
from incidents.models import PlaybookTemplate, Reminder, TimelineEntry
from incidents.playbook import actions as playbook
from tests.conftest import login
from tests.incidents.test_playbook import ISSUE_P1, T0, p1, p1_playbook  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def panel(html: str) -> str:
    match = re.search(r'<section id="incident-reminders".*?</section>', html, re.S)
    assert match, "the workspace has no playbook panel"
    return match.group(0)


def states(html: str) -> dict[str, str]:
    """{step text: shown state} as the panel shows them (first occurrence of each)."""
    shown = {}
    for state, text in re.findall(r'data-state="(\w+)">\s*<div class="reminder-head">\s*'
                                  r'<span class="badge reminder-state">\w+</span>\s*'
                                  r'<span class="reminder-text">([^<]+)</span>', html):
        shown.setdefault(text, state)
    return shown


# --- the workspace ------------------------------------------------------------------------------

def test_workspace_shows_steps_upcoming_then_due_then_overdue(p1, clock, client, cast):
    login(client, cast["alice"])
    url = reverse("incidents:workspace", args=[p1.pk])
    html = panel(client.get(url).content.decode())
    assert states(html) == {"Confirm the scope of the impact": "upcoming", "Draft the status note": "upcoming",
                            "Brief the executives": "upcoming", "Re-evaluate the severity": "upcoming"}
    assert "Incident commander" in html and "Communications lead" in html

    clock.shift(dt.timedelta(minutes=15))
    playbook.tick()
    html = client.get(url).content.decode()
    assert states(panel(html))["Confirm the scope of the impact"] == "due"
    # The timeline says who it is for (alice sees times in Europe/Amsterdam).
    assert "Playbook: <strong>Confirm the scope of the impact</strong> — for the incident commander, Carol" in html

    clock.shift(dt.timedelta(minutes=10))  # the 10-minute grace is over
    shown = states(client.get(url).content.decode())
    assert shown["Confirm the scope of the impact"] == "overdue"
    # The panel counts a step as due when its time passes, before the tick runs.
    clock.shift(dt.timedelta(minutes=5))
    assert states(client.get(reverse("incidents:reminders", args=[p1.pk])).content.decode())[
        "Draft the status note"] == "due"


def test_done_button_is_for_responders_only(p1, clock, client, cast):
    url = reverse("incidents:workspace", args=[p1.pk])
    login(client, cast["alice"])
    assert 'data-action="reminder-done"' in panel(client.get(url).content.decode())
    client.logout()
    login(client, cast["victor"])  # a viewer of the team
    html = client.get(url).content.decode()
    assert "Confirm the scope of the impact" in panel(html)
    assert 'data-action="reminder-done"' not in html

    row = Reminder.objects.filter(incident=p1).first()
    response = client.post(reverse("incidents:reminder-done", args=[p1.pk, row.pk]), **HTMX)
    assert response.status_code == 403
    assert "responder role" in response.content.decode()
    assert Reminder.objects.get(pk=row.pk).state == "upcoming"


def test_marking_done_in_the_workspace_updates_the_panel_and_the_timeline(p1, clock, client, cast):
    clock.shift(dt.timedelta(minutes=15))
    playbook.tick()
    row = Reminder.objects.get(incident=p1, state="due")
    login(client, cast["bob"])
    response = client.post(reverse("incidents:reminder-done", args=[p1.pk, row.pk]), **HTMX)
    assert response.status_code == 200
    fresh = panel(response.content.decode())
    assert 'hx-swap-oob="true"' in fresh
    assert states(fresh)["Confirm the scope of the impact"] == "done"
    assert "done by Bob" in fresh
    entry = TimelineEntry.objects.filter(incident=p1).order_by("-seq").first()
    assert (entry.kind, entry.actor.username, entry.source) == ("reminder.done", "bob", "web")
    page = client.get(reverse("incidents:workspace", args=[p1.pk])).content.decode()
    assert "Playbook step done: <strong>Confirm the scope of the impact</strong>" in page


def test_done_for_another_incidents_step_is_a_404_and_a_skipped_one_a_409(p1, clock, client, cast, make_incident):
    other = make_incident(title="Other", impact="outage")
    foreign = Reminder.objects.filter(incident=other).first()
    login(client, cast["alice"])
    response = client.post(reverse("incidents:reminder-done", args=[p1.pk, foreign.pk]), **HTMX)
    assert response.status_code == 404
    from incidents import actions

    actions.resolve_incident(p1, actor=cast["alice"], source=Door.WEB)
    row = Reminder.objects.filter(incident=p1).first()
    response = client.post(reverse("incidents:reminder-done", args=[p1.pk, row.pk]), **HTMX)
    assert response.status_code == 409
    assert "skipped (incident resolved)" in response.content.decode()
    html = panel(client.get(reverse("incidents:workspace", args=[p1.pk])).content.decode())
    assert set(states(html).values()) == {"skipped"}
    assert 'data-action="reminder-done"' not in html


def test_a_hidden_incident_has_no_reminders_panel_for_outsiders(p1, client, cast):
    login(client, cast["nobody"])
    assert client.get(reverse("incidents:reminders", args=[p1.pk])).status_code == 404


# --- the API ------------------------------------------------------------------------------------

def test_api_lists_an_incidents_reminders_with_their_shown_state(p1, clock, cast):
    clock.shift(dt.timedelta(minutes=26))
    playbook.tick()
    response = api(cast["victor"]).get(f"/api/v1/incidents/{p1.pk}/reminders/")
    assert response.status_code == 200
    rows = response.json()
    assert [(r["text"], r["state"], r["shown_state"]) for r in rows] == [
        ("Confirm the scope of the impact", "due", "overdue"),
        ("Draft the status note", "upcoming", "upcoming"),
        ("Brief the executives", "upcoming", "upcoming"),
        ("Re-evaluate the severity", "upcoming", "upcoming"),
    ]
    first = rows[0]
    assert first["due_at"] == "2026-03-02T09:15:00Z" and first["overdue_at"] == "2026-03-02T09:25:00Z"
    assert first["addressed_to"]["username"] == "carol"
    assert first["notification"]["state"] == "pending"


def test_api_marks_a_step_done(p1, clock, cast):
    row = Reminder.objects.filter(incident=p1).first()
    url = f"/api/v1/incidents/{p1.pk}/reminders/{row.pk}/done/"
    assert api(cast["victor"]).post(url).status_code == 403
    response = api(cast["alice"]).post(url)
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["shown_state"], body["done_by"]["username"]) == ("done", "done", "alice")
    entry = TimelineEntry.objects.filter(incident=p1).order_by("-seq").first()
    assert (entry.kind, entry.source, entry.data["early"]) == ("reminder.done", "api", True)
    assert api(cast["alice"]).post(f"/api/v1/incidents/{p1.pk}/reminders/999999/done/").status_code == 404
    assert api(cast["nobody"]).get(f"/api/v1/incidents/{p1.pk}/reminders/").status_code == 404
    assert api(cast["alice"]).get("/api/v1/incidents/abc/reminders/").status_code == 404


def test_api_templates_are_read_by_members_and_written_by_admins(p1_playbook, cast):
    listing = api(cast["alice"]).get("/api/v1/playbooks/")
    assert listing.status_code == 200
    [p1_json] = [t for t in listing.json()["results"] if t["severity"] == "P1"]
    assert [s["offset_minutes"] for s in p1_json["steps"]] == [15, 30, 60, 60]
    assert p1_json["steps"][3]["repeat_every_minutes"] == 60

    new = {"name": "P2 response", "severity": "P2", "grace_minutes": 15,
           "steps": [{"offset_minutes": 30, "role": "commander", "text": "Confirm scope"}]}
    assert api(cast["alice"]).post("/api/v1/playbooks/", new, format="json").status_code == 403
    created = api(cast["root"]).post("/api/v1/playbooks/", new, format="json")
    assert created.status_code == 201, created.content
    template_id = created.json()["id"]
    assert created.json()["steps"] == [{"offset_minutes": 30, "role": "commander", "text": "Confirm scope",
                                        "repeat_every_minutes": None}]
    assert AuditEntry.objects.filter(action="playbooktemplate.created", object_id=str(template_id)).exists()

    changed = api(cast["root"]).patch(f"/api/v1/playbooks/{template_id}/", {"steps": [
        {"offset_minutes": 10, "role": "liaison", "text": "Tell the account managers",
         "repeat_every_minutes": 30}]}, format="json")
    assert changed.status_code == 200
    assert [s["text"] for s in changed.json()["steps"]] == ["Tell the account managers"]
    assert AuditEntry.objects.filter(action="playbooktemplate.updated").count() == 1

    assert api(cast["alice"]).delete(f"/api/v1/playbooks/{template_id}/").status_code == 403
    assert api(cast["root"]).delete(f"/api/v1/playbooks/{template_id}/").status_code == 204
    assert not PlaybookTemplate.objects.filter(pk=template_id).exists()
    assert api(cast["nobody"]).get("/api/v1/playbooks/").json()["results"] == []


def test_api_refuses_bad_templates_and_changes_nothing(p1_playbook, cast):
    root = api(cast["root"])
    before = PlaybookTemplate.objects.count()
    no_steps = root.post("/api/v1/playbooks/", {"name": "x", "severity": "P3", "steps": []}, format="json")
    assert no_steps.status_code == 422 and "at least one step" in no_steps.json()["detail"]
    bad_role = root.post("/api/v1/playbooks/", {"name": "x", "severity": "P3", "steps": [
        {"offset_minutes": 5, "role": "janitor", "text": "Sweep"}]}, format="json")
    assert bad_role.status_code == 400 and "steps" in bad_role.json()
    short_repeat = root.post("/api/v1/playbooks/", {"name": "x", "severity": "P3", "steps": [
        {"offset_minutes": 5, "role": "commander", "text": "Check", "repeat_every_minutes": 1}]}, format="json")
    assert short_repeat.status_code == 400
    second_p1 = root.post("/api/v1/playbooks/", {"name": "Another P1", "severity": "P1", "steps": [
        {"offset_minutes": 5, "role": "commander", "text": "Check"}]}, format="json")
    assert second_p1.status_code == 409 and "another active playbook" in second_p1.json()["detail"]
    assert root.patch(f"/api/v1/playbooks/{p1_playbook.pk}/", {"grace_minutes": -1}, format="json").status_code == 400
    assert PlaybookTemplate.objects.count() == before


def test_the_playbook_endpoints_are_in_the_openapi_schema(cast):
    schema = api(cast["alice"]).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert "/api/v1/playbooks/" in paths and "/api/v1/playbooks/{id}/" in paths
    assert "/api/v1/incidents/{incident_pk}/reminders/" in paths
    assert "post" in paths["/api/v1/incidents/{incident_pk}/reminders/{id}/done/"]


# --- the admin ------------------------------------------------------------------------------------

def test_admin_edits_a_template_with_its_steps_audited(p1_playbook, client, cast):
    login(client, cast["root"])
    url = reverse("admin:incidents_playbooktemplate_add")
    assert client.get(url).status_code == 200
    form = {"name": "P3 response", "severity": "P3", "grace_minutes": "20", "active": "on",
            "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0", "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
            "steps-0-position": "1", "steps-0-offset_minutes": "45", "steps-0-role": "comms_lead",
            "steps-0-text": "Post a status page update", "steps-0-repeat_every_minutes": "",
            "steps-1-position": "2", "steps-1-offset_minutes": "60", "steps-1-role": "responder",
            "steps-1-text": "Check the error budget", "steps-1-repeat_every_minutes": "120"}
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    template = PlaybookTemplate.objects.get(name="P3 response")
    assert [(s.offset_minutes, s.role, s.repeat_every_minutes) for s in template.steps.all()] == [
        (45, "comms_lead", None), (60, "responder", 120)]
    assert AuditEntry.objects.filter(action="playbooktemplate.created", source="admin").exists()
    changelist = client.get(reverse("admin:incidents_playbooktemplate_changelist")).content.decode()
    assert "P3 response" in changelist


def test_admin_shows_reminders_read_only(p1, client, cast):
    login(client, cast["root"])
    response = client.get(reverse("admin:incidents_reminder_changelist"))
    assert response.status_code == 200
    assert "Confirm the scope of the impact" in response.content.decode()
    row = Reminder.objects.filter(incident=p1).first()
    assert client.post(reverse("admin:incidents_reminder_change", args=[row.pk]), {"state": "done"}).status_code == 403


def test_panel_times_are_in_the_viewers_time_zone(p1, client, cast):
    login(client, cast["alice"])  # Europe/Amsterdam: 09:15 UTC is 10:15 CET
    html = panel(client.get(reverse("incidents:workspace", args=[p1.pk])).content.decode())
    assert 'due <time datetime="2026-03-02T10:15:00+01:00">10:15 CET</time>' in html


def test_the_tick_is_declared_for_beat():
    from alertum import ticks

    assert ticks.TICKS["playbook.remind"] == ("incidents.tasks.playbook_tick", 15)


@pytest.mark.django_db(transaction=True)
def test_an_open_workspace_gets_the_due_step_live(p1, clock, cast, settings):
    """Through the real ASGI stack: the tick's entry is pushed with the playbook panel."""
    from asgiref.sync import async_to_sync
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from alertum.asgi import application
    from incidents.consumers import clear_shared_renders

    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    clear_shared_renders()
    browser = Client()
    browser.force_login(cast["alice"])
    headers = [(b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode()),
               (b"origin", b"http://testserver")]
    clock.shift(dt.timedelta(minutes=15))

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/incidents/{p1.pk}/", headers=headers)
        assert (await ws.connect(timeout=5))[0]
        await ws.send_json_to({"last_seq": 1})
        await database_sync_to_async(playbook.tick)()
        pushed = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return pushed

    pushed = async_to_sync(scenario)()
    assert "Playbook: <strong>Confirm the scope of the impact</strong>" in pushed
    assert re.search(r'<section id="incident-reminders"[^>]*hx-swap-oob="true"', pushed)
    assert states(panel(pushed))["Confirm the scope of the impact"] == "due"
