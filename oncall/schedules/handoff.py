"""Handoffs: at each change of the person on call, the incoming person gets a summary
(open incidents of the schedule's team, notes the outgoing person left) by e-mail, and
those incidents' timelines say who took over.

Driven by a beat tick over `Schedule.next_handoff_at` (indexed), claimed with SKIP
LOCKED so that several workers share schedules and none handles one twice. The message
is a durable `Handoff` row with a unique key, written in the tick's transaction and sent
by a task after commit; the same tick re-sends rows a lost task left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from alertum.core.models import Door
from alertum.core.notify import Message, send
from incidents import actions as incident_actions
from incidents.models import OPEN_STATUSES, Incident, TimelineEntry
from oncall.schedules import queries, rotation
from oncall.schedules.models import Handoff, HandoffNote, Schedule

log = logging.getLogger(__name__)

TICK_BATCH = 100
LEASE = dt.timedelta(minutes=5)  # a row claimed longer ago than this is re-sent
MAX_ATTEMPTS = 8
MAX_INCIDENTS = 50  # in one summary; the rest are counted


def _base_url() -> str:
    return settings.ONCALL_BASE_URL.rstrip("/")


def _enqueue(handoff_id: int) -> None:
    from oncall.schedules.tasks import send_handoff_task

    transaction.on_commit(lambda: send_handoff_task.delay(handoff_id))


def run_due_handoffs(now: dt.datetime | None = None) -> int:
    """Beat tick: hand off every schedule whose next handoff is due, then re-send stuck
    summaries. Returns the number of handoffs processed."""
    now = now or timezone.now()
    done = 0
    while done < TICK_BATCH:
        # One short transaction per schedule: one bad schedule never holds up the rest.
        with transaction.atomic():
            schedule = (Schedule.objects.select_for_update(skip_locked=True)
                        .filter(next_handoff_at__lte=now).order_by("next_handoff_at").first())
            if schedule is None:
                break
            hand_off(schedule, now)
        done += 1
    resend_stuck(now)
    return done


def hand_off(schedule: Schedule, now: dt.datetime) -> Handoff | None:
    """Process the (locked) schedule's due handoff and move `next_handoff_at` on.

    A handoff already superseded (the worker was down past the next change too) is
    skipped: its incoming person is no longer on call.
    """
    at = schedule.next_handoff_at
    spec = queries.schedule_spec(schedule, at - dt.timedelta(minutes=1), at + dt.timedelta(days=400))
    incoming = rotation.on_call_at(spec, at)
    outgoing = rotation.on_call_at(spec, at - dt.timedelta(microseconds=1))
    following = rotation.next_change(spec, at)
    handoff = None
    superseded = following is not None and following[0] <= now
    if incoming and incoming != outgoing and not superseded:
        handoff = _write_handoff(schedule, at, incoming[0], outgoing[0] if outgoing else None, spec)
    schedule.next_handoff_at = following[0] if following else None
    Schedule.objects.filter(pk=schedule.pk).update(next_handoff_at=schedule.next_handoff_at)
    return handoff


def _write_handoff(schedule, at, incoming_id, outgoing_id, spec) -> Handoff | None:
    from alertum.core.models import User

    key = f"handoff:{schedule.pk}:{at.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}:{incoming_id}"
    if Handoff.objects.filter(key=key).exists():
        return None
    incoming = User.objects.get(pk=incoming_id)
    outgoing = User.objects.filter(pk=outgoing_id).first() if outgoing_id else None
    # The incoming person's stretch: until the next change away from them.
    shift_end = None
    for seg in rotation.final_segments(spec, at, at + dt.timedelta(days=35)):
        if seg.user_id != incoming_id or (shift_end is not None and seg.start > shift_end):
            break
        shift_end = seg.end
    open_incidents = list(Incident.objects.filter(team_id=schedule.team_id, status__in=OPEN_STATUSES)
                          .order_by("id")[:MAX_INCIDENTS + 1])
    # Notes left since the last handoff: by the outgoing person, or anyone on the team.
    notes = list(HandoffNote.objects.select_related("author").filter(schedule=schedule, handoff=None)
                 .filter(Q(created_at__lte=at) | Q(author_id=outgoing_id)).order_by("created_at", "id"))
    summary = {
        "schedule": schedule.name,
        "incidents": [{"id": i.pk, "reference": i.reference, "title": i.title, "severity": i.severity,
                       "status": i.status} for i in open_incidents[:MAX_INCIDENTS]],
        "more_incidents": max(0, len(open_incidents) - MAX_INCIDENTS),
        "notes": [{"author": str(n.author), "text": n.text, "created_at": n.created_at.isoformat()} for n in notes],
    }
    handoff = Handoff.objects.create(key=key, schedule=schedule, handoff_at=at, incoming=incoming, outgoing=outgoing,
                                     shift_ends_at=shift_end, summary=summary)
    HandoffNote.objects.filter(pk__in=[n.pk for n in notes]).update(handoff=handoff)
    text = (f"On-call handoff on {schedule.name}: {incoming} takes over"
            + (f" from {outgoing}" if outgoing else ""))
    # Lock order: schedule (held), then incidents by ascending id.
    for incident in open_incidents[:MAX_INCIDENTS]:
        locked = incident_actions.lock_incident(incident.pk)
        incident_actions.append_entry(locked, TimelineEntry.Kind.NOTE, actor=None, source=Door.BEAT, data={
            "summary": text, "handoff": handoff.pk, "schedule": schedule.pk,
            "incoming": {"id": incoming.pk, "name": str(incoming)},
            "outgoing": {"id": outgoing.pk, "name": str(outgoing)} if outgoing else None,
        }, occurred_at=at)
    _enqueue(handoff.pk)
    return handoff


def handoff_message(handoff: Handoff) -> Message:
    s = handoff.summary
    zone = zoneinfo.ZoneInfo(handoff.incoming.time_zone or "UTC")
    lines = [f"You are on call for {s.get('schedule', handoff.schedule.name)} from "
             f"{handoff.handoff_at.astimezone(zone):%a %d %b %H:%M %Z}"
             + (f" until {handoff.shift_ends_at.astimezone(zone):%a %d %b %H:%M %Z}." if handoff.shift_ends_at
                else ".")]
    if handoff.outgoing_id:
        lines.append(f"You take over from {handoff.outgoing}.")
    lines.append("")
    incidents = s.get("incidents", [])
    if incidents:
        lines.append(f"Open incidents ({len(incidents) + s.get('more_incidents', 0)}):")
        lines += [f"- {i['reference']} [{i['severity']}] {i['title']} ({i['status']}): "
                  f"{_base_url()}{reverse('incidents:workspace', args=[i['id']])}" for i in incidents]
        if s.get("more_incidents"):
            lines.append(f"- … and {s['more_incidents']} more")
    else:
        lines.append("No open incidents.")
    lines.append("")
    notes = s.get("notes", [])
    if notes:
        lines.append("Notes from the previous shift:")
        for note in notes:
            lines.append(f"- {note['author']}: {note['text']}")
    else:
        lines.append("No handoff notes were left.")
    return Message(
        title=f"On-call handoff: {s.get('schedule', handoff.schedule.name)}",
        text="\n".join(lines), event="schedule.handoff", key=handoff.key,
        urls={"My shifts": f"{_base_url()}{reverse('schedules:my_shifts')}",
              "Schedule": f"{_base_url()}{reverse('schedules:detail', args=[handoff.schedule.slug])}"},
    )


def send_handoff(handoff_id: int, now: dt.datetime | None = None) -> str | None:
    """Claim one pending summary (pending → sending), send it, record the outcome.
    Returns the new status, or None if another worker has it or it is done."""
    now = now or timezone.now()
    claimed = Handoff.objects.filter(pk=handoff_id).filter(
        Q(status=Handoff.Status.PENDING) | Q(status=Handoff.Status.SENDING, claimed_at__lt=now - LEASE)
    ).update(status=Handoff.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    handoff = Handoff.objects.select_related("incoming", "outgoing", "schedule").get(pk=handoff_id)
    result = send("email", handoff.incoming.email, handoff_message(handoff))
    if result.delivered:
        handoff.status, handoff.sent_at, handoff.last_error = Handoff.Status.SENT, timezone.now(), ""
        handoff.next_attempt_at = None
    elif result.permanent or handoff.attempts >= MAX_ATTEMPTS:
        handoff.status, handoff.last_error = Handoff.Status.FAILED, result.error[:300]
        handoff.next_attempt_at = None
        log.warning("handoff %s failed: %s", handoff.key, result.error)
    else:
        wait = result.retry_after or min(3600, 30 * 2 ** (handoff.attempts - 1))
        handoff.status, handoff.last_error = Handoff.Status.PENDING, result.error[:300]
        handoff.next_attempt_at = timezone.now() + dt.timedelta(seconds=wait)
    handoff.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
    return handoff.status


def requeue(handoff: Handoff) -> None:
    """Send a summary again (admin): back to pending, queued after commit."""
    with transaction.atomic():
        Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.PENDING, next_attempt_at=timezone.now())
        _enqueue(handoff.pk)


def resend_stuck(now: dt.datetime) -> int:
    """Re-queue summaries whose retry is due, whose task was lost, or whose worker died."""
    ids = list(Handoff.objects.filter(
        Q(status=Handoff.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Handoff.Status.PENDING, next_attempt_at=None, created_at__lte=now - dt.timedelta(minutes=1))
        | Q(status=Handoff.Status.SENDING, claimed_at__lt=now - LEASE)
    ).values_list("pk", flat=True)[:500])
    from oncall.schedules.tasks import send_handoff_task

    for pk in ids:
        send_handoff_task.delay(pk)
    return len(ids)
