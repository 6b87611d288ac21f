"""Handoffs: the tick finds the due shift change, writes one durable summary with the
open incidents and the outgoing person's notes, puts it on those incidents' timelines,
and e-mails it after commit; a second tick does nothing twice."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from alertum.core.models import Door
from incidents.models import TimelineEntry
from oncall.schedules import actions
from oncall.schedules.handoff import run_due_handoffs, send_handoff
from oncall.schedules.models import Handoff, HandoffNote
from tests.oncall.conftest import local

pytestmark = pytest.mark.django_db

TZ = "Europe/Amsterdam"


@pytest.fixture
def eager(settings):
    """Run the queued e-mail task inline (the celery app reads its conf once, so set it there)."""
    from alertum.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def primary(make_schedule, clock):
    return make_schedule(tz=TZ, layers=[dict(rotation_unit="days", rotation_length=1,
                                             starts_at=local(TZ, 2026, 3, 2, 9), participants=["alice", "bob"])])


def test_incoming_person_gets_a_summary_with_open_incidents_and_notes(primary, make_incident, cast, clock,
                                                                      django_capture_on_commit_callbacks, eager):
    open_one = make_incident(title="Card payments failing")
    make_incident(title="Search slow", team="platform", actor="oscar")  # another team's: not in the summary
    actions.leave_handoff_note(primary, actor=cast["alice"], text="Watch the card processor; it flapped twice.",
                               source=Door.WEB)
    assert primary.next_handoff_at == local(TZ, 2026, 3, 3, 9)

    clock.move_to(dt.datetime(2026, 3, 3, 8, 0, 30, tzinfo=dt.UTC))  # 09:00:30 in Amsterdam
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert run_due_handoffs() == 1
    assert callbacks  # the e-mail goes out after commit

    handoff = Handoff.objects.get()
    assert (handoff.incoming, handoff.outgoing, handoff.status) == (cast["bob"], cast["alice"], Handoff.Status.SENT)
    assert [i["title"] for i in handoff.summary["incidents"]] == ["Card payments failing"]
    assert HandoffNote.objects.get().handoff == handoff

    [message] = mail.outbox
    assert message.to == ["bob@example.test"]
    assert "On-call handoff" in message.subject
    assert "Card payments failing" in message.body and "Search slow" not in message.body
    assert "Watch the card processor" in message.body and "from Alice" in message.body

    entry = TimelineEntry.objects.filter(incident=open_one, kind=TimelineEntry.Kind.NOTE).get()
    assert entry.data["summary"] == "On-call handoff on Primary: Bob takes over from Alice"
    assert entry.occurred_at == local(TZ, 2026, 3, 3, 9)

    primary.refresh_from_db()
    assert primary.next_handoff_at == local(TZ, 2026, 3, 4, 9)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_due_handoffs() == 0
    assert Handoff.objects.count() == 1 and len(mail.outbox) == 1


def test_a_handoff_missed_past_the_next_change_is_skipped_not_sent_late(primary, clock, eager):
    clock.move_to(dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC))  # the worker was down for two handoffs
    run_due_handoffs()
    # Only the handoff to the person on call now (alice, from 4 March 09:00) is sent.
    assert [(h.incoming.username, h.handoff_at) for h in Handoff.objects.all()] == [
        ("alice", local(TZ, 2026, 3, 4, 9))]


def test_a_summary_the_mail_server_refuses_for_now_is_retried(primary, clock, monkeypatch):
    from alertum.core.notify import Result

    calls = []

    def flaky(kind, target, message, **kwargs):
        calls.append(target)
        return Result.failed("421 try later", permanent=False) if len(calls) == 1 else Result(delivered=True)

    monkeypatch.setattr("oncall.schedules.handoff.send", flaky)
    clock.move_to(dt.datetime(2026, 3, 3, 8, 1, tzinfo=dt.UTC))
    monkeypatch.setattr("oncall.schedules.handoff._enqueue", lambda pk: None)  # no worker: sent below
    run_due_handoffs()
    handoff = Handoff.objects.get()
    assert send_handoff(handoff.pk) == Handoff.Status.PENDING
    handoff.refresh_from_db()
    assert handoff.last_error == "421 try later" and handoff.next_attempt_at > timezone.now()
    assert send_handoff(handoff.pk) == Handoff.Status.SENT
    assert send_handoff(handoff.pk) is None  # done: a repeated task sends nothing
    assert calls == ["bob@example.test", "bob@example.test"]


def test_tick_is_declared():
    from alertum.ticks import TICKS

    assert TICKS["schedules.handoff"][0] == "oncall.schedules.tasks.handoff_tick"
