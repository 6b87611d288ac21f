# ruff: noqa: F811  (the SMTP fixtures are imported from tests/core/notify and used as arguments)
"""Response playbook reminders: armed at declaration and severity change, put on the
timeline by the beat tick addressed to the current role holder, e-mailed after commit
(to a real local SMTP server), repeated, marked done, skipped on resolve."""

import datetime as dt

import pytest

from alertum.core.models import Door
from incidents import actions
from incidents.models import IncidentRole, PlaybookTemplate, Reminder, TimelineEntry
from incidents.playbook import actions as playbook
from tests.core.notify.conftest import SMTPRecorder, smtp_factory, smtp_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # the clock fixture's start
ISSUE_P1 = [  # the issue's example
    {"offset_minutes": 15, "role": "commander", "text": "Confirm the scope of the impact"},
    {"offset_minutes": 30, "role": "comms_lead", "text": "Draft the status note"},
    {"offset_minutes": 60, "role": "liaison", "text": "Brief the executives"},
    {"offset_minutes": 60, "role": "commander", "text": "Re-evaluate the severity", "repeat_every_minutes": 60},
]


@pytest.fixture
def p1_playbook(db):
    """The issue's P1 playbook, whatever an earlier test left in the table."""
    PlaybookTemplate.objects.filter(severity__in=["P1", "P2"]).delete()
    return playbook.create_template(name="P1 response", severity="P1", steps=ISSUE_P1, actor=None,
                                    source=Door.SYSTEM)


@pytest.fixture
def eager_tasks():
    """Run queued celery tasks inline, for the tests that follow an on-commit send."""
    from alertum.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def p1(clock, p1_playbook, make_incident, cast):
    """A P1 (complete outage of tier-1 checkout) commanded by carol, declared at 09:00."""
    return make_incident(impact="outage", commander=cast["carol"])


def entries(incident, kind):
    return list(TimelineEntry.objects.filter(incident=incident, kind=kind).order_by("seq"))


def reminders(incident):
    return list(Reminder.objects.filter(incident=incident).order_by("due_at", "id"))


def test_declaring_a_p1_arms_its_playbook_from_the_declaration(p1):
    assert [(r.text, r.role, r.due_at, r.state) for r in reminders(p1)] == [
        ("Confirm the scope of the impact", "commander", T0 + dt.timedelta(minutes=15), "upcoming"),
        ("Draft the status note", "comms_lead", T0 + dt.timedelta(minutes=30), "upcoming"),
        ("Brief the executives", "liaison", T0 + dt.timedelta(minutes=60), "upcoming"),
        ("Re-evaluate the severity", "commander", T0 + dt.timedelta(minutes=60), "upcoming"),
    ]
    # Arming writes no timeline entry: the declaration is the one entry.
    assert [e.kind for e in TimelineEntry.objects.filter(incident=p1)] == ["incident.declared"]


def test_a_severity_without_a_playbook_gets_no_reminders(clock, p1_playbook, make_incident):
    incident = make_incident()  # degraded tier 1: P2
    assert incident.severity == "P2"
    assert reminders(incident) == []


def test_nothing_fires_before_its_time(p1, clock):
    clock.shift(dt.timedelta(minutes=14, seconds=59))
    assert playbook.fire_due_reminders() == 0
    assert entries(p1, "reminder.due") == []


def test_due_step_goes_on_the_timeline_addressed_to_the_role_holder_and_is_emailed_after_commit(
        p1, clock, smtp_server, eager_tasks, django_capture_on_commit_callbacks, settings):
    settings.BASE_URL = "https://alertum.example"
    clock.shift(dt.timedelta(minutes=15))
    with django_capture_on_commit_callbacks() as callbacks:
        assert playbook.fire_due_reminders() == 1
        # Written first, sent only after commit.
        assert smtp_server.envelopes == []
        [row] = [r for r in reminders(p1) if r.state == "due"]
        assert (row.notify_state, row.addressed_to.username) == ("pending", "carol")
    [entry] = entries(p1, "reminder.due")
    assert entry.source == "beat" and entry.actor is None
    assert entry.data["text"] == "Confirm the scope of the impact"
    assert entry.data["to"]["name"] == "Carol" and entry.data["via"] == "holder"
    assert smtp_server.envelopes == []

    for callback in callbacks:
        callback()
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["carol@example.test"]
    [mail] = smtp_server.messages
    assert mail["Subject"] == f"[P1] {p1.reference}: Reminder: Confirm the scope of the impact"
    text = mail.get_body(("plain",)).get_content()
    assert "Role: Incident commander" in text
    assert f"Open incident: https://alertum.example/incidents/{p1.pk}/" in text
    row = Reminder.objects.get(pk=row.pk)
    assert row.notify_state == "sent" and row.notified_at == T0 + dt.timedelta(minutes=15)
    assert row.notify_message_id == mail["Message-ID"]


def test_a_second_tick_and_a_second_send_change_nothing(p1, clock, smtp_server, eager_tasks,
                                                        django_capture_on_commit_callbacks):
    clock.shift(dt.timedelta(minutes=15))
    with django_capture_on_commit_callbacks(execute=True):
        playbook.fire_due_reminders()
    with django_capture_on_commit_callbacks(execute=True):
        assert playbook.fire_due_reminders() == 0
    [row] = [r for r in reminders(p1) if r.state == "due"]
    assert playbook.send_notification(row.pk) is None
    clock.shift(dt.timedelta(minutes=10))
    assert playbook.tick() == {"fired": 0, "resent": 0}
    assert len(entries(p1, "reminder.due")) == 1
    assert len(smtp_server.envelopes) == 1


def test_unheld_role_falls_to_the_commander_and_a_held_one_to_its_holder(p1, clock, cast, smtp_server,
                                                                         django_capture_on_commit_callbacks):
    clock.shift(dt.timedelta(minutes=30))
    playbook.fire_due_reminders()
    scope, status_note = entries(p1, "reminder.due")
    assert status_note.data["role"] == "comms_lead"
    assert (status_note.data["to"]["name"], status_note.data["via"]) == ("Carol", "commander")

    actions.assign_role(p1, IncidentRole.LIAISON, cast["bob"], actor=cast["alice"], source=Door.WEB)
    clock.shift(dt.timedelta(minutes=30))
    playbook.fire_due_reminders()
    briefing = [e for e in entries(p1, "reminder.due") if e.data["role"] == "liaison"][0]
    assert (briefing.data["to"]["name"], briefing.data["via"]) == ("Bob", "holder")


def test_nobody_to_address_is_said_on_the_timeline_and_nothing_is_emailed(clock, p1_playbook, make_incident,
                                                                          smtp_server):
    incident = make_incident(impact="outage")  # no commander, no assignee
    clock.shift(dt.timedelta(minutes=15))
    playbook.tick()
    [entry] = entries(incident, "reminder.due")
    assert entry.data["to"] is None
    assert Reminder.objects.get(incident=incident, state="due").notify_state == ""
    assert smtp_server.envelopes == []


def test_a_repeating_step_comes_back_until_resolved(p1, clock):
    clock.shift(dt.timedelta(minutes=60))
    playbook.fire_due_reminders()
    again = Reminder.objects.get(incident=p1, text="Re-evaluate the severity", state="upcoming")
    assert (again.occurrence, again.due_at) == (2, T0 + dt.timedelta(minutes=120))
    clock.shift(dt.timedelta(minutes=60))
    playbook.fire_due_reminders()
    texts = [e.data["text"] for e in entries(p1, "reminder.due")]
    assert texts.count("Re-evaluate the severity") == 2
    third = Reminder.objects.get(incident=p1, text="Re-evaluate the severity", state="upcoming")
    assert (third.occurrence, third.due_at) == (3, T0 + dt.timedelta(minutes=180))


def test_a_tick_that_fell_behind_does_not_replay_missed_repeats(p1, clock):
    clock.shift(dt.timedelta(hours=5, minutes=10))  # beat was down for hours
    playbook.fire_due_reminders()
    assert [e.data["text"] for e in entries(p1, "reminder.due")].count("Re-evaluate the severity") == 1
    nxt = Reminder.objects.get(incident=p1, text="Re-evaluate the severity", state="upcoming")
    assert nxt.due_at == T0 + dt.timedelta(hours=6)


def test_resolving_skips_the_remaining_steps_and_their_emails(p1, clock, cast, smtp_server, eager_tasks,
                                                             django_capture_on_commit_callbacks):
    clock.shift(dt.timedelta(minutes=15))
    with django_capture_on_commit_callbacks():  # fired, but the e-mail task never ran
        playbook.fire_due_reminders()
    actions.resolve_incident(p1, actor=cast["alice"], source=Door.WEB)
    assert {r.state for r in reminders(p1)} == {"skipped"}
    assert Reminder.objects.get(incident=p1, occurrence=1, text__startswith="Confirm").notify_state == "cancelled"
    clock.shift(dt.timedelta(hours=3))
    assert playbook.tick() == {"fired": 0, "resent": 0}
    assert len(entries(p1, "reminder.due")) == 1
    assert smtp_server.envelopes == []


def test_reopening_starts_the_playbook_over(p1, clock, cast):
    actions.resolve_incident(p1, actor=cast["alice"], source=Door.WEB)
    clock.shift(dt.timedelta(minutes=40))
    actions.reopen_incident(p1, actor=cast["alice"], source=Door.WEB, reason="errors are back")
    upcoming = [r for r in reminders(p1) if r.state == "upcoming"]
    assert [(r.occurrence, r.due_at) for r in upcoming][:1] == [(2, T0 + dt.timedelta(minutes=55))]
    assert len(upcoming) == 4


def test_raising_the_severity_arms_the_new_playbook_from_the_change(clock, p1_playbook, make_incident, cast):
    incident = make_incident(commander=cast["carol"])  # P2, no playbook
    clock.shift(dt.timedelta(minutes=20))
    actions.set_severity(incident, "P1", reason="all card payments fail", actor=cast["alice"], source=Door.WEB)
    first = reminders(incident)[0]
    assert (first.text, first.due_at) == ("Confirm the scope of the impact", T0 + dt.timedelta(minutes=35))


def test_lowering_the_severity_skips_steps_not_yet_due_and_keeps_due_ones(p1, clock, cast):
    clock.shift(dt.timedelta(minutes=15))
    playbook.fire_due_reminders()
    actions.set_severity(p1, "P2", reason="only some cards fail", actor=cast["alice"], source=Door.WEB)
    states = {r.text: (r.state, r.skip_reason) for r in reminders(p1)}
    assert states["Confirm the scope of the impact"] == ("due", "")
    assert states["Draft the status note"] == ("skipped", "severity changed to P2")
    # Back to P1: the skipped steps come again, numbered on; the due one is not doubled.
    actions.set_severity(p1, "P1", reason="it got worse", actor=cast["alice"], source=Door.WEB)
    status_notes = Reminder.objects.filter(incident=p1, text="Draft the status note").order_by("occurrence")
    assert [(r.occurrence, r.state) for r in status_notes] == [(1, "skipped"), (2, "upcoming")]
    assert Reminder.objects.filter(incident=p1, text="Confirm the scope of the impact").count() == 1


def test_marking_done_is_on_the_timeline_and_only_for_responders(p1, clock, cast):
    clock.shift(dt.timedelta(minutes=16))
    playbook.fire_due_reminders()
    row = Reminder.objects.get(incident=p1, state="due")
    with pytest.raises(Exception) as refused:
        playbook.complete_reminder(row, actor=cast["victor"], source=Door.WEB)
    assert getattr(refused.value, "status_code", None) == 403
    done = playbook.complete_reminder(row, actor=cast["alice"], source=Door.WEB)
    assert (done.state, done.done_by.username) == ("done", "alice")
    [entry] = entries(p1, "reminder.done")
    assert (entry.actor.username, entry.data["text"], entry.data["early"]) == (
        "alice", "Confirm the scope of the impact", False)
    # Twice changes nothing.
    playbook.complete_reminder(row, actor=cast["bob"], source=Door.WEB)
    assert len(entries(p1, "reminder.done")) == 1


def test_a_step_done_early_never_fires_and_a_repeating_one_moves_on(p1, clock, cast):
    repeat = Reminder.objects.get(incident=p1, text="Re-evaluate the severity")
    clock.shift(dt.timedelta(minutes=50))
    playbook.complete_reminder(repeat, actor=cast["carol"], source=Door.WEB)
    nxt = Reminder.objects.get(incident=p1, text="Re-evaluate the severity", state="upcoming")
    assert (nxt.occurrence, nxt.due_at) == (2, T0 + dt.timedelta(minutes=120))
    clock.shift(dt.timedelta(minutes=15))
    playbook.fire_due_reminders()
    assert "Re-evaluate the severity" not in [e.data["text"] for e in entries(p1, "reminder.due")]


def test_a_transient_smtp_failure_is_retried_by_the_sweep(p1, clock, smtp_factory, eager_tasks,
                                                          django_capture_on_commit_callbacks):
    server = smtp_factory(SMTPRecorder(rcpt_reply="451 4.3.0 try again later"))
    clock.shift(dt.timedelta(minutes=15))
    with django_capture_on_commit_callbacks(execute=True):
        playbook.fire_due_reminders()
    row = Reminder.objects.get(incident=p1, state="due")
    assert (row.notify_state, row.notify_attempts) == ("pending", 1)
    assert "451" in row.notify_error
    assert row.notify_next_at == T0 + dt.timedelta(minutes=16)

    server.rcpt_reply = None  # the server recovers
    clock.shift(dt.timedelta(seconds=50))
    assert playbook.tick()["resent"] == 0  # not due again yet
    clock.shift(dt.timedelta(seconds=40))
    assert playbook.tick()["resent"] == 1
    row.refresh_from_db()
    assert (row.notify_state, row.notify_attempts) == ("sent", 2)
    assert [e.rcpt_tos for e in server.envelopes] == [["carol@example.test"]]


def test_a_refused_address_fails_for_good(p1, clock, smtp_factory, eager_tasks,
                                          django_capture_on_commit_callbacks):
    smtp_factory(SMTPRecorder(rcpt_reply="550 5.1.1 user unknown"))
    clock.shift(dt.timedelta(minutes=15))
    with django_capture_on_commit_callbacks(execute=True):
        playbook.fire_due_reminders()
    row = Reminder.objects.get(incident=p1, state="due")
    assert row.notify_state == "failed" and "user unknown" in row.notify_error
    clock.shift(dt.timedelta(hours=1))
    assert playbook.tick()["resent"] == 0


def test_a_send_lost_mid_way_is_sent_again_after_its_lease(p1, clock, smtp_server):
    clock.shift(dt.timedelta(minutes=15))
    playbook.fire_due_reminders()  # no on-commit task ran: as if the broker was down
    row = Reminder.objects.get(incident=p1, state="due")
    # A worker claimed it and died before recording anything.
    Reminder.objects.filter(pk=row.pk).update(notify_state="sending",
                                              notify_next_at=T0 + dt.timedelta(minutes=20))
    clock.shift(dt.timedelta(minutes=5))
    assert playbook.tick()["resent"] == 0  # the lease still holds
    clock.shift(dt.timedelta(seconds=30))
    assert playbook.tick()["resent"] == 1
    assert Reminder.objects.get(pk=row.pk).notify_state == "sent"
    assert len(smtp_server.envelopes) == 1


def test_the_default_p1_playbook_is_the_issues_example():
    from importlib import import_module

    from django.apps import apps

    PlaybookTemplate.objects.all().delete()
    import_module("incidents.migrations.0004_playbooks").seed_p1(apps, None)
    template = PlaybookTemplate.objects.get(severity="P1", active=True)
    assert [(s.offset_minutes, s.role, s.text, s.repeat_every_minutes) for s in template.steps.all()] == [
        (15, "commander", "Confirm the scope of the impact", None),
        (30, "comms_lead", "Draft the status note", None),
        (60, "liaison", "Brief the executives", None),
        (60, "commander", "Re-evaluate the severity", 60),
    ]


@pytest.mark.django_db(transaction=True)
def test_workers_racing_over_the_same_due_reminders_fire_each_exactly_once(clock, p1_playbook, make_incident,
                                                                          cast):
    """Four workers tick at once over 12 incidents with due steps: SKIP LOCKED on
    PostgreSQL (IMMEDIATE transactions on SQLite) gives each step one timeline entry
    and one next occurrence."""
    import threading

    from django.db import connection

    incidents = [make_incident(title=f"Outage {n}", impact="outage", commander=cast["carol"]) for n in range(12)]
    clock.shift(dt.timedelta(minutes=61))
    errors, fired = [], []

    def worker():
        try:
            fired.append(playbook.fire_due_reminders())
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    playbook.fire_due_reminders()  # whatever a skipped incident left for the next tick
    for incident in incidents:
        texts = sorted(e.data["text"] for e in entries(incident, "reminder.due"))
        assert texts == sorted(step["text"] for step in ISSUE_P1)
        repeats = Reminder.objects.filter(incident=incident, text="Re-evaluate the severity")
        assert sorted(repeats.values_list("occurrence", "state")) == [(1, "due"), (2, "upcoming")]


def test_editing_the_template_leaves_armed_incidents_as_they_were(p1, clock, p1_playbook):
    playbook.update_template(p1_playbook, steps=[{"offset_minutes": 5, "role": "liaison", "text": "Call legal"}],
                             actor=None, source=Door.SYSTEM)
    assert [r.text for r in reminders(p1)] == [step["text"] for step in ISSUE_P1]
    clock.shift(dt.timedelta(minutes=60))
    playbook.fire_due_reminders()
    # The repeating step lost its template row, not its repeat.
    again = Reminder.objects.get(incident=p1, text="Re-evaluate the severity", state="upcoming")
    assert (again.step_id, again.occurrence, again.due_at) == (None, 2, T0 + dt.timedelta(minutes=120))
    playbook.fire_due_reminders()
    assert Reminder.objects.filter(incident=p1, text="Re-evaluate the severity").count() == 2
